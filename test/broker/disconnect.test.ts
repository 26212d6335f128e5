import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { test } from 'node:test';
import { Broker } from '../../src/broker/broker.js';
import type { BrokerOptions } from '../../src/broker/options.js';
import { type ConnectPacket, encodePacket, PacketType, type ProtocolVersion, ReasonCode, type Will } from '../../src/protocol/index.js';
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

async function watcher(broker: Broker, filter = 'will/#'): Promise<PacketClient> {
  const w = await connect(broker, 5, { clientId: 'watcher' });
  w.send({
    type: PacketType.Subscribe,
    packetId: 1,
    subscriptions: [{ topicFilter: filter, qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
  });
  await w.expect(PacketType.Suback);
  return w;
}

/** Round trip through the broker: everything it sent this client before the PINGRESP has arrived. */
async function barrier(c: PacketClient): Promise<void> {
  c.send({ type: PacketType.Pingreq });
  await c.expect(PacketType.Pingresp);
}

function publishesOf(c: PacketClient) {
  return c.received.flatMap((p) => (p.type === PacketType.Publish ? [p] : []));
}

function will(topic: string, fields: Partial<Will> = {}): Will {
  return { topic, payload: Buffer.from(`will of ${topic}`), qos: 0, retain: false, ...fields };
}

async function present(broker: Broker, clientId: string): Promise<boolean> {
  const c = memoryClient(broker, 5);
  const ack = await c.connect({ clientId, clean: false, properties: { sessionExpiryInterval: 10 } });
  assert.equal(ack.reasonCode, 0);
  c.send({ type: PacketType.Disconnect, reasonCode: 0, properties: { sessionExpiryInterval: 0 } });
  await c.waitClosed();
  return ack.sessionPresent;
}

// ---- the Will on DISCONNECT -----------------------------------------------------------------------

test('[MQTT-3.14.4-3/5.0] [MQTT-3.1.2-10/5.0] DISCONNECT 0x00: the server closes the connection and discards the Will', async () => {
  const { broker, clock } = fakeBroker();
  const w = await watcher(broker);
  const c = await connect(broker, 5, {
    clientId: 'bye',
    properties: { sessionExpiryInterval: 60 },
    will: will('will/bye', { properties: { willDelayInterval: 5 } }),
  });
  c.send({ type: PacketType.Disconnect, reasonCode: ReasonCode.NormalDisconnection });
  await c.waitClosed();
  assert.equal(broker.isConnected('bye'), false);
  // Neither now, nor after the delay, nor when the session ends.
  clock.advance(120_000);
  await barrier(w);
  assert.deepEqual(publishesOf(w), []);
  assert.equal(broker.metrics.willsPublished, 0);
  assert.deepEqual(
    c.received.map((p) => p.type),
    [PacketType.Connack],
  );
  w.end();
  await broker.close();
});

for (const version of [3, 4] as const) {
  test(`[MQTT-3.14.4-3/3.1.1] [MQTT-3.1.2-10/3.1.1] v${version}: DISCONNECT discards the Will and the server closes the connection`, async () => {
    const { broker } = fakeBroker();
    const w = await watcher(broker);
    const c = await connect(broker, version, { clientId: `bye${version}`, will: will(`will/bye${version}`, { qos: 1, retain: true }) });
    c.send({ type: PacketType.Disconnect, reasonCode: 0 });
    await c.waitClosed();
    await barrier(w);
    assert.deepEqual(publishesOf(w), []);
    assert.equal(broker.retained.size, 0);
    w.end();
    await broker.close();
  });
}

test('[MQTT-3.14.4-3/3.1.1] DISCONNECT over TCP: the server closes the socket, no Will', async () => {
  const h = await startBroker();
  try {
    const w = await h.client(5);
    await w.connect({ clientId: 'tcpw' });
    w.send({
      type: PacketType.Subscribe,
      packetId: 1,
      subscriptions: [{ topicFilter: 'will/#', qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
    });
    await w.expect(PacketType.Suback);
    const c = await h.client(4);
    await c.connect({ clientId: 'tcpbye', will: will('will/tcpbye') });
    c.send({ type: PacketType.Disconnect, reasonCode: 0 });
    await c.waitClosed();
    await barrier(w);
    assert.deepEqual(publishesOf(w), []);
    assert.equal(h.broker.connectedCount, 1);
  } finally {
    await h.stop();
  }
});

test('[MQTT-3.1.2-8/5.0] DISCONNECT 0x04 Disconnect with Will Message: the Will is published', async () => {
  const { broker } = fakeBroker();
  const w = await watcher(broker);
  const c = await connect(broker, 5, { clientId: 'ww', will: will('will/ww', { qos: 1 }) });
  c.send({ type: PacketType.Disconnect, reasonCode: ReasonCode.DisconnectWithWillMessage });
  await c.waitClosed();
  const msg = await w.expect(PacketType.Publish);
  assert.equal(msg.topic, 'will/ww');
  assert.equal(msg.qos, 1);
  w.end();
  await broker.close();
});

test('[MQTT-3.1.2-8/5.0] DISCONNECT 0x04 with a Will Delay Interval: the Will waits for the delay', async () => {
  const { broker, clock } = fakeBroker();
  const w = await watcher(broker);
  const c = await connect(broker, 5, {
    clientId: 'wwd',
    properties: { sessionExpiryInterval: 60 },
    will: will('will/wwd', { properties: { willDelayInterval: 5 } }),
  });
  c.send({ type: PacketType.Disconnect, reasonCode: ReasonCode.DisconnectWithWillMessage });
  await c.waitClosed();
  clock.advance(4_999);
  await barrier(w);
  assert.deepEqual(publishesOf(w), []);
  clock.advance(1);
  assert.equal((await w.expect(PacketType.Publish)).topic, 'will/wwd');
  w.end();
  await broker.close();
});

test('[MQTT-3.1.2-8/5.0] [MQTT-3.1.2-10/5.0] DISCONNECT with an error code (0x80) does not delete the Will: it is published', async () => {
  const { broker } = fakeBroker();
  const w = await watcher(broker);
  const c = await connect(broker, 5, { clientId: 'err', will: will('will/err') });
  c.send({ type: PacketType.Disconnect, reasonCode: ReasonCode.UnspecifiedError });
  await c.waitClosed();
  const msg = await w.expect(PacketType.Publish);
  assert.equal(msg.topic, 'will/err');
  w.end();
  await broker.close();
});

test('[MQTT-3.14.1-1/5.0] DISCONNECT with reserved flag bits set is malformed: DISCONNECT 0x81 and the Will is published', async () => {
  const { broker } = fakeBroker();
  const w = await watcher(broker);
  const c = await connect(broker, 5, { clientId: 'flags', will: will('will/flags') });
  c.sendRaw([0xe1, 0x00]);
  const d = await c.expect(PacketType.Disconnect);
  assert.equal(d.reasonCode, ReasonCode.MalformedPacket);
  await c.waitClosed();
  assert.equal((await w.expect(PacketType.Publish)).topic, 'will/flags');
  w.end();
  await broker.close();
});

test('[MQTT-3.14.1-1/3.1.1] 3.1.1 DISCONNECT with reserved flag bits set closes the connection; the Will is published', async () => {
  const { broker } = fakeBroker();
  const w = await watcher(broker);
  const c = await connect(broker, 4, { clientId: 'flags4', will: will('will/flags4') });
  c.sendRaw([0xe2, 0x00]);
  await c.waitClosed();
  assert.equal((await w.expect(PacketType.Publish)).topic, 'will/flags4');
  w.end();
  await broker.close();
});

test('[MQTT-3.14.4-3/5.0] DISCONNECT ends the connection: packets after it in the same read are ignored, no Will', async () => {
  const { broker } = fakeBroker();
  const w = await watcher(broker);
  const c = await connect(broker, 5, { clientId: 'late', will: will('will/late') });
  c.sendRaw(
    Buffer.concat([
      encodePacket({ type: PacketType.Disconnect, reasonCode: 0 }, 5),
      encodePacket({ type: PacketType.Publish, topic: 'will/after', payload: Buffer.from('x'), qos: 0, retain: true, dup: false }, 5),
    ]),
  );
  await c.waitClosed();
  await barrier(w);
  assert.deepEqual(publishesOf(w), []);
  assert.equal(broker.retained.size, 0);
  w.end();
  await broker.close();
});

// ---- Session Expiry Interval on DISCONNECT ---------------------------------------------------------

test('[MQTT-4.1.0-2/5.0] DISCONNECT with Session Expiry Interval 0 ends a session that had one', async () => {
  const { broker } = fakeBroker();
  const c = await connect(broker, 5, { clientId: 'end', clean: false, properties: { sessionExpiryInterval: 600 } });
  c.send({ type: PacketType.Disconnect, reasonCode: 0, properties: { sessionExpiryInterval: 0 } });
  await c.waitClosed();
  assert.equal(broker.sessions.has('end'), false);
  assert.equal(await present(broker, 'end'), false);
  await broker.close();
});

test('[MQTT-3.1.2-23/5.0] DISCONNECT can raise a non-zero Session Expiry Interval', async () => {
  const { broker, clock } = fakeBroker();
  const c = await connect(broker, 5, { clientId: 'longer', clean: false, properties: { sessionExpiryInterval: 10 } });
  c.send({ type: PacketType.Disconnect, reasonCode: 0, properties: { sessionExpiryInterval: 100 } });
  await c.waitClosed();
  clock.advance(50_000);
  assert.equal(await present(broker, 'longer'), true);
  await broker.close();
});

test('[MQTT-4.1.0-2/5.0] a Session Expiry Interval lowered on DISCONNECT applies from that disconnect', async () => {
  const { broker, clock } = fakeBroker();
  const c = await connect(broker, 5, { clientId: 'shorter', clean: false, properties: { sessionExpiryInterval: 600 } });
  c.send({ type: PacketType.Disconnect, reasonCode: 0, properties: { sessionExpiryInterval: 5 } });
  await c.waitClosed();
  clock.advance(5_000);
  assert.equal(broker.sessions.has('shorter'), false);
  assert.equal(await present(broker, 'shorter'), false);
  await broker.close();
});

test('[MQTT-4.13.1-1] [MQTT-3.14.2-2] DISCONNECT raising Session Expiry Interval from 0 is a Protocol Error: DISCONNECT 0x82, Will published', async () => {
  const { broker, clock } = fakeBroker();
  const w = await watcher(broker);
  const c = await connect(broker, 5, { clientId: 'raise', clean: false, will: will('will/raise') });
  c.send({ type: PacketType.Disconnect, reasonCode: 0, properties: { sessionExpiryInterval: 30 } });
  const d = await c.expect(PacketType.Disconnect);
  assert.equal(d.reasonCode, ReasonCode.ProtocolError);
  // The server itself never sends a Session Expiry Interval on DISCONNECT.
  assert.equal(d.properties?.sessionExpiryInterval, undefined);
  await c.waitClosed();
  assert.equal((await w.expect(PacketType.Publish)).topic, 'will/raise');
  // The session still ended with the connection (the raise was not applied).
  clock.advance(1_000);
  assert.equal(broker.sessions.has('raise'), false);
  w.end();
  await broker.close();
});
