import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { test } from 'node:test';
import { Broker } from '../../src/broker/broker.js';
import type { AuthenticateEvent, BrokerHooks, HookAnswer } from '../../src/broker/hooks.js';
import type { BrokerOptions } from '../../src/broker/options.js';
import { encodePacket, PacketType, type ProtocolVersion, type QoS, ReasonCode } from '../../src/protocol/index.js';
import { memoryClient, startBroker } from '../helpers/broker-harness.js';
import { FakeClock } from '../helpers/fake-clock.js';
import type { PacketClient } from '../helpers/packet-client.js';

// ---- helpers ------------------------------------------------------------------------------------

/** A broker driven by a fake clock, with $SYS off. */
function fakeBroker(options: BrokerOptions = {}): { broker: Broker; clock: FakeClock } {
  const clock = new FakeClock();
  return { broker: new Broker({ sysInterval: 0, ...options, clock }), clock };
}

async function subscribe(c: PacketClient, topicFilter: string, qos: QoS = 0, packetId = 1): Promise<void> {
  c.send({
    type: PacketType.Subscribe,
    packetId,
    subscriptions: [{ topicFilter, qos, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
  });
  const ack = await c.expect(PacketType.Suback, 2000, (p) => p.packetId === packetId);
  assert.equal(ack.reasonCodes[0], qos);
}

/** Round trip through the broker: everything it sent this client before the PINGRESP has arrived. */
async function barrier(c: PacketClient): Promise<void> {
  c.send({ type: PacketType.Pingreq });
  await c.expect(PacketType.Pingresp);
}

function publishes(c: PacketClient): number {
  return c.received.filter((p) => p.type === PacketType.Publish).length;
}

/** A CONNECT written by hand: protocol name, level, flags, keep alive 0, client id "a", then `extra`. */
function rawConnect(name: string, level: number, flags: number, tail: readonly number[] = [0, 1, 0x61]): Buffer {
  const nameBytes = Buffer.from(name, 'latin1');
  const body = Buffer.concat([
    Buffer.from([0, nameBytes.length]),
    nameBytes,
    Buffer.from([level, flags, 0, 0]),
    ...(level === 5 ? [Buffer.from([0])] : []),
    Buffer.from(tail),
  ]);
  return Buffer.concat([Buffer.from([0x10, body.length]), body]);
}

function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve: (value: T) => void = () => undefined;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

// ---- accepted -----------------------------------------------------------------------------------

test('[MQTT-3.1.4-5] [MQTT-3.2.0-1] a 5.0 CONNECT is accepted with CONNACK 0x00 as the first packet, over TCP', async () => {
  const h = await startBroker();
  try {
    const c = await h.client(5);
    const ack = await c.connect({ clientId: 'tcp5', clean: true });
    assert.equal(ack.reasonCode, ReasonCode.Success);
    assert.equal(ack.sessionPresent, false);
    assert.equal(c.received[0]?.type, PacketType.Connack);
    assert.equal(h.broker.isConnected('tcp5'), true);
  } finally {
    await h.stop();
  }
});

test('[MQTT-3.1.4-4/3.1.1] [MQTT-3.2.0-1/3.1.1] a 3.1.1 CONNECT is accepted with return code 0, over TCP', async () => {
  const h = await startBroker();
  try {
    const c = await h.client(4);
    const ack = await c.connect({ clientId: 'tcp4' });
    assert.equal(ack.reasonCode, 0);
    assert.equal(ack.properties, undefined);
    assert.equal(c.received[0]?.type, PacketType.Connack);
  } finally {
    await h.stop();
  }
});

test('[MQTT-3.1.4-4/3.1.1] MQTT 3.1 ("MQIsdp", level 3) is accepted and can publish and subscribe, over TCP', async () => {
  const h = await startBroker();
  try {
    const c = await h.client(3);
    const ack = await c.connect({ clientId: 'tcp3' });
    assert.equal(ack.reasonCode, 0);
    await subscribe(c, 'v3/t', 1);
    c.send({ type: PacketType.Publish, topic: 'v3/t', payload: Buffer.from('hi'), qos: 1, retain: false, dup: false, packetId: 7 });
    const puback = await c.expect(PacketType.Puback);
    assert.equal(puback.packetId, 7);
    const msg = await c.expect(PacketType.Publish);
    assert.equal(msg.topic, 'v3/t');
    assert.equal(msg.payload.toString(), 'hi');
  } finally {
    await h.stop();
  }
});

test('[MQTT-3.1.4-4/3.1.1] MQTT 3.1 CONNECT written by hand ("MQIsdp", level 3) gets CONNACK 0', async () => {
  const { broker } = fakeBroker();
  const c = memoryClient(broker, 3);
  c.sendRaw(rawConnect('MQIsdp', 3, 0x02));
  const ack = await c.expect(PacketType.Connack);
  assert.equal(ack.reasonCode, 0);
  assert.equal(broker.isConnected('a'), true);
  c.end();
  await broker.close();
});

// ---- protocol name and level --------------------------------------------------------------------

test('[MQTT-3.1.2-2/3.1.1] an unsupported protocol level (6) is answered CONNACK return code 1 and closed, over TCP', async () => {
  const h = await startBroker();
  try {
    const c = await h.client(4);
    c.sendRaw(rawConnect('MQTT', 6, 0x02));
    const ack = await c.expect(PacketType.Connack);
    assert.equal(ack.reasonCode, 1);
    assert.equal(ack.sessionPresent, false);
    await c.waitClosed();
    assert.equal(h.broker.connectedCount, 0);
  } finally {
    await h.stop();
  }
});

test('[MQTT-3.1.2-2/3.1.1] level 4 under the 3.1 name "MQIsdp" is refused with return code 1', async () => {
  const { broker } = fakeBroker();
  const c = memoryClient(broker, 4);
  c.sendRaw(rawConnect('MQIsdp', 4, 0x02));
  const ack = await c.expect(PacketType.Connack);
  assert.equal(ack.reasonCode, 1);
  await c.waitClosed();
  await broker.close();
});

test('[MQTT-3.1.2-1/3.1.1] an unknown protocol name closes the connection without accepting it', async () => {
  const { broker } = fakeBroker();
  const c = memoryClient(broker, 4);
  c.sendRaw(rawConnect('MQTX', 4, 0x02));
  await c.waitClosed();
  assert.equal(
    c.received.some((p) => p.type === PacketType.Connack && p.reasonCode === 0),
    false,
  );
  assert.equal(broker.connectedCount, 0);
  await broker.close();
});

// ---- malformed CONNECT and packet order ---------------------------------------------------------

async function reservedFlagSet(version: 4 | 5): Promise<void> {
  const { broker } = fakeBroker();
  const c = memoryClient(broker, version);
  c.sendRaw(rawConnect('MQTT', version, 0x03));
  await c.waitClosed();
  assert.deepEqual(c.received, []);
  assert.equal(broker.isConnected('a'), false);
  await broker.close();
}

test('[MQTT-3.1.4-1/5.0] [MQTT-3.1.2-3/5.0] v5: CONNECT with the reserved flag set closes the connection without CONNACK', () =>
  reservedFlagSet(5));
test('[MQTT-3.1.4-1/3.1.1] [MQTT-3.1.2-3/3.1.1] v4: CONNECT with the reserved flag set closes the connection without CONNACK', () =>
  reservedFlagSet(4));

test('[MQTT-3.1.4-1/3.1.1] CONNECT with Will QoS 3 closes without CONNACK', async () => {
  const { broker } = fakeBroker();
  const c = memoryClient(broker, 4);
  // Will flag + Will QoS 3 + clean; payload: client id "a", will topic "w", will payload "x".
  c.sendRaw(rawConnect('MQTT', 4, 0x1e, [0, 1, 0x61, 0, 1, 0x77, 0, 1, 0x78]));
  await c.waitClosed();
  assert.deepEqual(c.received, []);
  await broker.close();
});

test('[MQTT-3.1.4-1/3.1.1] CONNECT with bytes after the last field closes without CONNACK', async () => {
  const { broker } = fakeBroker();
  const c = memoryClient(broker, 4);
  c.sendRaw(rawConnect('MQTT', 4, 0x02, [0, 1, 0x61, 0xff]));
  await c.waitClosed();
  assert.deepEqual(c.received, []);
  await broker.close();
});

test('[MQTT-3.1.4-1/5.0] v5 CONNECT with a truncated property list closes without CONNACK', async () => {
  const { broker } = fakeBroker();
  const c = memoryClient(broker, 5);
  // Properties length 5 but only a Session Expiry Interval identifier and two bytes follow.
  const body = Buffer.from([0, 4, 0x4d, 0x51, 0x54, 0x54, 5, 0x02, 0, 0, 5, 0x11, 0, 0]);
  c.sendRaw(Buffer.concat([Buffer.from([0x10, body.length]), body]));
  await c.waitClosed();
  assert.deepEqual(c.received, []);
  await broker.close();
});

async function firstPacketNotConnect(version: 4 | 5): Promise<void> {
  const { broker } = fakeBroker();
  const c = memoryClient(broker, version);
  c.send({ type: PacketType.Publish, topic: 'early', payload: Buffer.from('x'), qos: 0, retain: true, dup: false });
  await c.waitClosed();
  assert.deepEqual(c.received, []);
  assert.equal(broker.retained.size, 0);
  await broker.close();
}

test('[MQTT-3.1.0-1/5.0] [MQTT-3.14.0-1] v5: a first packet other than CONNECT closes the connection and gets no reply', () =>
  firstPacketNotConnect(5));
test('[MQTT-3.1.0-1/3.1.1] v4: a first packet other than CONNECT closes the connection and gets no reply', () => firstPacketNotConnect(4));

test('[MQTT-3.1.0-1/5.0] PINGREQ before CONNECT closes the connection without PINGRESP', async () => {
  const { broker } = fakeBroker();
  const c = memoryClient(broker, 5);
  c.send({ type: PacketType.Pingreq });
  await c.waitClosed();
  assert.deepEqual(c.received, []);
  await broker.close();
});

test('[MQTT-3.1.0-2/5.0] [MQTT-3.2.0-2] a second CONNECT is a Protocol Error: DISCONNECT 0x82, one CONNACK only', async () => {
  const { broker } = fakeBroker();
  const c = memoryClient(broker, 5);
  await c.connect({ clientId: 'twice' });
  c.send({ type: PacketType.Connect, protocolVersion: 5, clientId: 'twice', clean: true, keepAlive: 0 });
  const d = await c.expect(PacketType.Disconnect);
  assert.equal(d.reasonCode, ReasonCode.ProtocolError);
  await c.waitClosed();
  assert.equal(c.received.filter((p) => p.type === PacketType.Connack).length, 1);
  assert.equal(broker.isConnected('twice'), false);
  await broker.close();
});

test('[MQTT-3.1.0-2/3.1.1] a second CONNECT closes a 3.1.1 connection (no DISCONNECT in 3.1.1)', async () => {
  const { broker } = fakeBroker();
  const c = memoryClient(broker, 4);
  await c.connect({ clientId: 'twice4' });
  c.send({ type: PacketType.Connect, protocolVersion: 4, clientId: 'twice4', clean: true, keepAlive: 0 });
  await c.waitClosed();
  assert.deepEqual(
    c.received.map((p) => p.type),
    [PacketType.Connack],
  );
  assert.equal(broker.isConnected('twice4'), false);
  await broker.close();
});

test('[MQTT-3.1.0-1/5.0] a connection that sends no CONNECT is closed after limits.connectTimeout (fake clock)', async () => {
  const { broker, clock } = fakeBroker({ limits: { connectTimeout: 5000 } });
  const c = memoryClient(broker, 5);
  await new Promise((r) => setImmediate(r));
  assert.equal(broker.connectionCount, 1);
  clock.advance(4999);
  await new Promise((r) => setImmediate(r));
  assert.equal(c.closed, false);
  clock.advance(1);
  await c.waitClosed();
  assert.deepEqual(c.received, []);
  assert.equal(broker.connectionCount, 0);
  await broker.close();
});

test('[MQTT-3.1.0-1/5.0] the connect timeout is cancelled once CONNECT arrives', async () => {
  const { broker, clock } = fakeBroker({ limits: { connectTimeout: 5000 } });
  const c = memoryClient(broker, 5);
  await c.connect({ clientId: 'intime' });
  clock.advance(60_000);
  await barrier(c);
  assert.equal(c.closed, false);
  assert.equal(broker.isConnected('intime'), true);
  c.end();
  await broker.close();
});

// ---- Client Identifier --------------------------------------------------------------------------

test('[MQTT-3.1.3-9/3.1.1] MQTT 3.1: an empty client identifier is refused with return code 2', async () => {
  const { broker } = fakeBroker();
  const c = memoryClient(broker, 3);
  const ack = await c.connect({ clientId: '', clean: true });
  assert.equal(ack.reasonCode, 2);
  assert.equal(ack.sessionPresent, false);
  await c.waitClosed();
  await broker.close();
});

test('[MQTT-3.1.3-8/3.1.1] 3.1.1: an empty client identifier with Clean Session 0 is refused with return code 2', async () => {
  const { broker } = fakeBroker();
  const c = memoryClient(broker, 4);
  const ack = await c.connect({ clientId: '', clean: false });
  assert.equal(ack.reasonCode, 2);
  assert.equal(ack.sessionPresent, false);
  await c.waitClosed();
  assert.equal(broker.sessions.size, 0);
  await broker.close();
});

test('[MQTT-3.1.3-6/3.1.1] 3.1.1: an empty client identifier with Clean Session 1 gets a unique identifier', async () => {
  const { broker } = fakeBroker();
  const a = memoryClient(broker, 4);
  const b = memoryClient(broker, 4);
  assert.equal((await a.connect({ clientId: '', clean: true })).reasonCode, 0);
  await subscribe(a, 'anon/t');
  assert.equal((await b.connect({ clientId: '', clean: true })).reasonCode, 0);
  // Both are connected under different identifiers: the second did not take the first over.
  assert.equal(broker.connectedCount, 2);
  b.send({ type: PacketType.Publish, topic: 'anon/t', payload: Buffer.from('p'), qos: 0, retain: false, dup: false });
  const got = await a.expect(PacketType.Publish);
  assert.equal(got.payload.toString(), 'p');
  assert.equal(a.closed, false);
  a.end();
  b.end();
  await broker.close();
});

test('[MQTT-3.1.3-6/5.0] [MQTT-3.1.3-7/5.0] [MQTT-3.2.2-16] 5.0: an empty client identifier gets an Assigned Client Identifier', async () => {
  const { broker } = fakeBroker();
  const a = memoryClient(broker, 5);
  const b = memoryClient(broker, 5);
  const ackA = await a.connect({ clientId: '', clean: true });
  const ackB = await b.connect({ clientId: '', clean: true });
  assert.equal(ackA.reasonCode, 0);
  const idA = ackA.properties?.assignedClientIdentifier;
  const idB = ackB.properties?.assignedClientIdentifier;
  assert.equal(typeof idA, 'string');
  assert.equal(typeof idB, 'string');
  assert.notEqual(idA, '');
  assert.notEqual(idA, idB);
  assert.equal(broker.isConnected(idA ?? ''), true);
  assert.equal(broker.isConnected(idB ?? ''), true);
  a.end();
  b.end();
  await broker.close();
});

test('[MQTT-3.2.2-16] 5.0: no Assigned Client Identifier when the client chose one', async () => {
  const { broker } = fakeBroker();
  const c = memoryClient(broker, 5);
  const ack = await c.connect({ clientId: 'mine' });
  assert.equal(ack.properties?.assignedClientIdentifier, undefined);
  c.end();
  await broker.close();
});

test('[MQTT-3.1.3-5/5.0] [MQTT-3.1.3-5/3.1.1] 23-character alphanumeric client identifiers are allowed', async () => {
  const { broker } = fakeBroker();
  const id = 'abcdefghijXYZ0123456789';
  assert.equal(id.length, 23);
  for (const version of [4, 5] as const) {
    const c = memoryClient(broker, version);
    const ack = await c.connect({ clientId: `${id.slice(0, 22)}${version}` });
    assert.equal(ack.reasonCode, 0);
    c.end();
  }
  await broker.close();
});

test('[MQTT-3.1.3-8/5.0] a client identifier longer than limits.maxClientIdLength is refused with 0x85', async () => {
  const { broker } = fakeBroker({ limits: { maxClientIdLength: 10 } });
  const ok = memoryClient(broker, 5);
  assert.equal((await ok.connect({ clientId: '0123456789' })).reasonCode, 0);
  const c = memoryClient(broker, 5);
  const ack = await c.connect({ clientId: '0123456789a' });
  assert.equal(ack.reasonCode, ReasonCode.ClientIdentifierNotValid);
  assert.equal(ack.sessionPresent, false);
  await c.waitClosed();
  assert.equal(broker.metrics.limitHits.get('maxClientIdLength'), 1);
  ok.end();
  await broker.close();
});

test('[MQTT-3.1.3-9/3.1.1] a client identifier longer than limits.maxClientIdLength is refused with return code 2', async () => {
  const { broker } = fakeBroker({ limits: { maxClientIdLength: 10 } });
  const c = memoryClient(broker, 4);
  const ack = await c.connect({ clientId: '0123456789a' });
  assert.equal(ack.reasonCode, 2);
  await c.waitClosed();
  await broker.close();
});

// ---- limits and authentication ------------------------------------------------------------------

test('[MQTT-3.1.4-2/5.0] [MQTT-3.2.2-6/5.0] [MQTT-3.2.2-7/5.0] over limits.maxConnections: CONNACK 0x97, connection closed', async () => {
  const { broker } = fakeBroker({ limits: { maxConnections: 1 } });
  const first = memoryClient(broker, 5);
  await first.connect({ clientId: 'first' });
  const second = memoryClient(broker, 5);
  const ack = await second.connect({ clientId: 'second' });
  assert.equal(ack.reasonCode, ReasonCode.QuotaExceeded);
  assert.equal(ack.sessionPresent, false);
  await second.waitClosed();
  // The same client id is a takeover, not a new connection, and is allowed.
  const again = memoryClient(broker, 5);
  assert.equal((await again.connect({ clientId: 'first' })).reasonCode, 0);
  first.end();
  again.end();
  await broker.close();
});

test('[MQTT-3.2.2-4/3.1.1] [MQTT-3.2.2-5/3.1.1] over limits.maxConnections: 3.1.1 gets return code 3 and is closed', async () => {
  const { broker } = fakeBroker({ limits: { maxConnections: 1 } });
  const first = memoryClient(broker, 4);
  await first.connect({ clientId: 'first' });
  const second = memoryClient(broker, 4);
  const ack = await second.connect({ clientId: 'second', clean: false });
  assert.equal(ack.reasonCode, 3);
  assert.equal(ack.sessionPresent, false);
  await second.waitClosed();
  first.end();
  await broker.close();
});

async function anonymousRefused(version: ProtocolVersion, code: number): Promise<void> {
  const { broker } = fakeBroker({ allowAnonymous: false });
  const c = memoryClient(broker, version);
  const ack = await c.connect({ clientId: `anon${version}` });
  assert.equal(ack.reasonCode, code);
  assert.equal(ack.sessionPresent, false);
  await c.waitClosed();
  assert.equal(broker.sessions.size, 0);
  await broker.close();
}

test('[MQTT-3.1.4-2/5.0] v5: allowAnonymous false refuses a CONNECT without credentials (0x87)', () =>
  anonymousRefused(5, ReasonCode.NotAuthorized));
test('[MQTT-3.2.2-5/3.1.1] v4: allowAnonymous false refuses a CONNECT without credentials (return code 5)', () => anonymousRefused(4, 5));
test('[MQTT-3.2.2-5/3.1.1] v3: allowAnonymous false refuses a CONNECT without credentials (return code 5)', () => anonymousRefused(3, 5));

function hookBroker(authenticate: (e: AuthenticateEvent) => HookAnswer | Promise<HookAnswer>, options: BrokerOptions = {}) {
  const hooks: BrokerHooks[] = [{ name: 'test-auth', authenticate }];
  return fakeBroker({ ...options, hooks });
}

test('[MQTT-3.1.4-5] authenticate hook allow admits the client even with allowAnonymous false, and sees its credentials', async () => {
  const events: AuthenticateEvent[] = [];
  const { broker } = hookBroker(
    (e) => {
      events.push(e);
      return e.password?.toString() === 'secret' ? 'allow' : 'deny';
    },
    { allowAnonymous: false },
  );
  const c = memoryClient(broker, 5);
  const ack = await c.connect({ clientId: 'u1', username: 'alice', password: Buffer.from('secret'), keepAlive: 30 });
  assert.equal(ack.reasonCode, 0);
  assert.equal(events.length, 1);
  assert.equal(events[0]?.client.clientId, 'u1');
  assert.equal(events[0]?.client.username, 'alice');
  assert.equal(events[0]?.client.protocolVersion, 5);
  assert.equal(events[0]?.keepAlive, 30);
  c.end();
  await broker.close();
});

test('[MQTT-3.1.4-2/5.0] authenticate hook deny: 0x86 with a user name, 0x87 without', async () => {
  const { broker } = hookBroker(() => 'deny');
  const withUser = memoryClient(broker, 5);
  const a = await withUser.connect({ clientId: 'd1', username: 'bob', password: Buffer.from('wrong') });
  assert.equal(a.reasonCode, ReasonCode.BadUserNameOrPassword);
  await withUser.waitClosed();
  const noUser = memoryClient(broker, 5);
  const b = await noUser.connect({ clientId: 'd2' });
  assert.equal(b.reasonCode, ReasonCode.NotAuthorized);
  await noUser.waitClosed();
  assert.equal(broker.sessions.size, 0);
  await broker.close();
});

test('[MQTT-3.2.2-5/3.1.1] authenticate hook deny: 3.1.1 return code 4 with a user name, 5 without', async () => {
  const { broker } = hookBroker(async (): Promise<HookAnswer> => 'deny');
  const withUser = memoryClient(broker, 4);
  assert.equal((await withUser.connect({ clientId: 'd1', username: 'bob', password: Buffer.from('x') })).reasonCode, 4);
  await withUser.waitClosed();
  const noUser = memoryClient(broker, 4);
  assert.equal((await noUser.connect({ clientId: 'd2' })).reasonCode, 5);
  await noUser.waitClosed();
  await broker.close();
});

test('[MQTT-3.1.4-2/5.0] authenticate hook deny with its own reason code (0x8A Banned) is sent as is; 3.1.1 maps it to 5', async () => {
  const { broker } = hookBroker(() => ({ verdict: 'deny', reasonCode: ReasonCode.Banned, reasonString: 'go away' }));
  const c5 = memoryClient(broker, 5);
  const ack5 = await c5.connect({ clientId: 'b5' });
  assert.equal(ack5.reasonCode, ReasonCode.Banned);
  assert.equal(ack5.properties?.reasonString, 'go away');
  await c5.waitClosed();
  const c4 = memoryClient(broker, 4);
  assert.equal((await c4.connect({ clientId: 'b4' })).reasonCode, 5);
  await c4.waitClosed();
  await broker.close();
});

test('[MQTT-3.1.4-5] authenticate hook defer falls back to allowAnonymous (true: accepted)', async () => {
  const { broker } = hookBroker(() => 'defer');
  const c = memoryClient(broker, 5);
  assert.equal((await c.connect({ clientId: 'def' })).reasonCode, 0);
  c.end();
  await broker.close();
});

test('[MQTT-3.1.4-2/5.0] authenticate hook defer falls back to allowAnonymous (false: 0x87)', async () => {
  const { broker } = hookBroker(() => undefined, { allowAnonymous: false });
  const c = memoryClient(broker, 5);
  assert.equal((await c.connect({ clientId: 'def' })).reasonCode, ReasonCode.NotAuthorized);
  await c.waitClosed();
  await broker.close();
});

test('[MQTT-3.1.4-2/5.0] an authenticate hook that throws denies (fail closed)', async () => {
  const { broker } = hookBroker(() => {
    throw new Error('database down');
  });
  const c = memoryClient(broker, 5);
  const ack = await c.connect({ clientId: 'thr', username: 'u', password: Buffer.from('p') });
  assert.equal(ack.reasonCode, ReasonCode.BadUserNameOrPassword);
  await c.waitClosed();
  const r = memoryClient(broker, 5);
  assert.equal((await r.connect({ clientId: 'thr2' })).reasonCode, ReasonCode.NotAuthorized);
  await r.waitClosed();
  await broker.close();
});

test('[MQTT-3.1.4-2/5.0] an authenticate hook that rejects its promise denies', async () => {
  const { broker } = hookBroker(() => Promise.reject(new Error('nope')));
  const c = memoryClient(broker, 4);
  assert.equal((await c.connect({ clientId: 'rej' })).reasonCode, 5);
  await c.waitClosed();
  await broker.close();
});

test('[MQTT-3.1.4-2/5.0] an authenticate hook that never answers is denied after the hook timeout (fake clock)', async () => {
  const called = deferred<void>();
  const { broker, clock } = hookBroker(() => {
    called.resolve();
    return new Promise<HookAnswer>(() => undefined);
  });
  const c = memoryClient(broker, 5);
  c.send({ type: PacketType.Connect, protocolVersion: 5, clientId: 'slow', clean: true, keepAlive: 0 });
  await called.promise;
  clock.advance(4999);
  assert.equal(await c.expectNone(PacketType.Connack, 30), true);
  clock.advance(1);
  const ack = await c.expect(PacketType.Connack);
  assert.equal(ack.reasonCode, ReasonCode.NotAuthorized);
  await c.waitClosed();
  assert.equal(broker.isConnected('slow'), false);
  await broker.close();
});

test('[MQTT-3.1.4-6/5.0] packets sent after a CONNECT that a hook then refuses are not processed', async () => {
  const { broker } = hookBroker(async (): Promise<HookAnswer> => 'deny');
  const c = memoryClient(broker, 5);
  c.sendRaw(
    Buffer.concat([
      encodePacket({ type: PacketType.Connect, protocolVersion: 5, clientId: 'refused', clean: true, keepAlive: 0 }, 5),
      encodePacket({ type: PacketType.Publish, topic: 'sneaky', payload: Buffer.from('x'), qos: 0, retain: true, dup: false }, 5),
      encodePacket({ type: PacketType.Pingreq }, 5),
    ]),
  );
  const ack = await c.expect(PacketType.Connack);
  assert.equal(ack.reasonCode, ReasonCode.NotAuthorized);
  await c.waitClosed();
  assert.deepEqual(
    c.received.map((p) => p.type),
    [PacketType.Connack],
  );
  assert.equal(broker.retained.size, 0);
  assert.equal(broker.metrics.publishReceived, 0);
  await broker.close();
});

test('[MQTT-3.1.4-5/3.1.1] packets sent after a refused CONNECT (empty id, Clean Session 0) are not processed', async () => {
  const { broker } = fakeBroker();
  const c = memoryClient(broker, 4);
  c.sendRaw(
    Buffer.concat([
      encodePacket({ type: PacketType.Connect, protocolVersion: 4, clientId: '', clean: false, keepAlive: 0 }, 4),
      encodePacket({ type: PacketType.Publish, topic: 'sneaky', payload: Buffer.from('x'), qos: 0, retain: true, dup: false }, 4),
    ]),
  );
  assert.equal((await c.expect(PacketType.Connack)).reasonCode, 2);
  await c.waitClosed();
  assert.equal(broker.retained.size, 0);
  await broker.close();
});

test('[MQTT-3.14.0-1] broker.close() while an authenticate hook is pending closes without DISCONNECT; a late answer is ignored', async () => {
  const called = deferred<void>();
  const answer = deferred<HookAnswer>();
  const { broker } = hookBroker(() => {
    called.resolve();
    return answer.promise;
  });
  const c = memoryClient(broker, 5);
  c.send({ type: PacketType.Connect, protocolVersion: 5, clientId: 'pending', clean: true, keepAlive: 0 });
  await called.promise;
  await broker.close();
  await c.waitClosed();
  answer.resolve('allow');
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(c.received, []);
  assert.equal(broker.isConnected('pending'), false);
});

test('[MQTT-3.2.0-1] packets pipelined behind CONNECT wait for an asynchronous hook and are answered after CONNACK', async () => {
  const { broker } = hookBroker(async (): Promise<HookAnswer> => 'allow');
  const c = memoryClient(broker, 5);
  c.sendRaw(
    Buffer.concat([
      encodePacket({ type: PacketType.Connect, protocolVersion: 5, clientId: 'pipe', clean: true, keepAlive: 0 }, 5),
      encodePacket(
        {
          type: PacketType.Subscribe,
          packetId: 3,
          subscriptions: [{ topicFilter: 'p/#', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
        },
        5,
      ),
      encodePacket({ type: PacketType.Pingreq }, 5),
    ]),
  );
  await c.expect(PacketType.Pingresp);
  assert.deepEqual(
    c.received.map((p) => p.type),
    [PacketType.Connack, PacketType.Suback, PacketType.Pingresp],
  );
  c.end();
  await broker.close();
});

test('[MQTT-4.12.0-1] a CONNECT with an Authentication Method the server does not support gets CONNACK 0x8C', async () => {
  const { broker } = fakeBroker();
  const c = memoryClient(broker, 5);
  const ack = await c.connect({ clientId: 'scram', properties: { authenticationMethod: 'SCRAM-SHA-1' } });
  assert.equal(ack.reasonCode, ReasonCode.BadAuthenticationMethod);
  assert.equal(ack.sessionPresent, false);
  await c.waitClosed();
  assert.equal(broker.isConnected('scram'), false);
  await broker.close();
});

test('[MQTT-3.2.2-12] a Will QoS above capabilities.maximumQoS is refused with CONNACK 0x9B', async () => {
  const { broker } = fakeBroker({ capabilities: { maximumQoS: 1 } });
  const c = memoryClient(broker, 5);
  const ack = await c.connect({ clientId: 'wq', will: { topic: 'w', payload: Buffer.from('x'), qos: 2, retain: false } });
  assert.equal(ack.reasonCode, ReasonCode.QoSNotSupported);
  await c.waitClosed();
  const ok = memoryClient(broker, 5);
  const ack2 = await ok.connect({ clientId: 'wq1', will: { topic: 'w', payload: Buffer.from('x'), qos: 1, retain: false } });
  assert.equal(ack2.reasonCode, 0);
  assert.equal(ack2.properties?.maximumQoS, 1);
  ok.end();
  await broker.close();
});

test('[MQTT-3.2.2-13] a retained Will when retain is not available is refused with CONNACK 0x9A', async () => {
  const { broker } = fakeBroker({ capabilities: { retainAvailable: false } });
  const c = memoryClient(broker, 5);
  const ack = await c.connect({ clientId: 'wr', will: { topic: 'w', payload: Buffer.from('x'), qos: 0, retain: true } });
  assert.equal(ack.reasonCode, ReasonCode.RetainNotSupported);
  await c.waitClosed();
  const ok = memoryClient(broker, 5);
  const ack2 = await ok.connect({ clientId: 'wr1', will: { topic: 'w', payload: Buffer.from('x'), qos: 0, retain: false } });
  assert.equal(ack2.reasonCode, 0);
  assert.equal(ack2.properties?.retainAvailable, false);
  ok.end();
  await broker.close();
});

test('[MQTT-3.2.2-6/3.1.1] 3.1.1: a Will QoS above capabilities.maximumQoS closes the connection without CONNACK', async () => {
  const { broker } = fakeBroker({ capabilities: { maximumQoS: 1 } });
  const c = memoryClient(broker, 4);
  c.send({
    type: PacketType.Connect,
    protocolVersion: 4,
    clientId: 'wq4',
    clean: true,
    keepAlive: 0,
    will: { topic: 'w', payload: Buffer.from('x'), qos: 2, retain: false },
  });
  await c.waitClosed();
  assert.deepEqual(c.received, []);
  assert.equal(broker.isConnected('wq4'), false);
  await broker.close();
});

// ---- CONNACK properties -------------------------------------------------------------------------

test('[MQTT-3.2.2-15] [MQTT-3.3.4-9] CONNACK carries Maximum Packet Size, Receive Maximum and Topic Alias Maximum as configured', async () => {
  const { broker } = fakeBroker({
    limits: { maxPacketSize: 4096 },
    capabilities: { receiveMaximum: 10, topicAliasMaximum: 7 },
  });
  const c = memoryClient(broker, 5);
  const ack = await c.connect({ clientId: 'props' });
  assert.equal(ack.reasonCode, 0);
  assert.equal(ack.properties?.maximumPacketSize, 4096);
  assert.equal(ack.properties?.receiveMaximum, 10);
  assert.equal(ack.properties?.topicAliasMaximum, 7);
  assert.equal(ack.properties?.serverKeepAlive, undefined);
  assert.equal(ack.properties?.sessionExpiryInterval, undefined);
  assert.equal(ack.properties?.responseInformation, undefined);
  assert.equal(ack.properties?.authenticationMethod, undefined);
  c.end();
  await broker.close();
});

test('[MQTT-3.2.2-18] CONNACK has no Topic Alias Maximum when topic aliases are off', async () => {
  const { broker } = fakeBroker({ capabilities: { topicAliasMaximum: 0 } });
  const c = memoryClient(broker, 5);
  const ack = await c.connect({ clientId: 'noalias' });
  assert.equal(ack.properties?.topicAliasMaximum, undefined);
  c.end();
  await broker.close();
});

test('[MQTT-3.2.2-21] [MQTT-3.2.2-22] Server Keep Alive is sent only when limits.maxKeepAlive is lower than the client asked', async () => {
  const { broker } = fakeBroker({ limits: { maxKeepAlive: 30 } });
  const high = memoryClient(broker, 5);
  const a = await high.connect({ clientId: 'high', keepAlive: 60 });
  assert.equal(a.reasonCode, 0);
  assert.equal(a.properties?.serverKeepAlive, 30);
  const zero = memoryClient(broker, 5);
  const b = await zero.connect({ clientId: 'zero', keepAlive: 0 });
  assert.equal(b.properties?.serverKeepAlive, 30);
  const low = memoryClient(broker, 5);
  const d = await low.connect({ clientId: 'low', keepAlive: 20 });
  assert.equal(d.properties?.serverKeepAlive, undefined);
  high.end();
  zero.end();
  low.end();
  await broker.close();
});

test('[MQTT-3.1.2-23/5.0] CONNACK Session Expiry Interval is sent when sessions.maxExpiryInterval caps the request', async () => {
  const { broker } = fakeBroker({ sessions: { maxExpiryInterval: 100 } });
  const capped = memoryClient(broker, 5);
  const a = await capped.connect({ clientId: 'cap', clean: true, properties: { sessionExpiryInterval: 0xffff_ffff } });
  assert.equal(a.properties?.sessionExpiryInterval, 100);
  const under = memoryClient(broker, 5);
  const b = await under.connect({ clientId: 'under', clean: true, properties: { sessionExpiryInterval: 50 } });
  assert.equal(b.properties?.sessionExpiryInterval, undefined);
  capped.end();
  under.end();
  await broker.close();
});

test('[MQTT-3.1.2-28] Response Information is returned only to clients that request it', async () => {
  const { broker } = fakeBroker({ responseInformation: 'replies/' });
  const asks = memoryClient(broker, 5);
  const a = await asks.connect({ clientId: 'asks', properties: { requestResponseInformation: true } });
  assert.equal(a.properties?.responseInformation, 'replies/');
  const declines = memoryClient(broker, 5);
  const b = await declines.connect({ clientId: 'declines', properties: { requestResponseInformation: false } });
  assert.equal(b.properties?.responseInformation, undefined);
  const silent = memoryClient(broker, 5);
  const d = await silent.connect({ clientId: 'silent' });
  assert.equal(d.properties?.responseInformation, undefined);
  asks.end();
  declines.end();
  silent.end();
  await broker.close();
});

test('[MQTT-3.2.2-19] a refusing CONNACK leaves out the Reason String when it would exceed the client Maximum Packet Size', async () => {
  const long = 'r'.repeat(200);
  const { broker } = hookBroker(() => ({ verdict: 'deny', reasonCode: ReasonCode.NotAuthorized, reasonString: long }));
  const small = memoryClient(broker, 5);
  const bytes: Buffer[] = [];
  small.stream.on('data', (chunk: Buffer) => bytes.push(chunk));
  const ack = await small.connect({ clientId: 'small', properties: { maximumPacketSize: 64 } });
  assert.equal(ack.reasonCode, ReasonCode.NotAuthorized);
  assert.equal(ack.properties?.reasonString, undefined);
  await small.waitClosed();
  assert.ok(Buffer.concat(bytes).length <= 64, `CONNACK of ${Buffer.concat(bytes).length} bytes`);
  // A client without the limit gets the Reason String.
  const large = memoryClient(broker, 5);
  const ack2 = await large.connect({ clientId: 'large' });
  assert.equal(ack2.properties?.reasonString, long);
  await large.waitClosed();
  await broker.close();
});

test('[MQTT-3.2.2-19] the Maximum Packet Size is respected for refusals decided before anything else (client id too long)', async () => {
  const { broker } = fakeBroker({ limits: { maxClientIdLength: 4 } });
  const c = memoryClient(broker, 5);
  const bytes: Buffer[] = [];
  c.stream.on('data', (chunk: Buffer) => bytes.push(chunk));
  const ack = await c.connect({ clientId: 'toolong', properties: { maximumPacketSize: 8 } });
  assert.equal(ack.reasonCode, ReasonCode.ClientIdentifierNotValid);
  assert.equal(ack.properties?.reasonString, undefined);
  await c.waitClosed();
  assert.ok(Buffer.concat(bytes).length <= 8, `CONNACK of ${Buffer.concat(bytes).length} bytes`);
  await broker.close();
});

test('[MQTT-3.2.2-6/5.0] a refused 5.0 CONNECT has Session Present 0 even when a session exists', async () => {
  const { broker } = hookBroker((e) => (e.client.username === 'ok' ? 'allow' : 'deny'));
  const first = memoryClient(broker, 5);
  await first.connect({ clientId: 'keep', clean: false, username: 'ok', properties: { sessionExpiryInterval: 300 } });
  first.send({ type: PacketType.Disconnect, reasonCode: 0 });
  await first.waitClosed();
  const second = memoryClient(broker, 5);
  const ack = await second.connect({ clientId: 'keep', clean: false, username: 'bad' });
  assert.equal(ack.reasonCode, ReasonCode.BadUserNameOrPassword);
  assert.equal(ack.sessionPresent, false);
  await second.waitClosed();
  // The refused attempt did not touch the stored session.
  const third = memoryClient(broker, 5);
  const ok = await third.connect({ clientId: 'keep', clean: false, username: 'ok', properties: { sessionExpiryInterval: 300 } });
  assert.equal(ok.sessionPresent, true);
  third.end();
  await broker.close();
});

test('[MQTT-3.1.4-3/5.0] a refused CONNECT does not take over the connected client with that identifier', async () => {
  const { broker } = hookBroker((e) => (e.client.username === 'ok' ? 'allow' : 'deny'));
  const first = memoryClient(broker, 5);
  await first.connect({ clientId: 'held', username: 'ok' });
  const intruder = memoryClient(broker, 5);
  assert.equal((await intruder.connect({ clientId: 'held', username: 'bad' })).reasonCode, ReasonCode.BadUserNameOrPassword);
  await intruder.waitClosed();
  await barrier(first);
  assert.equal(first.closed, false);
  assert.equal(
    first.received.some((p) => p.type === PacketType.Disconnect),
    false,
  );
  assert.equal(publishes(first), 0);
  first.end();
  await broker.close();
});
