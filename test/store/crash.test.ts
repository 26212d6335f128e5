/**
 * Real crashes: the built `mozzie broker` is killed with SIGKILL at random moments while publishers send
 * numbered QoS 1 and QoS 2 streams to persistent subscribers (online and offline, 5.0 and 3.1.1), then
 * restarted on the same data directory and port, several times in one run. In the end every message whose
 * PUBACK / PUBREC a publisher received has reached every subscriber, in order per publisher, QoS 2 exactly
 * once and QoS 1 at least once (a second copy only where a crash left it unacknowledged); retained
 * messages and subscriptions survive. The run is seeded: the seed is printed, MOZZIE_CRASH_SEED repeats it.
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { PacketType, type ProtocolVersion, type PublishPacket } from '../../src/protocol/index.js';
import { type Spawned, spawnTracked, waitUntil } from '../helpers/child.js';
import { PacketClient } from '../helpers/packet-client.js';
import { Publisher, type Received, Subscriber, seeded } from './crash-clients.js';
import { countRows, defer, tempDir } from './support.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

function seedFor(t: TestContext): number {
  const given = process.env['MOZZIE_CRASH_SEED'];
  const seed = given === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(given);
  t.diagnostic(`seed ${seed} (MOZZIE_CRASH_SEED=${seed} repeats this run)`);
  return seed;
}

/**
 * A port free a moment ago, used for every start of the broker in one test. It is taken below the
 * ephemeral range: while the broker is down, the local end of some client's connection (here or in a test
 * running beside this one) could otherwise take it and keep the broker from starting again.
 */
async function freePort(): Promise<number> {
  let low = 32_768;
  try {
    low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || low;
  } catch {
    // Not Linux: the usual start of the range.
  }
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 10_000 + Math.floor(Math.random() * Math.max(1000, low - 10_001));
    const server = createServer();
    const bound = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (!bound) continue;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    return port;
  }
  throw new Error('no free port below the ephemeral range');
}

/** `mozzie broker` on one data directory and port, started again after each kill. */
class BrokerProcess {
  process: Spawned | undefined;
  /** How many times it was started. */
  starts = 0;

  constructor(
    private readonly t: TestContext,
    readonly dataDir: string,
    readonly port: number,
    private readonly config: string,
  ) {}

