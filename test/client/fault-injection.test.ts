/**
 * The client against a scripted fake server that breaks the connection at every step of the QoS 1 and
 * QoS 2 flows, sends DISCONNECT, refuses or withholds CONNACK and delays acks. For each case: every
 * publish completes, nothing is lost, QoS 1 arrives at least once and QoS 2 exactly once at the server's
 * application (the server counts deliveries by Method B), and what is resent while the session is present
 * carries DUP 1 and the original Packet Identifier.
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { type TestContext, test } from 'node:test';
import type { ClientOptions } from '../../src/client/options.js';
import type { PublishResult } from '../../src/client/state.js';
import { PacketType, type ProtocolVersion, type QoS, ReasonCode } from '../../src/protocol/index.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { connectedClient, startClient, type Tracked, tick, within } from './helpers/clients.js';
import { type FakeConnection, type FakeServer, type Fault, fakeServer, type Step } from './helpers/fake-server.js';

const BACKOFF = { initial: 10, max: 40 } as const;

/** A persistent session (Clean Start 0; 5.0 with a Session Expiry Interval) and a short backoff. */
function sessionOptions(version: ProtocolVersion, extra: ClientOptions = {}): ClientOptions {
  return {
    protocolVersion: version,
    clientId: `fi-v${version}`,
    clean: false,
    keepAlive: 0,
    reconnect: BACKOFF,
    ...(version === 5 ? { properties: { sessionExpiryInterval: 300 } } : {}),
    ...extra,
  };
}

const QOS1_STEPS: readonly Step[] = ['publish-received', 'before-puback', 'after-puback'];
const QOS2_STEPS: readonly Step[] = [
  'publish-received',
  'before-pubrec',
  'after-pubrec',
  'pubrel-received',
  'before-pubcomp',
  'after-pubcomp',
];

async function publishAll(c: Tracked, payloads: readonly string[], qos: QoS, timeoutMs = 5000): Promise<PublishResult[]> {
  return within(Promise.all(payloads.map((p) => c.client.publish('fi/topic', p, { qos }))), timeoutMs, 'every publish');
}

/**
 * The client's sends and the server's deliveries, checked against the delivery guarantees:
 * - what each server connection read is a prefix of what the client wrote on it (same packets, same flags);
 * - each payload delivered exactly once (QoS 2) or at least once (QoS 1);
 * - a payload's first PUBLISH has DUP 0; each resend (on a later connection, the session present) has
 *   DUP 1 and the original Packet Identifier; nothing is sent twice on one connection;
 * - resends come in the order of the original sends;
 * - QoS 2: no PUBLISH once its PUBREL has been sent.
 */
