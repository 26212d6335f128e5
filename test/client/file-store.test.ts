/**
 * FileStore: the durable in-flight store (an append-only JSON-lines log, compacted when opened and when
 * mostly dead). Unit cases on a temporary file, then end to end: QoS 1/2 messages published while the
 * broker is down survive the client ending and are delivered by a new client on the same file.
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { MqttClient } from '../../src/client/client.js';
import { nodeDialer } from '../../src/client/dialers/node.js';
import { FileStore } from '../../src/client/file-store.js';
import { connectAsync } from '../../src/client/index.js';
import type { StoredPublish } from '../../src/client/state.js';
import type { QoS } from '../../src/protocol/index.js';
import { startBroker } from '../helpers/broker-harness.js';
import { waitUntil } from '../helpers/child.js';
import { connectedClient, track } from './helpers/clients.js';
import { freePort } from './helpers/mosquitto.js';

function tempFile(t: TestContext, name = 'inflight.log'): string {
  const dir = mkdtempSync(join(tmpdir(), 'mozzie-file-store-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, name);
}

function stored(key: number, payload: string | Buffer, qos: QoS = 1, extra: Partial<StoredPublish> = {}): StoredPublish {
  return { key, topic: `fs/${key}`, payload: Buffer.isBuffer(payload) ? payload : Buffer.from(payload), qos, retain: false, ...extra };
}

function lines(path: string): string[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l !== '');
}

/** Opens the file as a new process would, and returns what it holds. */
async function reopen(path: string): Promise<StoredPublish[]> {
  const s = new FileStore(path);
  const list = await s.load();
  await s.close();
  return list;
}

// ---- the log --------------------------------------------------------------------------------------

test('messages put survive a new FileStore on the same file, in key order, with payload bytes and properties intact', async (t) => {
  const path = tempFile(t);
  const store = new FileStore(path);
  assert.deepEqual(await store.load(), [], 'a missing file is an empty store');
  const binary = Buffer.from([0, 1, 2, 0xff, 0xfe, 10, 13]);
  const messages = [
    stored(1, 'plain'),
    stored(2, binary, 2, { retain: true }),
    stored(3, '', 1, {
      properties: {
        contentType: 'application/json',
        responseTopic: 'fs/reply',
        correlationData: Buffer.from([9, 8, 7]),
        messageExpiryInterval: 60,
        payloadFormatIndicator: 1,
        userProperties: [
          ['a', '1'],
          ['a', '2'],
        ],
      },
    }),
  ];
  for (const m of [messages[2], messages[0], messages[1]]) store.put(m as StoredPublish);
  await store.close();
  const back = await reopen(path);
  assert.deepEqual(back, messages);
  assert.ok(Buffer.isBuffer(back[1]?.payload));
  assert.ok(Buffer.isBuffer(back[2]?.properties?.correlationData));
});

test('flush() resolves once what was put is in the file', async (t) => {
  const path = tempFile(t);
  const store = new FileStore(path);
  await store.load();
  store.put(stored(1, 'one'));
  store.put(stored(2, 'two'));
  await store.flush();
  assert.equal(lines(path).length, 2);
  await store.close();
});

test('deletes are honoured across a restart', async (t) => {
  const path = tempFile(t);
  const store = new FileStore(path);
  await store.load();
  for (let k = 1; k <= 4; k++) store.put(stored(k, `m${k}`));
  await store.flush();
  store.delete(2);
  store.delete(4);
  await store.close();
  assert.deepEqual(
    (await reopen(path)).map((m) => m.key),
    [1, 3],
  );
});

test('opening compacts the file to the live messages', async (t) => {
  const path = tempFile(t);
  const store = new FileStore(path);
  await store.load();
  for (let k = 1; k <= 5; k++) store.put(stored(k, `m${k}`));
  for (const k of [1, 2, 4]) store.delete(k);
  await store.close();
  assert.equal(lines(path).length, 8, '5 puts and 3 deletes in the log');
  assert.deepEqual(
    (await reopen(path)).map((m) => m.key),
    [3, 5],
  );
  assert.equal(lines(path).length, 2, 'after opening: just the live ones');
  assert.deepEqual(
    (await reopen(path)).map((m) => m.key),
    [3, 5],
  );
});

