import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { test } from 'node:test';
import { Broker } from '../../src/broker/broker.js';
import type { BrokerOptions } from '../../src/broker/options.js';
import { type ConnectPacket, PacketType, type ProtocolVersion, type QoS, ReasonCode } from '../../src/protocol/index.js';
import { memoryClient, startBroker } from '../helpers/broker-harness.js';
import { FakeClock } from '../helpers/fake-clock.js';
import type { PacketClient } from '../helpers/packet-client.js';

// ---- helpers ------------------------------------------------------------------------------------

function fakeBroker(options: BrokerOptions = {}): { broker: Broker; clock: FakeClock } {
  const clock = new FakeClock();
  return { broker: new Broker({ sysInterval: 0, ...options, clock }), clock };
}

type ConnectFields = Partial<Omit<ConnectPacket, 'type'>>;

async function connect(broker: Broker, version: ProtocolVersion, fields: ConnectFields) {
  const c = memoryClient(broker, version);
  const ack = await c.connect(fields);
  assert.equal(ack.reasonCode, 0, `CONNECT ${fields.clientId ?? ''} refused with ${ack.reasonCode}`);
  return { c, ack };
}

/** Persistent-session CONNECT fields for each version (5.0 needs a Session Expiry Interval). */
function persistent(version: ProtocolVersion, clientId: string, expiry = 3600): ConnectFields {
  return version === 5 ? { clientId, clean: false, properties: { sessionExpiryInterval: expiry } } : { clientId, clean: false };
}