function checkFlows(server: FakeServer, c: Tracked, payloads: readonly string[], qosOf: QoS | ReadonlyMap<string, QoS>): void {
  const sends = c.sends.flatMap((s) => (s.packet.type === PacketType.Publish ? [{ connection: s.connection, packet: s.packet }] : []));
  // The wire: server connection k (accepted ones, in order) read a prefix of the client's PUBLISHes on connection k.
  server.accepted.forEach((conn, k) => {
    const wrote = sends.filter((s) => s.connection === k + 1).map((s) => s.packet);
    const read = conn.publishes();
    assert.ok(read.length <= wrote.length, `connection ${k + 1}: the server read no PUBLISH the client did not write`);
    read.forEach((p, n) => {
      const w = wrote[n];
      assert.deepEqual(
        [p.payload.toString(), p.dup, p.packetId, p.qos],
        [w?.payload.toString(), w?.dup, w?.packetId, w?.qos],
        `connection ${k + 1}, PUBLISH ${n + 1} on the wire`,
      );
    });
  });
  const order = new Map(payloads.map((p, i) => [p, i]));
  for (const payload of payloads) {
    const qos = typeof qosOf === 'number' ? qosOf : (qosOf.get(payload) ?? 0);
    const deliveries = server.deliveriesOf(payload);
    if (qos === 2) assert.equal(deliveries.length, 1, `${payload}: QoS 2 delivered exactly once (got ${deliveries.length})`);
    else assert.ok(deliveries.length >= 1, `${payload}: QoS 1 delivered at least once`);
    const mine = sends.filter((s) => s.packet.payload.toString() === payload);
    const connections = mine.map((s) => s.connection);
    assert.equal(new Set(connections).size, connections.length, `${payload}: at most one PUBLISH per connection`);
    const [first, ...again] = mine;
    assert.equal(first?.packet.dup, false, `${payload}: first PUBLISH has DUP 0`);
    assert.equal(first?.packet.qos, qos);
    for (const s of again) {
      assert.equal(server.accepted[s.connection - 1]?.sessionPresent, true, 'resent within the session');
      assert.equal(s.packet.dup, true, `${payload}: resent on connection ${s.connection} with DUP 1`);
      assert.equal(s.packet.packetId, first?.packet.packetId, `${payload}: resent with its original Packet Identifier`);
    }
    if (qos === 2) {
      const id = first?.packet.packetId;
      const released = c.sends.findIndex((s) => s.packet.type === PacketType.Pubrel && s.packet.packetId === id);
      const lastPublish = c.sends.findLastIndex((s) => s.packet.type === PacketType.Publish && s.packet.payload.toString() === payload);
      assert.ok(released >= 0, `${payload}: PUBREL sent`);
      assert.ok(lastPublish < released, `${payload}: no PUBLISH after its PUBREL`);
    }
  }
  const byConnection = new Map<number, number[]>();
  for (const s of sends) {
    if (!s.packet.dup) continue;
    const list = byConnection.get(s.connection) ?? [];
    list.push(order.get(s.packet.payload.toString()) ?? -1);
    byConnection.set(s.connection, list);
  }
  for (const [connection, positions] of byConnection) {
    assert.deepEqual(
      positions,
      [...positions].sort((a, b) => a - b),
      `[MQTT-4.6.0-1] resent in the original order on connection ${connection}`,
    );
  }
}

function resolvedOk(results: readonly PublishResult[], qos: QoS): void {
  for (const r of results) {
    // QoS 2: a PUBCOMP 0x92 for a PUBREL resent after the server completed the flow is still success.
    assert.ok(r.reasonCode < 0x80 || (qos === 2 && r.reasonCode === ReasonCode.PacketIdentifierNotFound), `reason code ${r.reasonCode}`);
  }
}

// ---- a dropped connection at every step ---------------------------------------------------------

async function dropAt(t: TestContext, version: ProtocolVersion, qos: QoS, step: Step): Promise<void> {
  const server = await fakeServer(t, { faults: [{ step, payload: 'm2' }] });
  const c = await connectedClient(t, server.url, sessionOptions(version));
  const payloads = ['m1', 'm2', 'm3', 'm4'];
  const results = await publishAll(c, payloads, qos);
  assert.deepEqual(server.fired, [{ step, payload: 'm2' }], 'the fault fired');
  assert.ok(server.accepted.length >= 2, 'the client reconnected');
  assert.ok(c.log.includes('reconnect 1'));
  resolvedOk(results, qos);
  checkFlows(server, c, payloads, qos);
  assert.equal(c.client.state.pendingCount, 0);
}

/** A fault at every step of the flow, each hitting another message, one after another. */
async function everyStep(t: TestContext, version: ProtocolVersion, qos: QoS): Promise<void> {
  const steps = qos === 1 ? QOS1_STEPS : QOS2_STEPS;
  const payloads = Array.from({ length: 8 }, (_, i) => `n${i + 1}`);
  const faults: Fault[] = steps.map((step, i) => ({ step, payload: payloads[(i * 3) % payloads.length] as string }));
  const server = await fakeServer(t, { faults });
  const c = await connectedClient(t, server.url, sessionOptions(version));
  const results = await publishAll(c, payloads, qos, 8000);
  assert.equal(server.fired.length, faults.length, `faults fired: ${server.fired.map((f) => f.step).join(', ')}`);
  // Each fault closed one connection (the last may have closed after the final ack: no need to reconnect).
  assert.ok(server.accepted.length >= faults.length);
  resolvedOk(results, qos);
  checkFlows(server, c, payloads, qos);
}

