/**
 * What a user meets when the store cannot do its job: a damaged data file, a data directory that cannot be
 * created or written, a full disk. Each gives a StoreError that names the file and says what to do;
 * `mozzie broker` prints it and exits non-zero, never starting afresh over the data it could not read. A
 * disk that fills up while the broker runs stops acknowledgements, not the broker.
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../../src/broker/logger.js';
import { PacketType, type ProtocolVersion, ReasonCode } from '../../src/protocol/index.js';
import { createServer } from '../../src/server/server.js';
import { SqliteStore, StoreError } from '../../src/store/sqlite/store.js';
import { spawnTracked } from '../helpers/child.js';
import { PacketClient } from '../helpers/packet-client.js';
import { ackAll, countRows, defer, publishesOf, publishPacket, receive, tempDir } from './support.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

/** `mozzie broker --data-dir DIR --port 0`, which must fail: its exit code and output. */
async function brokerFails(t: TestContext, dataDir: string): Promise<{ code: number | null; stderr: string; stdout: string }> {
  const p = spawnTracked(t, process.execPath, [MAIN, 'broker', '--data-dir', dataDir, '--port', '0'], { lifetimeMs: 15_000 });
  const exit = await p.exit(10_000);
  return { code: exit.code, stderr: p.stderr, stdout: p.stdout };
}

async function loadError(dataDir: string): Promise<StoreError> {
  const store = new SqliteStore({ dataDir });
  try {
    await store.load();
  } catch (err) {
    assert.ok(err instanceof StoreError, `a StoreError, not ${String(err)}`);
    return err;
  } finally {
    await store.close();
  }
  assert.fail(`${dataDir} loaded`);
}

// ---- damaged data files ---------------------------------------------------------------------------