async function subscribe(c: PacketClient, topicFilter: string, qos: QoS = 1, packetId = 1): Promise<void> {
  c.send({
    type: PacketType.Subscribe,
    packetId,
    subscriptions: [{ topicFilter, qos, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
  });
  const ack = await c.expect(PacketType.Suback, 2000, (p) => p.packetId === packetId);
  assert.deepEqual(ack.reasonCodes, [qos]);
}

/** Publishes and completes the publisher side of the QoS flow. */
async function publish(c: PacketClient, topic: string, payload: string, qos: QoS, packetId = 100): Promise<void> {
  c.send({
    type: PacketType.Publish,
    topic,
    payload: Buffer.from(payload),
    qos,
    retain: false,
    dup: false,
    ...(qos > 0 ? { packetId } : {}),
  });
  if (qos === 1) await c.expect(PacketType.Puback, 2000, (p) => p.packetId === packetId);
  if (qos === 2) {
    await c.expect(PacketType.Pubrec, 2000, (p) => p.packetId === packetId);
    c.send({ type: PacketType.Pubrel, packetId, reasonCode: 0 });
    await c.expect(PacketType.Pubcomp, 2000, (p) => p.packetId === packetId);
  }
}

/** Round trip through the broker: everything it sent this client before the PINGRESP has arrived. */
async function barrier(c: PacketClient): Promise<void> {
  c.send({ type: PacketType.Pingreq });
  await c.expect(PacketType.Pingresp);
}

function publishesOf(c: PacketClient) {
  return c.received.flatMap((p) => (p.type === PacketType.Publish ? [p] : []));
}

/** Normal DISCONNECT, then waits for the server to close. */
async function leave(c: PacketClient): Promise<void> {
  c.send({ type: PacketType.Disconnect, reasonCode: 0 });
  await c.waitClosed();
}

/** Drops the connection without DISCONNECT and waits until the broker has noticed. */
async function drop(broker: Broker, c: PacketClient, clientId: string): Promise<void> {
  c.end();
  for (let i = 0; i < 50 && broker.isConnected(clientId); i++) await new Promise((r) => setImmediate(r));
  assert.equal(broker.isConnected(clientId), false);
}

// ---- Session Present and Clean Start / Clean Session -------------------------------------------

async function cleanZeroNoSession(version: ProtocolVersion): Promise<void> {
  const { broker } = fakeBroker();
  const { c, ack } = await connect(broker, version, persistent(version, `fresh${version}`));
  assert.equal(ack.sessionPresent, false);
  await subscribe(c, 'fresh/#', 1);
  await leave(c);
  // A new session was created and stored: it is there on return.
  assert.equal(broker.sessions.get(`fresh${version}`)?.subscriptions.has('fresh/#'), true);
  const again = await connect(broker, version, persistent(version, `fresh${version}`));
  assert.equal(again.ack.sessionPresent, version !== 3);
  again.c.end();
  await broker.close();
}

test('[MQTT-3.2.2-3/5.0] [MQTT-3.1.2-6/5.0] v5: clean 0 without a stored session: Session Present 0', () => cleanZeroNoSession(5));
test('[MQTT-3.2.2-3/3.1.1] v4: clean 0 without a stored session: Session Present 0', () => cleanZeroNoSession(4));
test('[MQTT-3.2.2-3/3.1.1] v3: clean 0 without a stored session: Session Present 0', () => cleanZeroNoSession(3));

async function cleanZeroWithSession(version: ProtocolVersion): Promise<void> {
  const { broker } = fakeBroker();
  const id = `back${version}`;
  const first = await connect(broker, version, persistent(version, id));
  await subscribe(first.c, 'kept/#', 1);
  await leave(first.c);
  const { c, ack } = await connect(broker, version, persistent(version, id));
  // MQTT 3.1 has no Session Present flag (the byte is reserved, always 0).
  assert.equal(ack.sessionPresent, version !== 3);
  const pub = await connect(broker, 5, { clientId: `pub${version}` });
  await publish(pub.c, 'kept/a', 'still here', 1);
  const msg = await c.expect(PacketType.Publish);
  assert.equal(msg.topic, 'kept/a');
  assert.equal(msg.payload.toString(), 'still here');
  c.end();
  pub.c.end();
  await broker.close();
}

test('[MQTT-3.2.2-3/5.0] [MQTT-3.1.2-5/5.0] v5: clean 0 with a stored session: Session Present 1, subscriptions kept', () =>
  cleanZeroWithSession(5));
test('[MQTT-3.2.2-2/3.1.1] [MQTT-3.1.2-4/3.1.1] v4: clean 0 with a stored session: Session Present 1, subscriptions kept', () =>
  cleanZeroWithSession(4));
test('[MQTT-3.1.2-4/3.1.1] v3: clean 0 with a stored session: subscriptions kept (3.1 has no Session Present flag)', () =>
  cleanZeroWithSession(3));

async function cleanOneDiscards(version: ProtocolVersion): Promise<void> {
  const { broker } = fakeBroker();
  const id = `clean${version}`;
  const first = await connect(broker, version, persistent(version, id));
  await subscribe(first.c, 'old/#', 1);
  await leave(first.c);
  const pub = await connect(broker, 5, { clientId: `pub${version}` });
  await publish(pub.c, 'old/queued', 'q', 1);
  const { c, ack } = await connect(broker, version, { clientId: id, clean: true });
  assert.equal(ack.sessionPresent, false);
  await publish(pub.c, 'old/live', 'l', 1, 101);
  await barrier(c);
  assert.deepEqual(publishesOf(c), []);
  c.end();
  pub.c.end();
  await broker.close();
}

test('[MQTT-3.2.2-2/5.0] [MQTT-3.1.2-4/5.0] [MQTT-3.1.4-4/5.0] v5: Clean Start 1 discards a stored session: Session Present 0, no old subscriptions or messages', () =>
  cleanOneDiscards(5));
test('[MQTT-3.2.2-1/3.1.1] [MQTT-3.1.2-6/3.1.1] [MQTT-3.1.4-3/3.1.1] v4: Clean Session 1 discards a stored session: Session Present 0, no old subscriptions or messages', () =>
  cleanOneDiscards(4));
test('[MQTT-3.1.2-6/3.1.1] v3: Clean Session 1 discards a stored session: no old subscriptions or messages', () => cleanOneDiscards(3));

test('[MQTT-3.1.2-6/3.1.1] a Clean Session 1 session lasts only as long as its connection', async () => {
  const { broker } = fakeBroker();
  const first = await connect(broker, 4, { clientId: 'short', clean: true });
  await subscribe(first.c, 'short/#', 1);
  await leave(first.c);
  const { c, ack } = await connect(broker, 4, { clientId: 'short', clean: false });
  assert.equal(ack.sessionPresent, false);
  const pub = await connect(broker, 4, { clientId: 'pub' });
  await publish(pub.c, 'short/x', 'x', 1);
  await barrier(c);
  assert.deepEqual(publishesOf(c), []);
  c.end();
  pub.c.end();
  await broker.close();
});

test('[MQTT-3.2.2-3/5.0] [MQTT-3.1.2-23/5.0] 5.0 Session Expiry Interval absent (0): the session ends with the connection', async () => {
  const { broker } = fakeBroker();
  const first = await connect(broker, 5, { clientId: 'zero', clean: false });
  await subscribe(first.c, 'zero/#', 1);
  await leave(first.c);
  assert.equal(broker.sessions.has('zero'), false);
  const { c, ack } = await connect(broker, 5, { clientId: 'zero', clean: false });
  assert.equal(ack.sessionPresent, false);
  c.end();
  await broker.close();
});

test('[MQTT-3.1.3-2/5.0] [MQTT-3.1.3-2/3.1.1] the Client Identifier selects the session state', async () => {
  const { broker } = fakeBroker();
  for (const [id, filter] of [
    ['alpha', 'a/#'],
    ['beta', 'b/#'],
  ] as const) {
    const first = await connect(broker, 4, { clientId: id, clean: false });
    await subscribe(first.c, filter, 1);
    await leave(first.c);
  }
  const alpha = await connect(broker, 4, { clientId: 'alpha', clean: false });
  const beta = await connect(broker, 5, persistent(5, 'beta'));
  assert.equal(alpha.ack.sessionPresent, true);
  assert.equal(beta.ack.sessionPresent, true);
  const pub = await connect(broker, 5, { clientId: 'pub' });
  await publish(pub.c, 'a/1', 'for alpha', 1);
  await publish(pub.c, 'b/1', 'for beta', 1, 101);
  await barrier(alpha.c);
  await barrier(beta.c);
  assert.deepEqual(
    publishesOf(alpha.c).map((p) => p.topic),
    ['a/1'],
  );
  assert.deepEqual(
    publishesOf(beta.c).map((p) => p.topic),
    ['b/1'],
  );
  alpha.c.end();
  beta.c.end();
  pub.c.end();
  await broker.close();
});

test('[MQTT-3.1.2-7/3.1.1] retained messages are not part of the session: they outlive it', async () => {
  const { broker, clock } = fakeBroker({ sessions: { defaultExpiryInterval: 5 } });
  const owner = await connect(broker, 4, { clientId: 'owner', clean: false });
  owner.c.send({ type: PacketType.Publish, topic: 'keep/me', payload: Buffer.from('r'), qos: 1, retain: true, dup: false, packetId: 9 });
  await owner.c.expect(PacketType.Puback);
  await leave(owner.c);
  clock.advance(5_000);
  assert.equal(broker.sessions.has('owner'), false);
  const later = await connect(broker, 4, { clientId: 'later', clean: true });
  later.c.send({
    type: PacketType.Subscribe,
    packetId: 1,
    subscriptions: [{ topicFilter: 'keep/#', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
  });
  const m = await later.c.expect(PacketType.Publish);
  assert.equal(m.topic, 'keep/me');
  assert.equal(m.retain, true);
  later.c.end();
  await broker.close();
});

test('[MQTT-4.1.0-1/3.1.1] [MQTT-4.1.0-2/3.1.1] a session lasts as long as its network connection, however long', async () => {
  const { broker, clock } = fakeBroker({ sessions: { defaultExpiryInterval: 1 } });
  const persistentOne = await connect(broker, 4, { clientId: 'p', clean: false });
  const cleanOne = await connect(broker, 4, { clientId: 'c', clean: true });
  await subscribe(persistentOne.c, 't/#', 1);
  await subscribe(cleanOne.c, 't/#', 1);
  clock.advance(30 * 24 * 3600 * 1000);
  const pub = await connect(broker, 4, { clientId: 'pub' });
  await publish(pub.c, 't/x', 'still subscribed', 1);
  assert.equal((await persistentOne.c.expect(PacketType.Publish)).topic, 't/x');
  assert.equal((await cleanOne.c.expect(PacketType.Publish)).topic, 't/x');
  persistentOne.c.end();
  cleanOne.c.end();
  pub.c.end();
  await broker.close();
});

// ---- messages for offline sessions ---------------------------------------------------------------

async function offlineQueued(version: 4 | 5): Promise<void> {
  const { broker } = fakeBroker();
  const id = `off${version}`;
  const first = await connect(broker, version, persistent(version, id));
  await subscribe(first.c, 'off/#', 2);
  await leave(first.c);
  const pub = await connect(broker, 5, { clientId: `pub${version}` });
  await publish(pub.c, 'off/0', 'zero', 0);
  await publish(pub.c, 'off/1', 'one', 1, 101);
  await publish(pub.c, 'off/2', 'two', 2, 102);
  const { c, ack } = await connect(broker, version, persistent(version, id));
  assert.equal(ack.sessionPresent, true);
  const m1 = await c.expect(PacketType.Publish);
  assert.equal(m1.topic, 'off/1');
  assert.equal(m1.qos, 1);
  assert.equal(m1.dup, false);
  c.send({ type: PacketType.Puback, packetId: m1.packetId ?? 0, reasonCode: 0 });
  const m2 = await c.expect(PacketType.Publish);
  assert.equal(m2.topic, 'off/2');
  assert.equal(m2.qos, 2);
  assert.equal(m2.payload.toString(), 'two');
  assert.notEqual(m2.packetId, m1.packetId);
  await barrier(c);
  assert.deepEqual(
    publishesOf(c).map((p) => p.topic),
    ['off/1', 'off/2'],
  );
  c.end();
  pub.c.end();
  await broker.close();
}

test('[MQTT-3.1.2-23/5.0] [MQTT-3.1.2-5/5.0] v5: QoS 1 and 2 messages published while offline are delivered on resume, QoS 0 is not kept', () =>
  offlineQueued(5));
test('[MQTT-3.1.2-5/3.1.1] v4: QoS 1 and 2 messages published while offline are delivered on resume, QoS 0 is not kept', () =>
  offlineQueued(4));

test('[MQTT-3.1.2-5/3.1.1] sessions.queueQos0WhenOffline keeps QoS 0 messages for offline sessions too', async () => {
  const { broker } = fakeBroker({ sessions: { queueQos0WhenOffline: true } });
  const first = await connect(broker, 4, { clientId: 'q0', clean: false });
  await subscribe(first.c, 'q0/#', 0);
  await leave(first.c);
  const pub = await connect(broker, 4, { clientId: 'pub' });
  await publish(pub.c, 'q0/x', 'kept', 0);
  await barrier(pub.c);
  const { c } = await connect(broker, 4, { clientId: 'q0', clean: false });
  const m = await c.expect(PacketType.Publish);
  assert.equal(m.topic, 'q0/x');
  assert.equal(m.qos, 0);
  c.end();
  pub.c.end();
  await broker.close();
});

// ---- resending unacknowledged packets -----------------------------------------------------------

async function resendQos1(version: 4 | 5): Promise<void> {
  const { broker } = fakeBroker();
  const cid = `r1v${version}`;
  const first = await connect(broker, version, persistent(version, cid));
  await subscribe(first.c, 'r/#', 1);
  const pub = await connect(broker, 5, { clientId: `pub${version}` });
  await publish(pub.c, 'r/1', 'once', 1);
  const original = await first.c.expect(PacketType.Publish);
  assert.equal(original.dup, false);
  await drop(broker, first.c, cid);
  const again = await connect(broker, version, persistent(version, cid));
  assert.equal(again.ack.sessionPresent, true);
  const resent = await again.c.expect(PacketType.Publish);
  assert.equal(resent.dup, true);
  assert.equal(resent.packetId, original.packetId);
  assert.equal(resent.qos, 1);
  assert.equal(resent.topic, 'r/1');
  assert.equal(resent.payload.toString(), 'once');
  // Acknowledged now: not resent on the next resume.
  again.c.send({ type: PacketType.Puback, packetId: resent.packetId ?? 0, reasonCode: 0 });
  await leave(again.c);
  const third = await connect(broker, version, persistent(version, cid));
  assert.equal(third.ack.sessionPresent, true);
  await barrier(third.c);
  assert.deepEqual(publishesOf(third.c), []);
  third.c.end();
  pub.c.end();
  await broker.close();
}

test('[MQTT-4.4.0-1/5.0] v5: an unacknowledged QoS 1 PUBLISH is resent on resume with DUP 1 and the same Packet Identifier', () =>
  resendQos1(5));
test('[MQTT-4.4.0-1/3.1.1] v4: an unacknowledged QoS 1 PUBLISH is resent on resume with DUP 1 and the same Packet Identifier', () =>
  resendQos1(4));

async function resendQos2(version: 4 | 5): Promise<void> {
  const { broker } = fakeBroker();
  const cid = `r2v${version}`;
  const first = await connect(broker, version, persistent(version, cid));
  await subscribe(first.c, 'r/#', 2);
  const pub = await connect(broker, 5, { clientId: `pub${version}` });
  await publish(pub.c, 'r/2', 'exactly once', 2);
  const original = await first.c.expect(PacketType.Publish);
  assert.equal(original.qos, 2);
  await drop(broker, first.c, cid);

  const second = await connect(broker, version, persistent(version, cid));
  const resent = await second.c.expect(PacketType.Publish);
  assert.equal(resent.dup, true);
  assert.equal(resent.packetId, original.packetId);
  assert.equal(resent.payload.toString(), 'exactly once');
  second.c.send({ type: PacketType.Pubrec, packetId: resent.packetId ?? 0, reasonCode: 0 });
  const rel = await second.c.expect(PacketType.Pubrel);
  assert.equal(rel.packetId, original.packetId);
  await drop(broker, second.c, cid);

  const third = await connect(broker, version, persistent(version, cid));
  const relAgain = await third.c.expect(PacketType.Pubrel);
  assert.equal(relAgain.packetId, original.packetId);
  third.c.send({ type: PacketType.Pubcomp, packetId: relAgain.packetId, reasonCode: 0 });
  await barrier(third.c);
  // The message itself is not sent again once PUBREC was received.
  assert.deepEqual(publishesOf(third.c), []);
  await leave(third.c);

  const fourth = await connect(broker, version, persistent(version, cid));
  await barrier(fourth.c);
  assert.deepEqual(
    fourth.c.received.map((p) => p.type),
    [PacketType.Connack, PacketType.Pingresp],
  );
  fourth.c.end();
  pub.c.end();
  await broker.close();
}

test('[MQTT-4.4.0-1/5.0] v5: QoS 2: an unacknowledged PUBLISH is resent with DUP 1, then after PUBREC the PUBREL is resent', () =>
  resendQos2(5));
test('[MQTT-4.4.0-1/3.1.1] v4: QoS 2: an unacknowledged PUBLISH is resent with DUP 1, then after PUBREC the PUBREL is resent', () =>
  resendQos2(4));

test('[MQTT-4.4.0-1/5.0] resent packets come before messages queued while offline', async () => {
  const { broker } = fakeBroker();
  const first = await connect(broker, 5, persistent(5, 'order'));
  await subscribe(first.c, 'o/#', 1);
  const pub = await connect(broker, 5, { clientId: 'pub' });
  await publish(pub.c, 'o/first', '1', 1);
  const original = await first.c.expect(PacketType.Publish);
  await drop(broker, first.c, 'order');
  await publish(pub.c, 'o/second', '2', 1, 101);
  const { c } = await connect(broker, 5, persistent(5, 'order'));
  const a = await c.expect(PacketType.Publish);
  const b = await c.expect(PacketType.Publish);
  assert.equal(a.topic, 'o/first');
  assert.equal(a.dup, true);
  assert.equal(a.packetId, original.packetId);
  assert.equal(b.topic, 'o/second');
  assert.equal(b.dup, false);
  assert.notEqual(b.packetId, a.packetId);
  c.end();
  pub.c.end();
  await broker.close();
});

test('[MQTT-4.4.0-1/5.0] an unacknowledged PUBLISH is not resent while the connection stays open', async () => {
  const { broker, clock } = fakeBroker();
  const { c } = await connect(broker, 5, persistent(5, 'patient'));
  await subscribe(c, 'p/#', 1);
  const pub = await connect(broker, 5, { clientId: 'pub' });
  await publish(pub.c, 'p/x', 'x', 1);
  await c.expect(PacketType.Publish);
  clock.advance(600_000);
  await barrier(c);
  assert.equal(publishesOf(c).length, 1);
  c.end();
  pub.c.end();
  await broker.close();
});

// ---- Session Expiry ------------------------------------------------------------------------------

test('[MQTT-3.1.2-4/3.1.1] 3.1.1 Clean Session 0 sessions last sessions.defaultExpiryInterval after disconnect (fake clock)', async () => {
  const { broker, clock } = fakeBroker({ sessions: { defaultExpiryInterval: 60 } });
  const first = await connect(broker, 4, { clientId: 'v4keep', clean: false });
  await subscribe(first.c, 'k/#', 1);
  await leave(first.c);
  clock.advance(59_999);
  const { c, ack } = await connect(broker, 4, { clientId: 'v4keep', clean: false });
  assert.equal(ack.sessionPresent, true);
  c.end();
  await broker.close();
});

for (const version of [3, 4] as const) {
  test(`[MQTT-3.2.2-3/3.1.1] v${version}: after sessions.defaultExpiryInterval the stored session is gone: Session Present 0`, async () => {
    const expired: string[] = [];
    const clock = new FakeClock();
    const broker = new Broker({
      clock,
      sysInterval: 0,
      sessions: { defaultExpiryInterval: 60 },
      hooks: [{ onSessionExpired: (e) => void expired.push(e.clientId) }],
    });
    const id = `v${version}gone`;
    const first = await connect(broker, version, { clientId: id, clean: false });
    await subscribe(first.c, 'g/#', 1);
    await leave(first.c);
    clock.advance(60_000);
    assert.deepEqual(expired, [id]);
    assert.equal(broker.metrics.sessionsExpired, 1);
    const { c, ack } = await connect(broker, version, { clientId: id, clean: false });
    assert.equal(ack.sessionPresent, false);
    const pub = await connect(broker, 4, { clientId: 'pub' });
    await publish(pub.c, 'g/x', 'x', 1);
    await barrier(c);
    assert.deepEqual(publishesOf(c), []);
    c.end();
    pub.c.end();
    await broker.close();
  });
}

test('[MQTT-3.1.2-23/5.0] [MQTT-4.1.0-2/5.0] 5.0 Session Expiry Interval N: kept for N seconds after disconnect, then discarded', async () => {
  const { broker, clock } = fakeBroker();
  const first = await connect(broker, 5, persistent(5, 'n30', 30));
  await subscribe(first.c, 'n/#', 1);
  await leave(first.c);
  clock.advance(29_999);
  const back = await connect(broker, 5, persistent(5, 'n30', 30));
  assert.equal(back.ack.sessionPresent, true);
  await leave(back.c);
  clock.advance(30_000);
  assert.equal(broker.sessions.has('n30'), false);
  const { c, ack } = await connect(broker, 5, persistent(5, 'n30', 30));
  assert.equal(ack.sessionPresent, false);
  c.end();
  await broker.close();
});

test('[MQTT-3.1.2-23/5.0] Clean Start 1 with a Session Expiry Interval: the new session is stored after disconnect', async () => {
  const { broker } = fakeBroker();
  const first = await connect(broker, 5, { clientId: 'cs1', clean: true, properties: { sessionExpiryInterval: 60 } });
  assert.equal(first.ack.sessionPresent, false);
  await subscribe(first.c, 'cs1/#', 1);
  await leave(first.c);
  const pub = await connect(broker, 5, { clientId: 'pub' });
  await publish(pub.c, 'cs1/x', 'kept for you', 1);
  const { c, ack } = await connect(broker, 5, persistent(5, 'cs1', 60));
  assert.equal(ack.sessionPresent, true);
  assert.equal((await c.expect(PacketType.Publish)).payload.toString(), 'kept for you');
  c.end();
  pub.c.end();
  await broker.close();
});

test('[MQTT-4.1.0-1/5.0] the session does not expire while its connection is open; the interval counts from disconnect', async () => {
  const { broker, clock } = fakeBroker();
  const first = await connect(broker, 5, persistent(5, 'open', 10));
  await subscribe(first.c, 'open/#', 1);
  clock.advance(3_600_000);
  await barrier(first.c);
  assert.equal(broker.sessions.has('open'), true);
  await leave(first.c);
  clock.advance(9_000);
  const second = await connect(broker, 5, persistent(5, 'open', 10));
  assert.equal(second.ack.sessionPresent, true);
  await leave(second.c);
  // A fresh 10 s from the second disconnect: 19 s after the first one.
  clock.advance(9_000);
  const third = await connect(broker, 5, persistent(5, 'open', 10));
  assert.equal(third.ack.sessionPresent, true);
  third.c.end();
  await broker.close();
});

test('[MQTT-3.1.2-23/5.0] Session Expiry Interval 0xFFFFFFFF never expires', async () => {
  const { broker, clock } = fakeBroker();
  const first = await connect(broker, 5, persistent(5, 'eternal', 0xffff_ffff));
  await leave(first.c);
  clock.advance(400 * 24 * 3600 * 1000);
  const { c, ack } = await connect(broker, 5, persistent(5, 'eternal', 0xffff_ffff));
  assert.equal(ack.sessionPresent, true);
  c.end();
  await broker.close();
});

test('[MQTT-4.1.0-2/5.0] sessions.maxExpiryInterval caps how long a session is kept', async () => {
  const { broker, clock } = fakeBroker({ sessions: { maxExpiryInterval: 20 } });
  const first = await connect(broker, 5, persistent(5, 'capped', 1000));
  assert.equal(first.ack.properties?.sessionExpiryInterval, 20);
  await leave(first.c);
  clock.advance(20_000);
  const { c, ack } = await connect(broker, 5, persistent(5, 'capped', 1000));
  assert.equal(ack.sessionPresent, false);
  c.end();
  await broker.close();
});

// ---- takeover ------------------------------------------------------------------------------------

test('[MQTT-3.1.4-3/5.0] a second connection with the same client id: the old one gets DISCONNECT 0x8E and is closed, over TCP', async () => {
  const h = await startBroker();
  try {
    const old = await h.client(5);
    await old.connect({ clientId: 'dup' });
    const neu = await h.client(5);
    const ack = await neu.connect({ clientId: 'dup' });
    assert.equal(ack.reasonCode, 0);
    const d = await old.expect(PacketType.Disconnect);
    assert.equal(d.reasonCode, ReasonCode.SessionTakenOver);
    assert.equal(d.properties?.sessionExpiryInterval, undefined);
    await old.waitClosed();
    await barrier(neu);
    assert.equal(neu.closed, false);
    assert.equal(h.broker.connectedCount, 1);
  } finally {
    await h.stop();
  }
});

test('[MQTT-3.1.4-2/3.1.1] a second 3.1.1 connection with the same client id closes the first (no DISCONNECT), over TCP', async () => {
  const h = await startBroker();
  try {
    const old = await h.client(4);
    await old.connect({ clientId: 'dup4' });
    const neu = await h.client(4);
    assert.equal((await neu.connect({ clientId: 'dup4' })).reasonCode, 0);
    await old.waitClosed();
    assert.deepEqual(
      old.received.map((p) => p.type),
      [PacketType.Connack],
    );
    await barrier(neu);
    assert.equal(h.broker.connectedCount, 1);
  } finally {
    await h.stop();
  }
});

async function takeoverContinues(version: 4 | 5): Promise<void> {
  const { broker } = fakeBroker();
  const cid = `move${version}`;
  const old = await connect(broker, version, persistent(version, cid));
  await subscribe(old.c, 'mv/#', 1);
  const pub = await connect(broker, 5, { clientId: `pub${version}` });
  await publish(pub.c, 'mv/inflight', 'unacked', 1);
  const original = await old.c.expect(PacketType.Publish);
  const neu = await connect(broker, version, persistent(version, cid));
  assert.equal(neu.ack.sessionPresent, true);
  await old.c.waitClosed();
  if (version === 5) assert.equal((await old.c.expect(PacketType.Disconnect)).reasonCode, ReasonCode.SessionTakenOver);
  const resent = await neu.c.expect(PacketType.Publish);
  assert.equal(resent.dup, true);
  assert.equal(resent.packetId, original.packetId);
  neu.c.send({ type: PacketType.Puback, packetId: resent.packetId ?? 0, reasonCode: 0 });
  await publish(pub.c, 'mv/after', 'new', 1, 101);
  const after = await neu.c.expect(PacketType.Publish, 2000, (p) => p.topic === 'mv/after');
  assert.equal(after.payload.toString(), 'new');
  assert.equal(publishesOf(old.c).length, 1);
  neu.c.end();
  pub.c.end();
  await broker.close();
}

test('[MQTT-3.1.4-3/5.0] [MQTT-3.2.2-3/5.0] v5: takeover with clean 0 continues the session: Session Present 1, subscriptions and in-flight messages move', () =>
  takeoverContinues(5));
test('[MQTT-3.1.4-2/3.1.1] [MQTT-3.2.2-2/3.1.1] v4: takeover with clean 0 continues the session: Session Present 1, subscriptions and in-flight messages move', () =>
  takeoverContinues(4));

test('[MQTT-3.1.4-3/5.0] [MQTT-3.1.2-4/5.0] takeover with Clean Start 1 starts a new session: Session Present 0, old subscriptions gone', async () => {
  const { broker } = fakeBroker();
  const old = await connect(broker, 5, persistent(5, 'fresh'));
  await subscribe(old.c, 'fr/#', 1);
  const neu = await connect(broker, 5, { clientId: 'fresh', clean: true, properties: { sessionExpiryInterval: 60 } });
  assert.equal(neu.ack.sessionPresent, false);
  assert.equal((await old.c.expect(PacketType.Disconnect)).reasonCode, ReasonCode.SessionTakenOver);
  const pub = await connect(broker, 5, { clientId: 'pub' });
  await publish(pub.c, 'fr/x', 'x', 1);
  await barrier(neu.c);
  assert.deepEqual(publishesOf(neu.c), []);
  neu.c.end();
  pub.c.end();
  await broker.close();
});

test('[MQTT-3.1.4-2/3.1.1] takeover across versions: a 5.0 connection replaces a 3.1.1 one and resumes its session', async () => {
  const { broker } = fakeBroker();
  const old = await connect(broker, 4, { clientId: 'cross', clean: false });
  await subscribe(old.c, 'x/#', 1);
  const neu = await connect(broker, 5, persistent(5, 'cross'));
  assert.equal(neu.ack.sessionPresent, true);
  await old.c.waitClosed();
  assert.deepEqual(
    old.c.received.map((p) => p.type),
    [PacketType.Connack, PacketType.Suback],
  );
  const pub = await connect(broker, 4, { clientId: 'pub' });
  await publish(pub.c, 'x/y', 'to v5', 1);
  const m = await neu.c.expect(PacketType.Publish);
  assert.equal(m.payload.toString(), 'to v5');
  neu.c.end();
  pub.c.end();
  await broker.close();
});