for (const qos of [1, 2] as const) {
  for (const step of qos === 1 ? QOS1_STEPS : QOS2_STEPS) {
    test(`[MQTT-4.4.0-1/5.0] [MQTT-3.3.1-1/5.0] v5 QoS ${qos}: connection dropped at ${step}: every publish completes, resends have DUP 1 and the original ids`, (t) =>
      dropAt(t, 5, qos, step));
    test(`[MQTT-4.4.0-1/3.1.1] [MQTT-3.3.1-1/3.1.1] [MQTT-2.3.1-3/3.1.1] v4 QoS ${qos}: connection dropped at ${step}: every publish completes, resends have DUP 1 and the original ids`, (t) =>
      dropAt(t, 4, qos, step));
  }
}

test('[MQTT-4.4.0-1/5.0] [MQTT-4.6.0-1/5.0] v5 QoS 1: a fault at every step, one after another: every message at least once', (t) =>
  everyStep(t, 5, 1));
test('[MQTT-4.4.0-1/3.1.1] [MQTT-4.6.0-1/3.1.1] v4 QoS 1: a fault at every step, one after another: every message at least once', (t) =>
  everyStep(t, 4, 1));
test('[MQTT-4.4.0-1/5.0] [MQTT-4.6.0-1/5.0] [MQTT-4.3.3-6/5.0] v5 QoS 2: a fault at every step, one after another: every message exactly once', (t) =>
  everyStep(t, 5, 2));
test('[MQTT-4.4.0-1/3.1.1] [MQTT-4.6.0-1/3.1.1] v4 QoS 2: a fault at every step, one after another: every message exactly once', (t) =>
  everyStep(t, 4, 2));

test('v5 QoS 1 and QoS 2 mixed, faults on both flows: each completes by its own rules', async (t) => {
  const server = await fakeServer(t, {
    faults: [
      { step: 'before-puback', payload: 'q1-b' },
      { step: 'before-pubcomp', payload: 'q2-a' },
      { step: 'publish-received', payload: 'q2-c' },
    ],
  });
  const c = await connectedClient(t, server.url, sessionOptions(5));
  const all = await within(
    Promise.all([
      c.client.publish('fi/mixed', 'q1-a', { qos: 1 }),
      c.client.publish('fi/mixed', 'q2-a', { qos: 2 }),
      c.client.publish('fi/mixed', 'q1-b', { qos: 1 }),
      c.client.publish('fi/mixed', 'q2-b', { qos: 2 }),
      c.client.publish('fi/mixed', 'q2-c', { qos: 2 }),
    ]),
    5000,
    'publishes',
  );
  assert.equal(server.fired.length, 3);
  resolvedOk(all, 2);
  for (const p of ['q2-a', 'q2-b', 'q2-c']) assert.equal(server.deliveriesOf(p).length, 1, p);
  for (const p of ['q1-a', 'q1-b']) assert.ok(server.deliveriesOf(p).length >= 1, p);
});

test('[MQTT-3.2.2-5/5.0] without a session (Clean Start 1) messages in flight go again as new ones (DUP 0): QoS 1 still at least once', async (t) => {
  const server = await fakeServer(t, { faults: [{ step: 'before-puback', payload: 'm2' }] });
  const c = await connectedClient(t, server.url, {
    protocolVersion: 5,
    clientId: 'fi-clean',
    clean: true,
    keepAlive: 0,
    reconnect: BACKOFF,
  });
  const payloads = ['m1', 'm2', 'm3'];
  const results = await publishAll(c, payloads, 1);
  resolvedOk(results, 1);
  assert.equal(server.accepted.length, 2);
  assert.equal(server.accepted[1]?.sessionPresent, false);
  for (const p of payloads) assert.ok(server.deliveriesOf(p).length >= 1, p);
  const resent = server.accepted[1]?.publishes() ?? [];
  assert.ok(
    resent.some((p) => p.payload.toString() === 'm2'),
    'm2 was sent again',
  );
  assert.ok(
    resent.every((p) => !p.dup),
    'new messages for a new session: DUP 0',
  );
});

