/**
 * The browser bundle (dist/browser/mozzie.js, built by scripts/build-browser.mjs): that it imports no
 * Node module, that its 'node:buffer' stand-in agrees with Node's, and that the bundled client (with the
 * `buffer` polyfill instead of Node's Buffer) speaks MQTT to our broker.
 */
import assert from 'node:assert/strict';
import { isUtf8 as nodeIsUtf8 } from 'node:buffer';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import fc from 'fast-check';
import WebSocket from 'ws';
import type * as BrowserEntry from '../../src/client/browser.js';
import { isUtf8 as shimIsUtf8 } from '../../src/client/browser-buffer.js';
import type { BrowserWebSocketConstructor } from '../../src/client/dialers/browser.js';
import { createConsoleLogger } from '../../src/server/logger.js';
import { createServer } from '../../src/server/server.js';

const root = join(fileURLToPath(import.meta.url), '../../../..');
const bundles = ['dist/browser/mozzie.js', 'dist/browser/mozzie.min.js'].map((f) => join(root, f));

function bundleText(path: string): string {
  assert.ok(existsSync(path), `${path} is missing: run "npm run build" (tsc plus scripts/build-browser.mjs)`);
  return readFileSync(path, 'utf8');
}

test('browser bundle: no Node built-in, no ws, no import of anything at all (it is self-contained)', () => {
  for (const path of bundles) {
    const text = bundleText(path);
    const offenders = [
      ...text.matchAll(/\brequire\(\s*["'][^"']+["']\s*\)/g),
      ...text.matchAll(/\b(?:from|import)\s*["'][^"']+["']/g),
      ...text.matchAll(/\bimport\(\s*["'][^"']+["']\s*\)/g),
    ].map((m) => m[0]);
    assert.deepEqual(offenders, [], `${path} imports modules`);
    for (const needle of ['require("node:', 'from "node:', "from 'node:", 'require("ws")', 'from "ws"', 'createConnection', 'node:net']) {
      assert.ok(!text.includes(needle), `${path} contains ${needle}`);
    }
    assert.match(text, /export\s*\{[^}]*\bconnectAsync\b[^}]*\}/, `${path} exports connectAsync`);
  }
});

test('browser bundle: it carries the buffer polyfill and the TextDecoder isUtf8, not Node’s', () => {
  const text = bundleText(bundles[0] as string);
  assert.match(text, /The buffer module from node\.js, for the browser/);
  assert.match(text, /new TextDecoder\("utf-8", \{ fatal: true/);
});

test('browser-buffer isUtf8 agrees with Node’s on the MQTT edge cases [MQTT-1.5.4-1]', () => {
  const cases: [string, number[]][] = [
    ['empty', []],
    ['ASCII', [0x61, 0x2f, 0x62]],
    ['2-byte', [0xc3, 0xa5]],
    ['4-byte U+1F600', [0xf0, 0x9f, 0x98, 0x80]],
    ['BOM kept', [0xef, 0xbb, 0xbf, 0x61]],
    ['U+0000 is well-formed UTF-8 (MQTT forbids it elsewhere)', [0x00]],
    ['overlong /', [0xc0, 0xaf]],
    ['overlong 3-byte', [0xe0, 0x80, 0xaf]],
    ['surrogate U+D800', [0xed, 0xa0, 0x80]],
    ['surrogate U+DFFF', [0xed, 0xbf, 0xbf]],
    ['above U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
    ['truncated', [0xe2, 0x82]],
    ['lone continuation', [0x80]],
    ['0xFF', [0xff]],
  ];
  for (const [name, bytes] of cases) {
    const u8 = new Uint8Array(bytes);
    assert.equal(shimIsUtf8(u8), nodeIsUtf8(u8), name);
  }
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 16 }), (bytes) => shimIsUtf8(bytes) === nodeIsUtf8(bytes)),
    { numRuns: 2000 },
  );
  fc.assert(fc.property(fc.string({ unit: 'grapheme' }), (s) => shimIsUtf8(new TextEncoder().encode(s))));
});

test('browser bundle in Node: the bundled client (polyfilled Buffer) does QoS 0/1/2 and 5.0 properties with our broker', async (t) => {
  const server = createServer(
    { listeners: [{ type: 'ws', port: 0 }] },
    { logger: createConsoleLogger({ level: 'error', format: 'text', write: () => undefined }) },
  );
  const [listener] = await server.start();
  t.after(() => server.stop());
  assert.ok(listener);
  const bundle = bundles[0] as string;
  bundleText(bundle);
  const mozzie = (await import(pathToFileURL(bundle).href)) as typeof BrowserEntry;
  const client = await mozzie.connectAsync(`ws://127.0.0.1:${listener.port}/mqtt`, {
    protocolVersion: 5,
    reconnect: false,
    dialer: mozzie.createBrowserDialer(WebSocket as unknown as BrowserWebSocketConstructor),
  });
  t.after(() => client.end({ force: true }));
  const got: { topic: string; payload: string; qos: number; user: unknown; correlation: number[] }[] = [];
  client.on('message', (topic, payload, packet) => {
    assert.ok(mozzie.Buffer.isBuffer(payload), 'payloads are the bundle’s Buffer');
    got.push({
      topic,
      payload: payload.toString('utf8'),
      qos: packet.qos,
      user: packet.properties?.userProperties,
      correlation: [...(packet.properties?.correlationData ?? [])],
    });
  });
  await client.subscribe('bündel/#', { qos: 2 });
  const properties = { userProperties: [['schlüssel', 'wert ✓']] as const, correlationData: mozzie.Buffer.from([0, 255, 7]) };
  await client.publish('bündel/0', 'null', { qos: 0, properties });
  await client.publish('bündel/1', 'eins', { qos: 1, properties });
  await client.publish('bündel/2', new Uint8Array([0xf0, 0x9f, 0x98, 0x80]), { qos: 2, properties });
  const deadline = Date.now() + 3000;
  while (got.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  const expect = (topic: string, payload: string, qos: number) => ({
    topic,
    payload,
    qos,
    user: [['schlüssel', 'wert ✓']],
    correlation: [0, 255, 7],
  });
  assert.deepEqual(got, [expect('bündel/0', 'null', 0), expect('bündel/1', 'eins', 1), expect('bündel/2', '😀', 2)]);
});
