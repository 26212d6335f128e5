import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { test } from 'node:test';
import { Broker } from '../../src/broker/broker.js';
import type { BrokerOptions } from '../../src/broker/options.js';
import { type ConnectPacket, PacketType, type ProtocolVersion, type QoS, ReasonCode, type Will } from '../../src/protocol/index.js';
import { memoryClient, startBroker } from '../helpers/broker-harness.js';
import { FakeClock } from '../helpers/fake-clock.js';
import type { PacketClient } from '../helpers/packet-client.js';

// ---- helpers ------------------------------------------------------------------------------------

function fakeBroker(options: BrokerOptions = {}): { broker: Broker; clock: FakeClock } {
  const clock = new FakeClock();
  return { broker: new Broker({ sysInterval: 0, ...options, clock }), clock };
}

type ConnectFields = Partial<Omit<ConnectPacket, 'type'>>;

async function connect(broker: Broker, version: ProtocolVersion, fields: ConnectFields): Promise<PacketClient> {
  const c = memoryClient(broker, version);
  const ack = await c.connect(fields);
  assert.equal(ack.reasonCode, 0, `CONNECT ${fields.clientId ?? ''} refused with ${ack.reasonCode}`);
  return c;
}

/** A 5.0 client subscribed to `filter`, to see Wills arrive. */
async function watcher(broker: Broker, filter = 'will/#', qos: QoS = 2, clientId = 'watcher'): Promise<PacketClient> {
  const w = await connect(broker, 5, { clientId });
  w.send({
    type: PacketType.Subscribe,
    packetId: 1,
    subscriptions: [{ topicFilter: filter, qos, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
  });
  await w.expect(PacketType.Suback);
  return w;
}

/** Round trip through the broker: everything it sent this client before the PINGRESP has arrived. */
async function barrier(c: PacketClient): Promise<void> {
  c.send({ type: PacketType.Pingreq });
  await c.expect(PacketType.Pingresp);
}

async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
}

function publishesOf(c: PacketClient) {
  return c.received.flatMap((p) => (p.type === PacketType.Publish ? [p] : []));
}

/** Drops the connection without DISCONNECT and waits until the broker has noticed. */
async function drop(broker: Broker, c: PacketClient, clientId: string): Promise<void> {
  c.end();
  for (let i = 0; i < 50 && broker.isConnected(clientId); i++) await new Promise((r) => setImmediate(r));
  assert.equal(broker.isConnected(clientId), false);
}

function will(topic: string, fields: Partial<Will> = {}): Will {
  return { topic, payload: Buffer.from(`will of ${topic}`), qos: 0, retain: false, ...fields };
}

// ---- when the Will is published -----------------------------------------------------------------

async function willOnDrop(version: ProtocolVersion): Promise<void> {
  const { broker } = fakeBroker();
  const w = await watcher(broker);
  const c = await connect(broker, version, { clientId: `drop${version}`, will: will(`will/drop${version}`) });
  await barrier(w);
  assert.deepEqual(publishesOf(w), []);
  await drop(broker, c, `drop${version}`);
  const msg = await w.expect(PacketType.Publish);
  assert.equal(msg.topic, `will/drop${version}`);
  assert.equal(msg.payload.toString(), `will of will/drop${version}`);
  assert.equal(broker.metrics.willsPublished, 1);
  w.end();
  await broker.close();
}

test('[MQTT-3.1.2-8/5.0] [MQTT-3.1.2-7/5.0] v5: the Will is published when the network connection closes without DISCONNECT', () =>
  willOnDrop(5));
test('[MQTT-3.1.2-8/3.1.1] v4: the Will is published when the network connection closes without DISCONNECT', () => willOnDrop(4));
test('[MQTT-3.1.2-8/3.1.1] v3: the Will is published when the network connection closes without DISCONNECT', () => willOnDrop(3));

test('[MQTT-3.1.2-8/3.1.1] the Will is published when a TCP client disappears', async () => {
  const h = await startBroker();
  try {
    const w = await h.client(4);
    await w.connect({ clientId: 'tcpwatch' });
    w.send({
      type: PacketType.Subscribe,
      packetId: 1,
      subscriptions: [{ topicFilter: 'will/#', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
    });
    await w.expect(PacketType.Suback);
    const c = await h.client(4);
    await c.connect({ clientId: 'tcpgone', will: will('will/tcp', { qos: 1 }) });
    c.end();
    const msg = await w.expect(PacketType.Publish);
    assert.equal(msg.topic, 'will/tcp');
    assert.equal(msg.qos, 1);
  } finally {
    await h.stop();
  }
});

test('[MQTT-3.1.2-22/5.0] [MQTT-3.1.2-8/5.0] the Will is published when keep alive times out', async () => {
  const { broker, clock } = fakeBroker();
  const w = await watcher(broker);
  const c = await connect(broker, 5, { clientId: 'silent', keepAlive: 5, will: will('will/silent') });
  clock.advance(7_499);
  await barrier(w);
  assert.deepEqual(publishesOf(w), []);
  clock.advance(1);
  assert.equal((await c.expect(PacketType.Disconnect)).reasonCode, ReasonCode.KeepAliveTimeout);
  const msg = await w.expect(PacketType.Publish);
  assert.equal(msg.topic, 'will/silent');
  w.end();
  await broker.close();
});

test('[MQTT-4.13.1-1] [MQTT-3.1.2-8/5.0] the Will is published when the server closes the connection for a Malformed Packet', async () => {
  const { broker } = fakeBroker();
  const w = await watcher(broker);
  const c = await connect(broker, 5, { clientId: 'bad', will: will('will/bad') });
  // PUBLISH with QoS 3 is malformed.
  c.sendRaw([0x36, 0x05, 0x00, 0x01, 0x74, 0x00, 0x01]);
  const d = await c.expect(PacketType.Disconnect);
  assert.equal(d.reasonCode, ReasonCode.MalformedPacket);
  await c.waitClosed();
  const msg = await w.expect(PacketType.Publish);
  assert.equal(msg.topic, 'will/bad');
  w.end();
  await broker.close();
});

test('[MQTT-3.1.0-2/3.1.1] [MQTT-3.1.2-8/3.1.1] the Will is published when a second CONNECT (protocol violation) closes the connection', async () => {
  const { broker } = fakeBroker();
  const w = await watcher(broker);
  const c = await connect(broker, 4, { clientId: 'again', will: will('will/again') });
  c.send({ type: PacketType.Connect, protocolVersion: 4, clientId: 'again', clean: true, keepAlive: 0 });
  await c.waitClosed();
  const msg = await w.expect(PacketType.Publish);
  assert.equal(msg.topic, 'will/again');
  w.end();
  await broker.close();
});

test('[MQTT-3.1.2-8/5.0] the Will of a connection taken over is published (no Will Delay)', async () => {
  const { broker } = fakeBroker();
  const w = await watcher(broker);
  const old = await connect(broker, 5, { clientId: 'twin', will: will('will/twin') });
  const neu = await connect(broker, 5, { clientId: 'twin' });
  assert.equal((await old.expect(PacketType.Disconnect)).reasonCode, ReasonCode.SessionTakenOver);
  const msg = await w.expect(PacketType.Publish);
  assert.equal(msg.topic, 'will/twin');
  neu.end();
  w.end();
  await broker.close();
});

test('[MQTT-3.1.2-12/3.1.1] a connection without a Will publishes nothing when it drops', async () => {
  const { broker } = fakeBroker();
  const w = await watcher(broker, '#');
  const c = await connect(broker, 4, { clientId: 'nowill' });
  await drop(broker, c, 'nowill');
  await barrier(w);
  assert.deepEqual(publishesOf(w), []);
  assert.equal(broker.metrics.willsPublished, 0);
  w.end();
  await broker.close();
});

// ---- what is published --------------------------------------------------------------------------

async function willQos(willQos: QoS): Promise<void> {
  const { broker } = fakeBroker();
  const w2 = await watcher(broker, 'will/#', 2, 'w2');
  const w1 = await watcher(broker, 'will/#', 1, 'w1');
  const c = await connect(broker, 5, { clientId: `q${willQos}`, will: will(`will/q${willQos}`, { qos: willQos }) });
  await drop(broker, c, `q${willQos}`);
  const at2 = await w2.expect(PacketType.Publish);
  const at1 = await w1.expect(PacketType.Publish);
  assert.equal(at2.qos, willQos);
  assert.equal(at1.qos, Math.min(willQos, 1));
  assert.equal(at2.packetId === undefined, willQos === 0);
  w1.end();
  w2.end();
  await broker.close();
}

test('[MQTT-3.1.2-9/5.0] [MQTT-3.1.2-12/5.0] the Will is published at its Will QoS (0), capped by the subscription', () => willQos(0));
test('[MQTT-3.1.2-9/5.0] [MQTT-3.1.2-12/5.0] the Will is published at its Will QoS (1), capped by the subscription', () => willQos(1));
test('[MQTT-3.1.2-9/5.0] [MQTT-3.1.2-12/5.0] the Will is published at its Will QoS (2), capped by the subscription', () => willQos(2));

async function willRetained(version: 4 | 5): Promise<void> {
  const { broker } = fakeBroker();
  const w = await watcher(broker);
  const c = await connect(broker, version, {
    clientId: `ret${version}`,
    will: will(`will/ret${version}`, { retain: true, qos: 1 }),
  });
  await drop(broker, c, `ret${version}`);
  const live = await w.expect(PacketType.Publish);
  assert.equal(live.topic, `will/ret${version}`);
  // To an established subscription the RETAIN flag is 0 (no Retain As Published).
  assert.equal(live.retain, false);
  assert.equal(broker.retained.size, 1);
  const late = memoryClient(broker, version);
  await late.connect({ clientId: 'late' });
  late.send({
    type: PacketType.Subscribe,
    packetId: 2,
    subscriptions: [{ topicFilter: 'will/#', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
  });
  const stored = await late.expect(PacketType.Publish);
  assert.equal(stored.topic, `will/ret${version}`);
  assert.equal(stored.retain, true);
  assert.equal(stored.payload.toString(), `will of will/ret${version}`);
  late.end();
  w.end();
  await broker.close();
}

test('[MQTT-3.1.2-15/5.0] v5: a Will with Will Retain 1 is published as a retained message', () => willRetained(5));
test('[MQTT-3.1.2-17/3.1.1] v4: a Will with Will Retain 1 is published as a retained message', () => willRetained(4));

async function willNotRetained(version: 4 | 5): Promise<void> {
  const { broker } = fakeBroker();
  const w = await watcher(broker);
  const c = await connect(broker, version, { clientId: `nr${version}`, will: will(`will/nr${version}`, { retain: false }) });
  await drop(broker, c, `nr${version}`);
  await w.expect(PacketType.Publish);
  assert.equal(broker.retained.size, 0);
  const late = await connect(broker, version, { clientId: 'late' });
  late.send({
    type: PacketType.Subscribe,
    packetId: 2,
    subscriptions: [{ topicFilter: 'will/#', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
  });
  await late.expect(PacketType.Suback);
  await barrier(late);
  assert.deepEqual(publishesOf(late), []);
  late.end();
  w.end();
  await broker.close();
}

test('[MQTT-3.1.2-14/5.0] v5: a Will with Will Retain 0 is published as a non-retained message', () => willNotRetained(5));
test('[MQTT-3.1.2-16/3.1.1] v4: a Will with Will Retain 0 is published as a non-retained message', () => willNotRetained(4));

test('[MQTT-3.1.3-10] [MQTT-3.3.2-4] [MQTT-3.3.2-15] [MQTT-3.3.2-16] [MQTT-3.3.2-20] Will Properties are forwarded unaltered', async () => {
  const { broker } = fakeBroker();
  const w = await watcher(broker);
  const userProperties = [
    ['b', '2'],
    ['a', '1'],
    ['b', '3'],
  ] as const;
  const c = await connect(broker, 5, {
    clientId: 'props',
    will: will('will/props', {
      payload: Buffer.from('{"gone":true}'),
      properties: {
        contentType: 'application/json',
        userProperties,
        responseTopic: 'reply/here',
        correlationData: Buffer.from([1, 2, 3, 0xff]),
        payloadFormatIndicator: 1,
        messageExpiryInterval: 100,
        willDelayInterval: 0,
      },
    }),
  });
  await drop(broker, c, 'props');
  const msg = await w.expect(PacketType.Publish);
  const p = msg.properties;
  assert.equal(p?.contentType, 'application/json');
  assert.deepEqual(p?.userProperties, userProperties);
  assert.equal(p?.responseTopic, 'reply/here');
  assert.deepEqual(p?.correlationData, Buffer.from([1, 2, 3, 0xff]));
  assert.equal(p?.payloadFormatIndicator, 1);
  assert.equal(p?.messageExpiryInterval, 100);
  assert.equal(msg.payload.toString(), '{"gone":true}');
  w.end();
  await broker.close();
});

test('[MQTT-3.3.2-6] a Will Message Expiry Interval counts from when the Will is published, not from CONNECT', async () => {
  const { broker, clock } = fakeBroker();
  const w = await watcher(broker);
  const c = await connect(broker, 5, {
    clientId: 'exp',
    will: will('will/exp', { properties: { messageExpiryInterval: 30 } }),
  });
  clock.advance(60_000);
  await drop(broker, c, 'exp');
  const msg = await w.expect(PacketType.Publish);
  assert.equal(msg.properties?.messageExpiryInterval, 30);
  w.end();
  await broker.close();
});

// ---- Will Delay Interval --------------------------------------------------------------------------

test('[MQTT-3.1.2-8/5.0] with a Will Delay Interval the Will is published when the delay has passed (fake clock)', async () => {
  const { broker, clock } = fakeBroker();
  const w = await watcher(broker);
  const c = await connect(broker, 5, {
    clientId: 'delayed',
    properties: { sessionExpiryInterval: 100 },
    will: will('will/delayed', { properties: { willDelayInterval: 10 } }),
  });
  await drop(broker, c, 'delayed');
  clock.advance(9_999);
  await barrier(w);
  assert.deepEqual(publishesOf(w), []);
  clock.advance(1);
  const msg = await w.expect(PacketType.Publish);
  assert.equal(msg.topic, 'will/delayed');
  // Published once: removed from the session afterwards. [MQTT-3.1.2-10]
  clock.advance(200_000);
  await barrier(w);
  assert.equal(publishesOf(w).length, 1);
  assert.equal(broker.metrics.willsPublished, 1);
  w.end();
  await broker.close();
});

test('[MQTT-3.1.3-9] the Will is not published if the client reconnects to the session before the Will Delay Interval', async () => {
  const { broker, clock } = fakeBroker();
  const w = await watcher(broker);
  const fields: ConnectFields = {
    clientId: 'back',
    clean: false,
    properties: { sessionExpiryInterval: 100 },
    will: will('will/back', { properties: { willDelayInterval: 10 } }),
  };
  const c = await connect(broker, 5, fields);
  await drop(broker, c, 'back');
  clock.advance(5_000);
  const again = memoryClient(broker, 5);
  const ack = await again.connect(fields);
  assert.equal(ack.sessionPresent, true);
  clock.advance(60_000);
  await barrier(w);
  assert.deepEqual(publishesOf(w), []);
  assert.equal(broker.metrics.willsPublished, 0);
  // The new connection's own Will still works.
  await drop(broker, again, 'back');
  clock.advance(10_000);
  const msg = await w.expect(PacketType.Publish);
  assert.equal(msg.topic, 'will/back');
  w.end();
  await broker.close();
});

test('[MQTT-3.1.3-9] [MQTT-3.1.2-10/5.0] a Will cancelled by reconnecting is not published later when the session ends', async () => {
  const { broker, clock } = fakeBroker();
  const w = await watcher(broker);
  const c = await connect(broker, 5, {
    clientId: 'cancelled',
    clean: false,
    properties: { sessionExpiryInterval: 100 },
    will: will('will/cancelled', { properties: { willDelayInterval: 50 } }),
  });
  await drop(broker, c, 'cancelled');
  clock.advance(1_000);
  const again = await connect(broker, 5, { clientId: 'cancelled', clean: false, properties: { sessionExpiryInterval: 100 } });
  // Normal disconnect that also ends the session.
  again.send({ type: PacketType.Disconnect, reasonCode: 0, properties: { sessionExpiryInterval: 0 } });
  await again.waitClosed();
  assert.equal(broker.sessions.has('cancelled'), false);
  clock.advance(200_000);
  await barrier(w);
  assert.deepEqual(publishesOf(w), []);
  w.end();
  await broker.close();
});

test('[MQTT-3.1.3-9] a takeover resuming the session before the Will Delay Interval cancels the old Will', async () => {
  const { broker, clock } = fakeBroker();
  const w = await watcher(broker);
  const old = await connect(broker, 5, {
    clientId: 'swap',
    clean: false,
    properties: { sessionExpiryInterval: 100 },
    will: will('will/swap', { properties: { willDelayInterval: 10 } }),
  });
  const neu = await connect(broker, 5, { clientId: 'swap', clean: false, properties: { sessionExpiryInterval: 100 } });
  assert.equal((await old.expect(PacketType.Disconnect)).reasonCode, ReasonCode.SessionTakenOver);
  clock.advance(60_000);
  await barrier(w);
  assert.deepEqual(publishesOf(w), []);
  neu.end();
  w.end();
  await broker.close();
});

test('[MQTT-3.1.2-8/5.0] when the session ends before the Will Delay Interval, the Will is published at session end', async () => {
  const { broker, clock } = fakeBroker();
  const w = await watcher(broker);
  const c = await connect(broker, 5, {
    clientId: 'short',
    properties: { sessionExpiryInterval: 10 },
    will: will('will/short', { properties: { willDelayInterval: 100 } }),
  });
  await drop(broker, c, 'short');
  clock.advance(9_999);
  await barrier(w);
  assert.deepEqual(publishesOf(w), []);
  assert.equal(broker.sessions.has('short'), true);
  clock.advance(1);
  const msg = await w.expect(PacketType.Publish);
  assert.equal(msg.topic, 'will/short');
  assert.equal(broker.sessions.has('short'), false);
  w.end();
  await broker.close();
});

test('[MQTT-3.1.2-8/5.0] Session Expiry 0: the session ends at close, so a delayed Will is published at once', async () => {
  const { broker } = fakeBroker();
  const w = await watcher(broker);
  const c = await connect(broker, 5, {
    clientId: 'nosession',
    will: will('will/nosession', { properties: { willDelayInterval: 30 } }),
  });
  await drop(broker, c, 'nosession');
  const msg = await w.expect(PacketType.Publish);
  assert.equal(msg.topic, 'will/nosession');
  w.end();
  await broker.close();
});

// ---- server shutdown ------------------------------------------------------------------------------

test('[MQTT-4.13.2-1] broker.close(): 5.0 clients get DISCONNECT 0x8B and their Wills are not published', async () => {
  const { broker } = fakeBroker();
  const c5 = await connect(broker, 5, { clientId: 'stay5', will: will('will/stay5', { retain: true }) });
  const c4 = await connect(broker, 4, { clientId: 'stay4', will: will('will/stay4', { retain: true }) });
  await broker.close();
  const d = await c5.expect(PacketType.Disconnect);
  assert.equal(d.reasonCode, ReasonCode.ServerShuttingDown);
  await c5.waitClosed();
  await c4.waitClosed();
  assert.deepEqual(
    c4.received.map((p) => p.type),
    [PacketType.Connack],
  );
  assert.equal(broker.metrics.willsPublished, 0);
  assert.equal(broker.retained.size, 0);
});

test('[MQTT-3.1.2-8/5.0] broker.close(): a Will still waiting for its delay is not published afterwards', async () => {
  const { broker, clock } = fakeBroker();
  const c = await connect(broker, 5, {
    clientId: 'pending',
    properties: { sessionExpiryInterval: 100 },
    will: will('will/pending', { retain: true, properties: { willDelayInterval: 10 } }),
  });
  await drop(broker, c, 'pending');
  await broker.close();
  clock.advance(200_000);
  await settle();
  assert.equal(broker.metrics.willsPublished, 0);
  assert.equal(broker.retained.size, 0);
});