// ---- server DISCONNECT ----------------------------------------------------------------------------

test('v5: DISCONNECT 0x89 (Server busy) mid-flow: SERVER_DISCONNECT with the code, then reconnect and complete', async (t) => {
  const server = await fakeServer(t, {
    faults: [{ step: 'before-puback', payload: 'm2', action: 'disconnect', reasonCode: ReasonCode.ServerBusy }],
  });
  const c = await connectedClient(t, server.url, sessionOptions(5));
  const results = await publishAll(c, ['m1', 'm2', 'm3'], 1);
  resolvedOk(results, 1);
  const e = c.errors.find((x) => x.code === 'SERVER_DISCONNECT');
  assert.equal(e?.reasonCode, ReasonCode.ServerBusy);
  assert.match(e?.message ?? '', /Server busy/i);
  assert.ok(c.log.includes('disconnect'), "'disconnect' event");
  assert.ok(server.accepted.length >= 2);
  checkFlows(server, c, ['m1', 'm2', 'm3'], 1);
});

test('v5: DISCONNECT 0x8E (Session taken over): no reconnect; what is pending fails with SERVER_DISCONNECT', async (t) => {
  const server = await fakeServer(t, {
    faults: [{ step: 'publish-received', payload: 'm1', action: 'disconnect', reasonCode: ReasonCode.SessionTakenOver }],
  });
  const clock = new FakeClock();
  const c = await connectedClient(t, server.url, sessionOptions(5, { clock }));
  const outcome = await within(
    c.client.publish('fi/t', 'm1', { qos: 1 }).then(
      () => undefined,
      (e: unknown) => e,
    ),
    3000,
    'publish',
  );
  assert.ok(outcome instanceof Error);
  assert.equal((outcome as { code?: string }).code, 'SERVER_DISCONNECT');
  assert.equal((outcome as { reasonCode?: number }).reasonCode, ReasonCode.SessionTakenOver);
  assert.equal(clock.pending, 0, 'no reconnect scheduled');
  clock.advance(60_000);
  await tick();
  assert.equal(server.connections.length, 1);
  await assert.rejects(c.client.publish('fi/t', 'later', { qos: 1 }), { code: 'SERVER_DISCONNECT' });
});

// ---- CONNACK refused, withheld, or never sent ------------------------------------------------------

