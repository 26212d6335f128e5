/**
 * The client in a real browser: headless Chromium (Debian's, driven by playwright-core) loads a page that
 * imports dist/browser/mozzie.js and MQTT.js's browser bundle, and both talk to our broker over ws:// and
 * wss:// (a self-signed certificate the browser trusts by its SPKI hash, as a pinned test CA would be).
 * The page lists every scenario; a screenshot of it is saved to $TMPDIR/mozzie-chromium/results.png.
 *
 * Without /usr/bin/chromium this fails in CI (.ci/run installs it) and is skipped elsewhere.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import {
  mozzieAfterDrop,
  mozzieBeforeDrop,
  mozziePubSub,
  mozzieUntrusted,
  mqttjsAfterDrop,
  mqttjsBeforeDrop,
  mqttjsPubSub,
  PAGE,
} from './page.js';
import { type BrowserTestBroker, startBrowserTestBroker } from './support.js';

const CHROMIUM = '/usr/bin/chromium';
const OPENSSL = '/usr/bin/openssl';
const root = join(fileURLToPath(import.meta.url), '../../../..');
const BUNDLE = join(root, 'dist/browser/mozzie.js');
const MQTTJS_BUNDLE = join(root, 'node_modules/mqtt/dist/mqtt.esm.js');
const SCREENSHOT = join(tmpdir(), 'mozzie-chromium', 'results.png');

const missing = [CHROMIUM, OPENSSL].filter((p) => !existsSync(p));
const why = `${missing.join(' and ')} not installed (Debian: apt-get install -y chromium openssl; .ci/run installs them)`;

if (missing.length > 0 && process.env['CI'] !== undefined) {
  test('headless Chromium is installed', () => {
    assert.fail(`browser tests cannot run: ${why}`);
  });
} else {
  describe('client in headless Chromium', { skip: missing.length > 0 ? why : false }, () => {
    let env: BrowserEnv | undefined;
    const page = (): Page => {
      assert.ok(env, 'the browser did not start');
      return env.page;
    };
    const url = (scheme: 'ws' | 'wss' | 'untrusted'): string => {
      assert.ok(env);
      return env.urls[scheme];
    };

    before(async () => {
      env = await startBrowserEnv();
    });
    after(async () => {
      await env?.close();
    });

    for (const scheme of ['ws', 'wss'] as const) {
      it(`${scheme}: Mozzie subscribes and gets its QoS 0, 1 and 2 publishes back with 5.0 properties`, async () => {
        const r = await page().evaluate(mozziePubSub, { url: url(scheme), label: scheme, tag: `m-${scheme}` });
        assert.deepEqual(r.granted, [2]);
        assert.deepEqual(r.acks, [0, 0, 0]);
        assert.deepEqual(
          r.got.map((m) => [m.topic, m.payload, m.qos]),
          [0, 1, 2].map((q) => [`browser/m-${scheme}/q${q}`, `hello ${q} ✓`, q]),
        );
        for (const m of r.got) {
          assert.deepEqual(
            { ...m, topic: '', payload: '', qos: 0 },
            {
              topic: '',
              payload: '',
              qos: 0,
              contentType: 'text/plain; charset=utf-8',
              user: 'browser=chromium,ключ=значение',
              responseTopic: `browser/m-${scheme}/reply`,
              correlation: [1, 2, 3],
              expiry: true,
            },
          );
        }
      });

      it(`${scheme}: Mozzie resumes its session after the broker drops the connection`, async () => {
        const clientId = `mozzie-reconnect-${scheme}`;
        await page().evaluate(mozzieBeforeDrop, { url: url(scheme), label: scheme, tag: clientId });
        assert.ok(env);
        assert.equal(env.broker.drop(clientId), 1);
        const r = await page().evaluate(mozzieAfterDrop, { url: url(scheme), label: scheme, tag: clientId });
        assert.deepEqual(r.events.slice(0, 5), ['connect', 'close', 'offline', 'reconnect', 'connect']);
        assert.deepEqual(r.sessionPresent, [false, true]);
        assert.deepEqual(r.got, ['queued while offline', 'after reconnect']);
      });

      it(`${scheme}: MQTT.js's browser bundle does QoS 0/1/2 and 5.0 properties, and gets Mozzie's messages`, async () => {
        const r = await page().evaluate(mqttjsPubSub, { url: url(scheme), label: scheme, tag: `j-${scheme}` });
        assert.deepEqual(r.granted, [2]);
        assert.deepEqual(r.got, [
          { topic: `browser/j-${scheme}/q0`, payload: 'mqtt.js 0', qos: 0, contentType: 'text/plain', user: 'from=mqtt.js' },
          { topic: `browser/j-${scheme}/q1`, payload: 'mqtt.js 1', qos: 1, contentType: 'text/plain', user: 'from=mqtt.js' },
          { topic: `browser/j-${scheme}/q2`, payload: 'mqtt.js 2', qos: 2, contentType: 'text/plain', user: 'from=mqtt.js' },
          { topic: `browser/j-${scheme}/mozzie`, payload: 'from mozzie', qos: 2, contentType: 'text/mozzie', user: 'from=mozzie' },
        ]);
      });

      it(`${scheme}: MQTT.js reconnects after the broker drops the connection`, async () => {
        const clientId = `mqttjs-reconnect-${scheme}`;
        await page().evaluate(mqttjsBeforeDrop, { url: url(scheme), label: scheme, tag: clientId });
        assert.ok(env);
        assert.equal(env.broker.drop(clientId), 1);
        const r = await page().evaluate(mqttjsAfterDrop, { url: url(scheme), label: scheme, tag: clientId });
        assert.deepEqual(r.sessionPresent, [false, true]);
        assert.ok(r.reconnects >= 1);
        assert.deepEqual(r.got, ['after reconnect']);
      });
    }

    it('wss: a certificate the browser does not trust fails the dial with DIAL_FAILED', async () => {
      const r = await page().evaluate(mozzieUntrusted, { url: url('untrusted'), label: 'wss', tag: 'untrusted' });
      assert.equal(r.code, 'DIAL_FAILED');
    });

    it('the page shows every scenario as passed (screenshot)', async (t) => {
      const p = page();
      const rows = await p.locator('#results tr').count();
      const failed = await p.locator('#results tr.fail').allTextContents();
      assert.deepEqual(failed, []);
      assert.equal(rows, 9);
      assert.equal(await p.locator('#summary').textContent(), '9 passed, 0 failed');
      mkdirSync(join(SCREENSHOT, '..'), { recursive: true });
      await p.screenshot({ path: SCREENSHOT, fullPage: true });
      t.diagnostic(`screenshot: ${SCREENSHOT}`);
      assert.ok(env);
      assert.deepEqual(env.pageErrors, []);
    });
  });
}

// ---- the environment: certificates, broker, page server, browser ---------------------------------

interface BrowserEnv {
  readonly page: Page;
  readonly broker: BrowserTestBroker;
  readonly urls: Record<'ws' | 'wss' | 'untrusted', string>;
  /** Uncaught errors and console.error lines of the page. */
  readonly pageErrors: string[];
  close(): Promise<void>;
}