test('a long-running store compacts itself when mostly acknowledged lines pile up', async (t) => {
  const path = tempFile(t);
  const store = new FileStore(path);
  await store.load();
  for (let k = 1; k <= 1500; k++) store.put(stored(k, `m${k}`));
  await store.flush();
  for (let k = 1; k <= 1400; k++) store.delete(k);
  await store.flush();
  assert.equal(lines(path).length, 100, 'compacted to the 100 live messages');
  // Appends continue on the compacted file.
  store.put(stored(2000, 'after'));
  store.delete(1500);
  await store.close();
  const back = await reopen(path);
  assert.equal(back.length, 100);
  assert.deepEqual(back.at(0)?.key, 1401);
  assert.deepEqual(back.at(-1)?.key, 2000);
  assert.equal(
    back.some((m) => m.key === 1500),
    false,
  );
});

test('a torn last line (crash during a write) is tolerated and dropped', async (t) => {
  const path = tempFile(t);
  const good = [stored(1, 'one'), stored(2, 'two')];
  const store = new FileStore(path);
  await store.load();
  for (const m of good) store.put(m);
  await store.close();
  writeFileSync(path, `${readFileSync(path, 'utf8')}{"op":"put","key":3,"topic":"fs/3","payl`);
  assert.deepEqual(await reopen(path), good);
  // The torn bytes are gone: later appends are not glued to them.
  const again = new FileStore(path);
  await again.load();
  again.put(stored(4, 'four'));
  await again.close();
  assert.deepEqual(
    (await reopen(path)).map((m) => m.key),
    [1, 2, 4],
  );
});

test('a corrupt line in the middle is an error naming the file and the line', async (t) => {
  const path = tempFile(t);
  const ok = (k: number) => JSON.stringify({ op: 'put', key: k, topic: 't', payload: '', qos: 1, retain: false });
  writeFileSync(path, `${ok(1)}\n${ok(2)}\n{not json at all\n${ok(4)}\n`);
  await assert.rejects(new FileStore(path).load(), (e: unknown) => {
    assert.ok(e instanceof Error);
    assert.ok(e.message.includes(path), e.message);
    assert.match(e.message, /line 3/);
    assert.match(e.message, /corrupt/);
    return true;
  });
  assert.equal(lines(path).length, 4, 'the file is left as it was, for inspection');
});

test('a corrupt line just before a torn last line is still corruption, not a torn write', async (t) => {
  const path = tempFile(t);
  const ok = (k: number) => JSON.stringify({ op: 'put', key: k, topic: 't', payload: '', qos: 1, retain: false });
  // Only the final line can be torn: lines are appended whole, and opening rewrites the file.
  writeFileSync(path, `${ok(1)}\n{broken\n{"op":"put","ke`);
  await assert.rejects(new FileStore(path).load(), /line 2/);
});

// ---- end to end ------------------------------------------------------------------------------------

/** A subscriber on a broker, collecting payloads of fs/#. */
async function subscriber(t: TestContext, url: string): Promise<string[]> {
  const sub = await connectedClient(t, url, { protocolVersion: 5, keepAlive: 0 });
  await sub.client.subscribe('fs/#', { qos: 2 });
  const got: string[] = [];
  sub.client.on('message', (_t, payload) => got.push(payload.toString()));
  return got;
}

/** A client for a broker that is not there: it keeps trying (short backoff) while messages queue. */
function offlineClient(t: TestContext, port: number, path: string): { client: MqttClient; store: FileStore } {
  const store = new FileStore(path);
  const client = new MqttClient(`mqtt://127.0.0.1:${port}`, {
    store,
    reconnect: { initial: 10, max: 20 },
    keepAlive: 0,
    dialer: nodeDialer,
  });
  track(t, client);
  client.start().catch(() => undefined);
  return { client, store };
}