for (const version of [4, 5] as const) {
  const busy = version === 5 ? ReasonCode.ServerUnavailable : 3;
  test(`v${version}: CONNACK refused twice (${busy === 3 ? 'rc 3' : '0x88'}, not permanent): reconnects with backoff; queued publishes complete once`, async (t) => {
    const server = await fakeServer(t, {
      connack: ({ attempt }) => (attempt <= 2 ? { type: PacketType.Connack, sessionPresent: false, reasonCode: busy } : undefined),
    });
    const c = startClient(t, server.url, sessionOptions(version));
    const pending = ['r1', 'r2', 'r3'].map((p, i) => c.client.publish('fi/refused', p, { qos: i === 2 ? 2 : 1 }));
    await assert.rejects(c.connected, { code: 'CONNECTION_REFUSED', reasonCode: busy });
    const results = await within(Promise.all(pending), 5000, 'publishes');
    resolvedOk(results, 2);
    assert.equal(server.connections.length, 3);
    assert.equal(c.errors.filter((e) => e.code === 'CONNECTION_REFUSED' && e.reasonCode === busy).length, 2);
    for (const p of ['r1', 'r2', 'r3']) assert.equal(server.deliveriesOf(p).length, 1, p);
    assert.equal(server.connections[0]?.publishes().length, 0, 'nothing sent on a refused connection');
  });

  const denied = version === 5 ? ReasonCode.NotAuthorized : 5;
  test(`v${version}: CONNACK ${version === 5 ? '0x87' : 'rc 5'} (permanent): no more attempts; pending and later operations fail with CONNECTION_REFUSED`, async (t) => {
    const server = await fakeServer(t, { connack: () => ({ type: PacketType.Connack, sessionPresent: false, reasonCode: denied }) });
    const clock = new FakeClock();
    const c = startClient(t, server.url, sessionOptions(version, { clock }));
    const queued = c.client.publish('fi/denied', 'x', { qos: 1 });
    await assert.rejects(c.connected, { code: 'CONNECTION_REFUSED', reasonCode: denied });
    await assert.rejects(within(queued, 3000, 'queued publish'), { code: 'CONNECTION_REFUSED', reasonCode: denied });
    assert.equal(clock.pending, 0, 'no reconnect scheduled');
    clock.advance(120_000);
    await tick();
    assert.equal(server.connections.length, 1);
    await assert.rejects(within(c.client.publish('fi/denied', 'y', { qos: 1 }), 1000, 'later publish'), { code: 'CONNECTION_REFUSED' });
    await assert.rejects(within(c.client.subscribe('fi/#'), 1000, 'later subscribe'), { code: 'CONNECTION_REFUSED' });
  });
}

test('no CONNACK within connectTimeout: CONNECT_TIMEOUT, then the next attempt succeeds and the queue drains', async (t) => {
  const server = await fakeServer(t, { connack: ({ attempt }) => (attempt === 1 ? 'silent' : undefined) });
  const c = startClient(t, server.url, sessionOptions(5, { connectTimeout: 50 }));
  const done = c.client.publish('fi/slow', 'late', { qos: 2 });
  resolvedOk([await within(done, 5000, 'publish')], 2);
  assert.ok(c.errors.some((e) => e.code === 'CONNECT_TIMEOUT'));
  assert.equal(server.connections.length, 2);
  assert.equal(server.deliveriesOf('late').length, 1);
});

test('connection closed before CONNACK: reconnect, and nothing was sent before CONNACK', async (t) => {
  const server = await fakeServer(t, { connack: ({ attempt }) => (attempt === 1 ? 'drop' : undefined) });
  const c = startClient(t, server.url, sessionOptions(4));
  c.client.subscribe('fi/early').catch(() => undefined);
  const done = c.client.publish('fi/early', 'e', { qos: 1 });
  resolvedOk([await within(done, 5000, 'publish')], 1);
  assert.deepEqual(
    server.connections[0]?.received.map((p) => p.type),
    [PacketType.Connect],
  );
  const second = server.connections[1]?.received.map((p) => p.type) ?? [];
  assert.equal(second[0], PacketType.Connect);
});

test('[MQTT-3.2.2-4/5.0] Session Present 1 in answer to Clean Start 1: the client closes the connection without using it', async (t) => {
  const server = await fakeServer(t, {
    connack: ({ attempt }) => (attempt === 1 ? { type: PacketType.Connack, sessionPresent: true, reasonCode: 0 } : undefined),
  });
  const c = startClient(t, server.url, { protocolVersion: 5, clientId: 'fi-sp', clean: true, keepAlive: 0, reconnect: BACKOFF });
  const done = c.client.publish('fi/sp', 'p', { qos: 1 });
  done.catch(() => undefined);
  await assert.rejects(c.connected, { code: 'PROTOCOL_ERROR' });
  resolvedOk([await within(done, 5000, 'publish')], 1);
  const first = server.connections[0];
  assert.ok(first !== undefined);
  await server.waitFor(() => first.closed, 'the first connection to close');
  assert.deepEqual(
    first.received.map((p) => p.type),
    [PacketType.Connect],
    'nothing sent on it after CONNACK',
  );
  assert.equal(server.deliveriesOf('p').length, 1);
});

// ---- delayed acks ----------------------------------------------------------------------------------