async function startBrowserEnv(): Promise<BrowserEnv> {
  assert.ok(existsSync(BUNDLE), `${BUNDLE} is missing: run "npm run build"`);
  assert.ok(existsSync(MQTTJS_BUNDLE), `${MQTTJS_BUNDLE} is missing: MQTT.js no longer ships its ESM browser bundle there`);
  const dir = mkdtempSync(join(tmpdir(), 'mozzie-chromium-'));
  const cleanups: (() => Promise<void> | void)[] = [() => rmSync(dir, { recursive: true, force: true })];
  const close = async () => {
    for (const c of cleanups.reverse()) await c();
  };
  try {
    const trusted = selfSigned(dir, 'trusted');
    const untrusted = selfSigned(dir, 'untrusted');
    const broker = await startBrowserTestBroker([
      { type: 'ws', port: 0 },
      { type: 'wss', port: 0, cert: trusted.cert, key: trusted.key },
      { type: 'wss', port: 0, cert: untrusted.cert, key: untrusted.key },
    ]);
    cleanups.push(() => broker.stop());
    const [ws, wss, bad] = broker.listeners;
    assert.ok(ws && wss && bad);

    const http = await servePage();
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          http.close(() => resolve());
          http.closeAllConnections();
        }),
    );
    const origin = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;

    const context: BrowserContext = await chromium.launchPersistentContext(join(dir, 'profile'), {
      executablePath: CHROMIUM,
      headless: true,
      timeout: 20_000,
      viewport: { width: 1100, height: 560 },
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        // Trust exactly our test certificate, by the hash of its public key; the other stays untrusted.
        `--ignore-certificate-errors-spki-list=${trusted.spki}`,
      ],
    });
    cleanups.push(() => context.close());
    const page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(10_000);
    const pageErrors: string[] = [];
    page.on('pageerror', (err) => pageErrors.push(`pageerror: ${err.message}`));
    page.on('console', (msg) => {
      // A refused WebSocket logs an error by itself; the untrusted-certificate case expects one.
      if (msg.type() === 'error' && !msg.text().includes('WebSocket')) pageErrors.push(`console: ${msg.text()}`);
    });
    await page.goto(`${origin}/`);
    await page.waitForFunction('globalThis.ready === true');
    return {
      page,
      broker,
      urls: {
        ws: `ws://127.0.0.1:${ws.port}/mqtt`,
        wss: `wss://127.0.0.1:${wss.port}/mqtt`,
        untrusted: `wss://127.0.0.1:${bad.port}/mqtt`,
      },
      pageErrors,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/** A self-signed EC certificate for 127.0.0.1, and the base64 SHA-256 of its SubjectPublicKeyInfo. */
function selfSigned(dir: string, name: string): { cert: string; key: string; spki: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  execFileSync(
    OPENSSL,
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '2',
      '-subj',
      `/CN=mozzie ${name}`,
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: 'ignore' },
  );
  const der = new X509Certificate(readFileSync(cert)).publicKey.export({ type: 'spki', format: 'der' });
  return { cert, key, spki: createHash('sha256').update(der).digest('base64') };
}

/** The page and the two bundles from 127.0.0.1 on an ephemeral port. */
async function servePage(): Promise<Server> {
  const files: Record<string, [string, string]> = {
    '/mozzie.js': [BUNDLE, 'text/javascript'],
    '/mozzie.js.map': [`${BUNDLE}.map`, 'application/json'],
    '/mqtt.esm.js': [MQTTJS_BUNDLE, 'text/javascript'],
  };
  const server = createHttpServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const file = files[path];
    if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
    } else if (file !== undefined && existsSync(file[0])) {
      res.writeHead(200, { 'content-type': `${file[1]}; charset=utf-8` }).end(readFileSync(file[0]));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}