test('end to end: QoS 1/2 published while the broker is down survive the client ending; a new client on the same file delivers them', async (t) => {
  const path = tempFile(t);
  const deadPort = await freePort();
  const first = offlineClient(t, deadPort, path);
  const outcomes = ['a', 'b', 'c'].map((p, i) =>
    first.client.publish(`fs/${p}`, p, { qos: i === 2 ? 2 : 1 }).then(
      () => 'resolved',
      (e: { code?: string }) => e.code,
    ),
  );
  await first.store.flush();
  await first.client.end({ force: true });
  assert.deepEqual(await Promise.all(outcomes), ['CLIENT_ENDED', 'CLIENT_ENDED', 'CLIENT_ENDED']);
  assert.deepEqual(
    (await reopen(path)).map((m) => [m.topic, m.payload.toString(), m.qos]),
    [
      ['fs/a', 'a', 1],
      ['fs/b', 'b', 1],
      ['fs/c', 'c', 2],
    ],
  );

  const h = await startBroker();
  t.after(() => h.stop());
  const got = await subscriber(t, h.url);
  const second = await connectAsync(h.url, { store: new FileStore(path), keepAlive: 0, reconnect: false });
  t.after(() => second.end({ force: true }));
  await waitUntil(() => got.length >= 3 && second.state.pendingCount === 0, 'the stored messages to arrive', 3000);
  assert.deepEqual(got, ['a', 'b', 'c']);
  await second.end();
  assert.deepEqual(await reopen(path), [], 'acknowledged: nothing left in the store');
});

test('end to end: two restarts while offline, publishing at once after each start: nothing lost or overwritten', async (t) => {
  const path = tempFile(t);
  const deadPort = await freePort();
  const one = offlineClient(t, deadPort, path);
  void one.client.publish('fs/x', 'a', { qos: 1 }).catch(() => undefined);
  void one.client.publish('fs/x', 'b', { qos: 1 }).catch(() => undefined);
  await one.store.flush();
  await one.client.end({ force: true });
  // The second run publishes synchronously after creating the client, before its store has loaded.
  const two = offlineClient(t, deadPort, path);
  void two.client.publish('fs/x', 'c', { qos: 1 }).catch(() => undefined);
  await waitUntil(() => two.client.state.queuedCount >= 3, 'three messages queued', 2000);
  await two.store.flush();
  await two.client.end({ force: true });
  const kept = await reopen(path);
  assert.deepEqual(
    kept.map((m) => m.payload.toString()),
    ['a', 'b', 'c'],
    'stored in publish order, each under its own key',
  );
  assert.equal(new Set(kept.map((m) => m.key)).size, 3);

  const h = await startBroker();
  t.after(() => h.stop());
  const got = await subscriber(t, h.url);
  const three = await connectAsync(h.url, { store: new FileStore(path), keepAlive: 0, reconnect: false });
  t.after(() => three.end({ force: true }));
  await waitUntil(() => got.length >= 3 && three.state.pendingCount === 0, 'the stored messages to arrive', 3000);
  assert.deepEqual(got, ['a', 'b', 'c']);
  await three.end();
  assert.deepEqual(await reopen(path), []);
});

test('a corrupt store: connectAsync rejects with a ClientError that names the file', async (t) => {
  const path = tempFile(t);
  writeFileSync(path, '{"op":"put","key":1}\nGARBAGE\n{"op":"del","key":1}\n');
  const h = await startBroker();
  t.after(() => h.stop());
  await assert.rejects(connectAsync(h.url, { store: new FileStore(path), reconnect: false }), (e: unknown) => {
    assert.equal((e as { code?: string }).code, 'INVALID_ARGUMENT');
    assert.ok((e as Error).message.includes(path), (e as Error).message);
    return true;
  });
});