test('delayed acks: publishes resolve only at their PUBACK / PUBCOMP, nothing is resent on the same connection', async (t) => {
  const server = await fakeServer(t, { ackDelayMs: 40 });
  const c = await connectedClient(t, server.url, sessionOptions(5));
  const started = Date.now();
  const settledAt: number[] = [];
  const all = ['d1', 'd2', 'd3'].map((p, i) =>
    c.client.publish('fi/delay', p, { qos: i === 1 ? 2 : 1 }).then((r) => {
      settledAt.push(Date.now() - started);
      return r;
    }),
  );
  resolvedOk(await within(Promise.all(all), 3000, 'publishes'), 2);
  assert.ok(
    settledAt.every((ms) => ms >= 35),
    `settled after ${settledAt.join(', ')} ms`,
  );
  const qos2 = settledAt.slice().sort((a, b) => b - a)[0] ?? 0;
  assert.ok(qos2 >= 75, `QoS 2 needs two delayed acks (${qos2} ms)`);
  assert.equal(server.connections.length, 1);
  assert.equal(server.publishes().length, 3);
  checkFlows(
    server,
    c,
    ['d1', 'd2', 'd3'],
    new Map<string, QoS>([
      ['d1', 1],
      ['d2', 2],
      ['d3', 1],
    ]),
  );
});

for (const qos of [1, 2] as const) {
  test(`QoS ${qos}: connection dropped while the ack is delayed: resent with DUP 1, completed ${qos === 2 ? 'exactly' : 'at least'} once`, async (t) => {
    const step: Step = qos === 1 ? 'before-puback' : 'before-pubcomp';
    const server = await fakeServer(t, { ackDelayMs: 30, faults: [{ step, payload: 'w2' }] });
    const c = await connectedClient(t, server.url, sessionOptions(5));
    const results = await publishAll(c, ['w1', 'w2', 'w3'], qos);
    resolvedOk(results, qos);
    assert.equal(server.fired.length, 1);
    checkFlows(server, c, ['w1', 'w2', 'w3'], qos);
  });
}

// ---- inbound QoS 2 across a reconnect -------------------------------------------------------------

test('[MQTT-4.3.3-10/5.0] [MQTT-4.4.0-1/5.0] inbound QoS 2 resent by the server after a reconnect (DUP 1) is not delivered twice', async (t) => {
  let first: FakeConnection | undefined;
  const server = await fakeServer(t, {
    onConnected: (conn) => {
      first ??= conn;
      const publish = { type: PacketType.Publish, topic: 'fi/in', payload: Buffer.from('exactly-once'), qos: 2, retain: false } as const;
      conn.send({ ...publish, dup: conn !== first, packetId: 321 });
    },
    intercept: (conn, p) => {
      if (p.type !== PacketType.Pubrec) return false;
      // First connection: the PUBREC arrives and the network fails before PUBREL, so the server must
      // send the PUBLISH again on the next connection. Then PUBREL completes the flow.
      if (conn === first) conn.drop();
      else conn.send({ type: PacketType.Pubrel, packetId: 321, reasonCode: 0 });
      return true;
    },
  });
  const c = await connectedClient(t, server.url, sessionOptions(5));
  await server.waitFor(
    () => server.accepted[1]?.received.some((p) => p.type === PacketType.Pubcomp) === true,
    'PUBCOMP on the second connection',
    3000,
  );
  assert.equal(server.accepted[1]?.sessionPresent, true);
  assert.equal(c.messages.filter((m) => m.payload.toString() === 'exactly-once').length, 1);
  const pubcomp = server.accepted[1]?.received.find((p) => p.type === PacketType.Pubcomp);
  assert.deepEqual(pubcomp, { type: PacketType.Pubcomp, packetId: 321, reasonCode: 0 });
  const pubrecs = server.connections.flatMap((conn) => conn.received.filter((p) => p.type === PacketType.Pubrec));
  assert.equal(pubrecs.length, 2, 'the duplicate is acknowledged again');
});