  async start(): Promise<void> {
    const p = spawnTracked(
      this.t,
      process.execPath,
      [MAIN, 'broker', '--config', this.config, '--data-dir', this.dataDir, '--port', String(this.port), '--log-level', 'warn'],
      { lifetimeMs: 60_000 },
    );
    this.process = p;
    // Killed before its data directory is removed (spawnTracked kills it too, but only afterwards).
    defer(this.t, () => p.kill('SIGKILL', 2000));
    await p.waitFor(/listening on mqtt:\/\//, 'stderr', 10_000);
    this.starts++;
  }

  async kill(): Promise<void> {
    const p = this.process;
    if (p === undefined) return;
    const exit = await p.kill('SIGKILL');
    assert.equal(exit.signal, 'SIGKILL');
  }

  /** SIGTERM: a graceful stop must end with exit code 0. */
  async stop(): Promise<void> {
    const p = this.process;
    if (p === undefined) return;
    const exit = await p.kill('SIGTERM', 5000);
    assert.deepEqual(exit, { code: 0, signal: null }, p.output());
  }
}

function writeConfig(dir: string, store: Record<string, unknown> = {}): string {
  const file = join(dir, 'mozzie.json');
  // Offline queues must hold the whole run; $SYS stays quiet.
  writeFileSync(file, JSON.stringify({ limits: { maxQueuedMessages: 1_000_000 }, sys: { interval: 0 }, store }));
  return file;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Scenario {
  readonly kills: number;
  readonly sync?: 'full' | 'normal';
  readonly publishers: readonly { id: string; version: ProtocolVersion; qos: 1 | 2 }[];
  readonly online: readonly { id: string; version: ProtocolVersion; ackDelay?: number; receiveMaximum?: number }[];
  readonly offline: readonly { id: string; version: ProtocolVersion }[];
  /** Milliseconds of traffic before each kill: [min, max). */
  readonly runFor: readonly [number, number];
}

/** Retained messages set and deleted along the run, each only once acknowledged. */
async function retainedStep(port: number, phase: number): Promise<void> {
  const c = await PacketClient.tcp(port, 5);
  await c.connect({ clientId: `retainer-${phase}`, clean: true }, 5000);
  const put = async (topic: string, payload: string, packetId: number) => {
    c.send({ type: PacketType.Publish, topic, payload: Buffer.from(payload), qos: 1, retain: true, dup: false, packetId });
    await c.expect(PacketType.Puback, 5000, (p) => p.packetId === packetId);
  };
  await put('crash-retained/phase', `phase ${phase}`, 1);
  if (phase === 1) {
    await put('crash-retained/keep', 'kept from the first run', 2);
    await put('crash-retained/gone', 'deleted in the second run', 3);
  }
  if (phase === 2) await put('crash-retained/gone', '', 4);
  c.end();
}

async function crashRun(t: TestContext, scenario: Scenario): Promise<void> {
  const seed = seedFor(t);
  const random = seeded(seed);
  const dir = tempDir(t, 'mozzie-crash-');
  const broker = new BrokerProcess(
    t,
    join(dir, 'data'),
    await freePort(),
    writeConfig(dir, scenario.sync === undefined ? {} : { sync: scenario.sync }),
  );
  const epoch = () => broker.starts;
  const publishers = scenario.publishers.map((p) => new Publisher(p.id, p.version, p.qos, 4 + Math.floor(random() * 12), random));
  const online = scenario.online.map((s) => new Subscriber(s.id, s.version, epoch, s.ackDelay ?? 0, s.receiveMaximum));
  const offline = scenario.offline.map((s) => new Subscriber(s.id, s.version, epoch));
  const subscribers = [...online, ...offline];
  const everyone = [...publishers, ...subscribers];
  defer(t, () => {
    for (const p of publishers) p.stop();
    for (const c of everyone) c.leave();
  });

  await broker.start();
  for (const s of subscribers) {
    await s.connect(broker.port);
    await s.subscribe('crash/#');
  }
  for (const s of offline) s.leave();

  for (let kill = 1; kill <= scenario.kills + 1; kill++) {
    if (kill > 1) {
      await broker.start();
      // Everyone comes back, in an order of the seed's choosing.
      const back = [...publishers, ...online].sort(() => random() - 0.5);
      await Promise.all(back.map((c) => c.connect(broker.port)));
    } else {
      for (const p of publishers) await p.connect(broker.port);
    }
    await retainedStep(broker.port, kill);
    if (kill > scenario.kills) break;
    for (const p of publishers) p.start();
    const [min, max] = scenario.runFor;
    await sleep(min + Math.floor(random() * (max - min)));
    for (const p of publishers) p.markUncertain();
    await broker.kill();
    for (const p of publishers) p.stop();
    t.diagnostic(`kill ${kill}: ${publishers.map((p) => `${p.clientId} ${p.acked.size}/${p.last}`).join(', ')}`);
  }

  // The last run: nobody is killed. Publishers complete what they have in flight; the offline come back.
  for (const s of offline) await s.connect(broker.port);
  const expected = (p: Publisher) => p.last;
  const complete = () =>
    publishers.every((p) => p.pending === 0) &&
    subscribers.every((s) => publishers.every((p) => new Set(s.from(p.clientId)).size >= expected(p)));
  await waitUntil(complete, 'every publisher completed and every subscriber got every number', 20_000).catch((err: unknown) => {
    const state = subscribers.map(
      (s) => `${s.clientId}: ${publishers.map((p) => `${p.clientId} ${new Set(s.from(p.clientId)).size}/${p.last}`).join(' ')}`,
    );
    throw new Error(`${(err as Error).message} (seed ${seed})\n${state.join('\n')}`);
  });
  // Anything still to come (a duplicate that should not be) has time to arrive.
  await sleep(300);

  for (const c of everyone) assert.deepEqual(c.anomalies, [], `${c.clientId} (seed ${seed})`);
  for (const p of publishers) {
    assert.ok(p.last > 0, `${p.clientId} published (seed ${seed})`);
    assert.equal(p.acked.size, p.last, `${p.clientId}: every number acknowledged in the end (seed ${seed})`);
    for (const s of subscribers) checkStream(s.clientId, p, s.received, seed);
  }

  // Retained messages as last acknowledged; subscriptions as made before the first crash.
  const probe = await PacketClient.tcp(broker.port, 5);
  await probe.connect({ clientId: 'probe', clean: true }, 5000);
  probe.send({
    type: PacketType.Subscribe,
    packetId: 1,
    subscriptions: [{ topicFilter: 'crash-retained/#', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
  });
  await probe.expect(PacketType.Suback, 5000);
  await waitUntil(() => probe.received.filter((p) => p.type === PacketType.Publish).length >= 2, 'the retained messages', 5000);
  // One that should not be there has time to show up too.
  await sleep(100);
  const retained = probe.received
    .filter((p): p is PublishPacket => p.type === PacketType.Publish)
    .map((p) => `${p.topic}=${p.payload.toString()}`)
    .sort();
  assert.deepEqual(
    retained,
    [`crash-retained/keep=kept from the first run`, `crash-retained/phase=phase ${scenario.kills + 1}`],
    `seed ${seed}`,
  );
  probe.end();
  for (const c of everyone) c.leave();
  await broker.stop();
  // Nothing owed is left behind, and no message row without a delivery.
  const counts = countRows(join(broker.dataDir, 'mozzie.db'));
  assert.deepEqual([counts.deliveries, counts.messages, counts.badRefs, counts.dangling], [0, 0, 0, 0], `seed ${seed}`);
  assert.equal(counts.sessions, publishers.length + subscribers.length, 'every persistent session is kept');
}

/**
 * One subscriber's view of one publisher's stream. Every number arrives ([MQTT-4.3.2-4], [MQTT-4.3.3-8]:
 * acknowledged means owned); first arrivals are in publishing order ([MQTT-4.6.0-6]); QoS 2 arrives once
 * ([MQTT-4.3.3-10]); a QoS 1 number arrives twice only if a crash could have caused it: the broker was
 * restarted since its first arrival (redelivery, [MQTT-4.4.0-1]), or it was unacknowledged when the
 * broker was killed (the publisher sent it again).
 */
function checkStream(subscriber: string, p: Publisher, received: readonly Received[], seed: number): void {
  const what = `${subscriber} from ${p.clientId} (seed ${seed})`;
  const mine = received.filter((r) => r.publisher === p.clientId);
  const first = new Map<number, Received>();
  let highest = 0;
  for (const r of mine) {
    const earlier = first.get(r.n);
    if (earlier === undefined) {
      assert.ok(r.n === highest + 1, `${what}: ${r.n} arrived after ${highest}: out of order or a gap`);
      highest = r.n;
      first.set(r.n, r);
      continue;
    }
    assert.equal(p.qos, 1, `${what}: QoS 2 message ${r.n} arrived twice`);
    assert.ok(
      r.epoch > earlier.epoch || p.uncertain.has(r.n),
      `${what}: QoS 1 message ${r.n} arrived twice with no crash to explain it (epochs ${earlier.epoch}, ${r.epoch})`,
    );
  }
  for (let n = 1; n <= p.last; n++) assert.ok(first.has(n) || !p.acked.has(n), `${what}: ${n} was acknowledged but never arrived`);
  assert.equal(highest, p.last, `${what}: not every number arrived`);
}

test('[MQTT-4.3.2-4] [MQTT-4.3.3-8] [MQTT-4.3.3-10] [MQTT-4.4.0-1] [MQTT-4.6.0-6] kill -9 at random moments, 4 times: nothing acknowledged is lost, QoS 2 arrives once, order is kept', (t) =>
  crashRun(t, {
    kills: 4,
    publishers: [
      { id: 'p5q1', version: 5, qos: 1 },
      { id: 'p5q2', version: 5, qos: 2 },
      { id: 'p4q1', version: 4, qos: 1 },
      { id: 'p4q2', version: 4, qos: 2 },
    ],
    online: [
      { id: 's5', version: 5 },
      { id: 's4', version: 4 },
      { id: 's5slow', version: 5, ackDelay: 4, receiveMaximum: 8 },
      { id: 's4slow', version: 4, ackDelay: 6 },
    ],
    offline: [
      { id: 'o5', version: 5 },
      { id: 'o4', version: 4 },
    ],
    runFor: [150, 900],
  }));

test('[MQTT-4.3.3-10] [MQTT-4.4.0-1] kill -9 with store.sync full: nothing acknowledged is lost', (t) =>
  crashRun(t, {
    kills: 2,
    sync: 'full',
    publishers: [
      { id: 'p5q2', version: 5, qos: 2 },
      { id: 'p4q1', version: 4, qos: 1 },
    ],
    online: [{ id: 's5slow', version: 5, ackDelay: 4, receiveMaximum: 4 }],
    offline: [{ id: 'o4', version: 4 }],
    runFor: [150, 600],
  }));

test('[MQTT-3.1.2-5/5.0] [MQTT-4.4.0-1/3.1.1] [MQTT-3.1.2-8/5.0] SIGTERM and start again: sessions, queues, messages in flight, inbound QoS 2 state, retained messages and a pending Will are all kept', async (t) => {
  const dir = tempDir(t, 'mozzie-graceful-');
  const broker = new BrokerProcess(t, join(dir, 'data'), await freePort(), writeConfig(dir));
  await broker.start();
  const port = broker.port;
  const clients: PacketClient[] = [];
  defer(t, () => {
    for (const c of clients) c.end();
  });
  const open = async (version: ProtocolVersion, clientId: string, extra: Partial<Parameters<PacketClient['connect']>[0]> = {}) => {
    const c = await PacketClient.tcp(port, version);
    clients.push(c);
    const ack = await c.connect(
      { clientId, clean: false, ...(version === 5 ? { properties: { sessionExpiryInterval: 3600 } } : {}), ...extra },
      5000,
    );
    assert.equal(ack.reasonCode, 0);
    return { c, present: ack.sessionPresent };
  };
  const subscribe = async (c: PacketClient, filter: string) => {
    c.send({
      type: PacketType.Subscribe,
      packetId: 1,
      subscriptions: [{ topicFilter: filter, qos: 2, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
    });
    await c.expect(PacketType.Suback, 5000);
  };
  const publishes = (c: PacketClient) => c.received.filter((p): p is PublishPacket => p.type === PacketType.Publish);

  // An offline session with 40 messages queued, a 3.1.1 session with messages in flight.
  const queued = await open(5, 'queued');
  await subscribe(queued.c, 'g/#');
  queued.c.send({ type: PacketType.Disconnect, reasonCode: 0 });
  await queued.c.waitClosed(5000);
  const inflight = await open(4, 'inflight');
  await subscribe(inflight.c, 'g/#');
  const watcher = await open(5, 'watcher');
  await subscribe(watcher.c, 'will/#');
  watcher.c.send({ type: PacketType.Disconnect, reasonCode: 0 });
  await watcher.c.waitClosed(5000);
  const pub = await open(5, 'pub');
  for (let i = 1; i <= 40; i++) {
    pub.c.send({
      type: PacketType.Publish,
      topic: `g/${i}`,
      payload: Buffer.from(`m${i}`),
      qos: i % 2 === 0 ? 2 : 1,
      retain: i === 40,
      dup: false,
      packetId: i,
    });
    if (i % 2 === 1) await pub.c.expect(PacketType.Puback, 5000, (p) => p.packetId === i);
    else {
      await pub.c.expect(PacketType.Pubrec, 5000, (p) => p.packetId === i);
      if (i !== 40) {
        pub.c.send({ type: PacketType.Pubrel, packetId: i, reasonCode: 0 });
        await pub.c.expect(PacketType.Pubcomp, 5000, (p) => p.packetId === i);
      }
    }
  }
  // The 3.1.1 subscriber has them all in flight (it acknowledges nothing); message 40 awaits its PUBREL.
  await waitUntil(() => publishes(inflight.c).length >= 40, 'the in-flight subscriber got every message', 5000);
  const sentIds = publishes(inflight.c).map((p) => p.packetId);
  // A client with a delayed Will loses its connection just before the stop.
  const dying = await open(5, 'dying', {
    will: { topic: 'will/dying', payload: Buffer.from('gone'), qos: 1, retain: false, properties: { willDelayInterval: 3 } },
  });
  dying.c.end();
  const droppedAt = Date.now();
  await sleep(100);

  await broker.stop();
  await broker.start();

  const w = await open(5, 'watcher');
  assert.equal(w.present, true);
  const q = await open(5, 'queued');
  assert.equal(q.present, true, 'the session survived');
  await waitUntil(() => publishes(q.c).length >= 40, 'the queued messages', 5000);
  assert.deepEqual(
    publishes(q.c).map((p) => `${p.payload.toString()}/q${p.qos}/dup${p.dup ? 1 : 0}`),
    Array.from({ length: 40 }, (_, i) => `m${i + 1}/q${(i + 1) % 2 === 0 ? 2 : 1}/dup0`),
    'every queued message, in order',
  );
  const f = await open(4, 'inflight');
  assert.equal(f.present, true);
  await waitUntil(() => publishes(f.c).length >= 40, 'the in-flight messages again', 5000);
  assert.deepEqual(
    publishes(f.c).map((p) => [p.packetId, p.dup]),
    sentIds.map((id) => [id, true]),
    'sent again with DUP 1 under their identifiers, in order',
  );
  const p2 = await open(5, 'pub');
  assert.equal(p2.present, true);
  // Message 40's identifier is still held: its release is answered as known (PUBCOMP 0, not 0x92).
  p2.c.send({ type: PacketType.Pubrel, packetId: 40, reasonCode: 0 });
  const comp = await p2.c.expect(PacketType.Pubcomp, 5000);
  assert.equal(comp.reasonCode, 0);
  const r = await PacketClient.tcp(port, 5);
  clients.push(r);
  await r.connect({ clientId: 'retained-reader', clean: true }, 5000);
  r.send({
    type: PacketType.Subscribe,
    packetId: 1,
    subscriptions: [{ topicFilter: 'g/#', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
  });
  await r.expect(PacketType.Suback, 5000);
  const retainedMessage = await r.expect(PacketType.Publish, 5000);
  assert.deepEqual([retainedMessage.topic, retainedMessage.payload.toString(), retainedMessage.retain], ['g/40', 'm40', true]);
  // The Will comes when due: 3 s after its connection broke, not before.
  const will = await w.c.expect(PacketType.Publish, 6000);
  assert.equal(will.payload.toString(), 'gone');
  assert.ok(Date.now() - droppedAt >= 2900, `the Will waited for its delay (${Date.now() - droppedAt} ms)`);
  for (const c of clients) c.end();
  await broker.stop();
});