test('a data file that is not a database: StoreError naming the file and what to do; mozzie broker exits 1 and leaves the file alone', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'mozzie.db');
  const garbage = Buffer.alloc(16_384);
  for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 7919 + 13) & 0xff;
  writeFileSync(file, garbage);

  const err = await loadError(dir);
  assert.equal(err.path, file);
  assert.match(err.message, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is corrupt or not a Mozzie database`));
  assert.match(err.message, /Move it .* away to start with an empty store, or restore a backup/);

  const cli = await brokerFails(t, dir);
  assert.equal(cli.code, 1, cli.stderr);
  assert.ok(cli.stderr.includes(`mozzie broker: ${file} is corrupt or not a Mozzie database`), cli.stderr);
  assert.doesNotMatch(cli.stderr, /listening on/, 'it never started');
  assert.deepEqual(readFileSync(file), garbage, 'the data file was not replaced by a fresh store');
});

test('a data file damaged inside (pages overwritten): StoreError, not a raw SQLite error; mozzie broker exits 1', async (t) => {
  const dir = tempDir(t);
  const store = new SqliteStore({ dataDir: dir });
  await store.load();
  for (let i = 1; i <= 200; i++) {
    store.saveSession(`c${i}`, 5, 3600, 1, 1);
    store.saveRetained({
      topic: `r/${i}`,
      payload: Buffer.alloc(500, i),
      qos: 1,
      retain: true,
      properties: undefined,
      expiryInterval: undefined,
      receivedAt: 1,
      origin: 'p',
    });
  }
  await store.close();
  const file = join(dir, 'mozzie.db');
  const bytes = readFileSync(file);
  // The header page stays intact: SQLite opens the file and finds the damage when it reads the tables.
  for (let i = 4096; i < bytes.length; i++) bytes[i] = (i * 7919) & 0xff;
  writeFileSync(file, bytes);

  const err = await loadError(dir);
  assert.match(err.message, /is corrupt or not a Mozzie database \(SQLITE_CORRUPT/);
  const cli = await brokerFails(t, dir);
  assert.equal(cli.code, 1, cli.stderr);
  assert.match(cli.stderr, /corrupt or not a Mozzie database/);
  assert.doesNotMatch(cli.stderr, /listening on|SqliteError|at .*\.js:\d+/, 'a message, not a stack trace');
});

// ---- data directories that cannot be used ---------------------------------------------------------

test('a data directory that cannot be created (under /proc, a read-only filesystem): StoreError at once, exit 1', async (t) => {
  // Node's own recursive mkdir never returns here: the store must not hang on it.
  const dir = `/proc/mozzie-test-${process.pid}/data`;
  const err = await loadError(dir);
  assert.match(err.message, /^cannot create the data directory \/proc\/mozzie-test-\d+\/data: .*ENOENT.*pass another --data-dir/);
  const cli = await brokerFails(t, dir);
  assert.equal(cli.code, 1, cli.stderr);
  assert.match(cli.stderr, /mozzie broker: cannot create the data directory \/proc\/mozzie-test-\d+\/data/);
});

test('a data directory under /sys (EPERM even for root): StoreError, exit 1', async (t) => {
  const err = await loadError('/sys/mozzie-test');
  assert.match(err.message, /^cannot create the data directory \/sys\/mozzie-test: .*(EPERM|EACCES|EROFS)/);
  const cli = await brokerFails(t, '/sys/mozzie-test');
  assert.equal(cli.code, 1, cli.stderr);
  assert.match(cli.stderr, /cannot create the data directory \/sys\/mozzie-test/);
});

test('a regular file where the data directory should be: StoreError naming it, exit 1', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'not-a-dir');
  writeFileSync(file, 'x');
  const err = await loadError(file);
  assert.match(err.message, /exists and is not a directory/);
  assert.ok(err.message.includes(file));
  const below = await loadError(join(file, 'data'));
  assert.match(below.message, /ENOTDIR/);
  const cli = await brokerFails(t, file);
  assert.equal(cli.code, 1, cli.stderr);
  assert.ok(cli.stderr.includes(`cannot create the data directory ${file}`), cli.stderr);
  assert.equal(readFileSync(file, 'utf8'), 'x');
});

test('a data directory that exists but cannot be written (/proc/self): StoreError saying so, exit 1', async (t) => {
  const err = await loadError('/proc/self');
  assert.equal(err.path, '/proc/self/mozzie.db');
  assert.match(
    err.message,
    /cannot open \/proc\/self\/mozzie\.db \(SQLITE_CANTOPEN\): check that the data directory exists and is writable/,
  );
  const cli = await brokerFails(t, '/proc/self');
  assert.equal(cli.code, 1, cli.stderr);
  assert.match(cli.stderr, /mozzie broker: cannot open \/proc\/self\/mozzie\.db/);
});

test('a data directory that is created when missing, parents included', async (t) => {
  const dir = join(tempDir(t), 'a', 'b', 'c');
  const store = new SqliteStore({ dataDir: dir });
  await store.load();
  await store.close();
  assert.ok(existsSync(join(dir, 'mozzie.db')));
  mkdirSync(join(dir, 'again'), { recursive: true });
});

// ---- a full disk ----------------------------------------------------------------------------------

interface Logged {
  readonly level: string;
  readonly message: string;
  readonly fields: Readonly<Record<string, unknown>> | undefined;
}

function recordingLogger(into: Logged[]): Logger {
  const log = (level: string) => (message: string, fields?: Readonly<Record<string, unknown>>) => {
    into.push({ level, message, fields });
  };
  return { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}

async function client(port: number, version: ProtocolVersion, clientId: string, persistent: boolean): Promise<PacketClient> {
  const c = await PacketClient.tcp(port, version);
  const ack = await c.connect(
    version === 5
      ? { clientId, clean: !persistent, ...(persistent ? { properties: { sessionExpiryInterval: 3600 } } : {}) }
      : { clientId, clean: !persistent },
    5000,
  );
  assert.equal(ack.reasonCode, 0);
  return c;
}

test('[MQTT-4.3.2-4] [MQTT-4.3.3-8] disk full: QoS 1/2 messages are not acknowledged, publishers are disconnected (0x89) and the broker stays up; once space is back, everything resent arrives, QoS 2 once', async (t) => {
  const dir = tempDir(t);
  const logged: Logged[] = [];
  const server = createServer(
    { listeners: [{ type: 'tcp', host: '127.0.0.1', port: 0 }], store: { type: 'sqlite', dataDir: dir }, sys: { interval: 0 } },
    { logger: recordingLogger(logged) },
  );
  defer(t, () => server.stop());
  const [listener] = await server.start();
  assert.ok(listener !== undefined);
  const port = listener.port;
  const store = server.broker.persistence.store;
  assert.ok(store instanceof SqliteStore);

  const sub = await client(port, 5, 'sub', true);
  sub.send({
    type: PacketType.Subscribe,
    packetId: 1,
    subscriptions: [{ topicFilter: 'full/#', qos: 2, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
  });
  await sub.expect(PacketType.Suback);
  sub.send({ type: PacketType.Disconnect, reasonCode: 0 });
  await sub.waitClosed();
  const pub = await client(port, 5, 'pub', true);
  const pub4 = await client(port, 4, 'pub4', true);

  // The database may not grow any more: the next message that needs a page fails to commit.
  store.setMaxPages(1);
  const big = Buffer.alloc(64 * 1024, 0x61);
  pub.send(publishPacket('full/q1', big, 1, 1));
  const disconnect = await pub.expect(PacketType.Disconnect, 5000);
  assert.equal(disconnect.reasonCode, ReasonCode.ServerBusy, 'v5: DISCONNECT 0x89 Server busy');
  await pub.waitClosed(3000);
  assert.equal(pub.received.filter((p) => p.type === PacketType.Puback).length, 0, 'no PUBACK for what is not on disk');
  const error = logged.find((l) => l.level === 'error');
  assert.ok(error !== undefined, 'the failure is logged');
  assert.match(
    String(error.fields?.['error']),
    /the disk holding .*mozzie\.db is full \(SQLITE_FULL\): messages are not acknowledged until space is freed/,
  );

  pub4.send(publishPacket('full/v4', big, 1, 1));
  await pub4.waitClosed(5000);
  assert.equal(pub4.received.filter((p) => p.type === PacketType.Puback).length, 0, 'v3.1.1: closed without PUBACK');

  // The broker is still up: a client connects and is answered.
  const probe = await client(port, 5, 'probe', false);
  probe.send({ type: PacketType.Pingreq });
  await probe.expect(PacketType.Pingresp, 5000);

  // A QoS 2 message meets the full disk too.
  const again = await client(port, 5, 'pub', true);
  const once = Buffer.alloc(32 * 1024, 0x62);
  again.send(publishPacket('full/q2', once, 2, 2));
  const busy = await again.expect(PacketType.Disconnect, 5000);
  assert.equal(busy.reasonCode, ReasonCode.ServerBusy);
  assert.equal(again.received.filter((p) => p.type === PacketType.Pubrec).length, 0, 'no PUBREC for what is not on disk');
  await again.waitClosed(3000);

  // Space again: the publishers resend what was not acknowledged (same identifiers, DUP 1).
  store.setMaxPages(1_000_000_000);
  const back = await client(port, 5, 'pub', true);
  back.send(publishPacket('full/q1', big, 1, 1, { dup: true }));
  await back.expect(PacketType.Puback, 5000);
  back.send(publishPacket('full/q2', once, 2, 2, { dup: true }));
  await back.expect(PacketType.Pubrec, 5000);
  back.send({ type: PacketType.Pubrel, packetId: 2, reasonCode: 0 });
  await back.expect(PacketType.Pubcomp, 5000);
  const back4 = await client(port, 4, 'pub4', true);
  back4.send(publishPacket('full/v4', big, 1, 1, { dup: true }));
  await back4.expect(PacketType.Puback, 5000);

  const resumed = await client(port, 5, 'sub', true);
  await receive(resumed, 3, 5000);
  resumed.send({ type: PacketType.Pingreq });
  await resumed.expect(PacketType.Pingresp);
  const got = publishesOf(resumed);
  await ackAll(resumed, got);
  const topics = got.map((p) => p.topic);
  assert.equal(topics.filter((x) => x === 'full/q2').length, 1, 'the QoS 2 message arrives exactly once');
  assert.ok(topics.includes('full/q1'), 'the QoS 1 message arrives (at least once)');
  assert.ok(topics.includes('full/v4'));
  assert.ok(
    got.every((p) => p.payload.equals(p.topic === 'full/q2' ? once : big)),
    'with its payload intact',
  );
  await store.flush();
  const counts = countRows(store.path);
  assert.deepEqual([counts.deliveries, counts.messages, counts.dangling], [0, 0, 0], 'nothing owed, nothing leaked');
  for (const c of [pub, pub4, probe, again, back, back4, resumed]) c.end();
});
