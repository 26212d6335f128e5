import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { test } from 'node:test';
import { Broker } from '../../src/broker/broker.js';
import type { BrokerOptions } from '../../src/broker/options.js';
import { PacketType, type ProtocolVersion, ReasonCode } from '../../src/protocol/index.js';
import { memoryClient, startBroker } from '../helpers/broker-harness.js';
import { FakeClock } from '../helpers/fake-clock.js';
import type { PacketClient } from '../helpers/packet-client.js';

function fakeBroker(options: BrokerOptions = {}): { broker: Broker; clock: FakeClock } {
  const clock = new FakeClock();
  return { broker: new Broker({ sysInterval: 0, ...options, clock }), clock };
}

/** Round trip through the broker: everything it sent this client before the PINGRESP has arrived. */
async function barrier(c: PacketClient): Promise<void> {
  c.send({ type: PacketType.Pingreq });
  await c.expect(PacketType.Pingresp);
}

/** Lets stream events and the broker's batched writes run (no fake time passes). */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
}

async function watcher(broker: Broker, filter: string): Promise<PacketClient> {
  const w = memoryClient(broker, 5);
  await w.connect({ clientId: `watch-${filter}` });
  w.send({
    type: PacketType.Subscribe,
    packetId: 1,
    subscriptions: [{ topicFilter: filter, qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
  });
  await w.expect(PacketType.Suback);
  return w;
}

const will = (topic: string) => ({ topic, payload: Buffer.from('gone'), qos: 0 as const, retain: false });

test('[MQTT-3.1.2-22/5.0] [MQTT-4.13.2-1] v5: no packet for 1.5x Keep Alive: DISCONNECT 0x8D, closed, Will published', async () => {
  const { broker, clock } = fakeBroker();
  const w = await watcher(broker, 'ka/#');
  const c = memoryClient(broker, 5);
  await c.connect({ clientId: 'k5', keepAlive: 10, will: will('ka/k5') });
  clock.advance(14_999);
  await settle();
  assert.equal(c.closed, false);
  assert.equal(
    c.received.some((p) => p.type === PacketType.Disconnect),
    false,
  );
  clock.advance(2);
  const d = await c.expect(PacketType.Disconnect);
  assert.equal(d.reasonCode, ReasonCode.KeepAliveTimeout);
  // [MQTT-3.14.2-2] the server never sends a Session Expiry Interval on DISCONNECT.
  assert.equal(d.properties?.sessionExpiryInterval, undefined);
  await c.waitClosed();
  const msg = await w.expect(PacketType.Publish);
  assert.equal(msg.topic, 'ka/k5');
  assert.equal(msg.payload.toString(), 'gone');
  assert.equal(broker.isConnected('k5'), false);
  w.end();
  await broker.close();
});

test('[MQTT-3.14.2-3] [MQTT-3.1.2-24/5.0] the keep-alive DISCONNECT leaves out the Reason String when it would exceed the client Maximum Packet Size', async () => {
  const { broker, clock } = fakeBroker();
  const c = memoryClient(broker, 5);
  await c.connect({ clientId: 'tiny', keepAlive: 10, properties: { maximumPacketSize: 8 } });
  const bytes: Buffer[] = [];
  c.stream.on('data', (chunk: Buffer) => bytes.push(chunk));
  clock.advance(15_000);
  const d = await c.expect(PacketType.Disconnect);
  assert.equal(d.reasonCode, ReasonCode.KeepAliveTimeout);
  assert.equal(d.properties?.reasonString, undefined);
  await c.waitClosed();
  assert.ok(Buffer.concat(bytes).length <= 8, `DISCONNECT of ${Buffer.concat(bytes).length} bytes`);
  // Without the limit the reason is explained.
  const big = memoryClient(broker, 5);
  await big.connect({ clientId: 'big', keepAlive: 10 });
  clock.advance(15_000);
  const d2 = await big.expect(PacketType.Disconnect);
  assert.equal(typeof d2.properties?.reasonString, 'string');
  await broker.close();
});

for (const version of [3, 4] as const) {
  test(`[MQTT-3.1.2-24/3.1.1] v${version}: no packet for 1.5x Keep Alive closes the connection (no DISCONNECT) and publishes the Will`, async () => {
    const { broker, clock } = fakeBroker();
    const w = await watcher(broker, 'ka/#');
    const c = memoryClient(broker, version);
    await c.connect({ clientId: `k${version}`, keepAlive: 4, will: will(`ka/k${version}`) });
    clock.advance(5_999);
    await settle();
    assert.equal(c.closed, false);
    clock.advance(1);
    await c.waitClosed();
    assert.deepEqual(
      c.received.map((p) => p.type),
      [PacketType.Connack],
    );
    const msg = await w.expect(PacketType.Publish);
    assert.equal(msg.topic, `ka/k${version}`);
    w.end();
    await broker.close();
  });
}

test('[MQTT-3.1.2-22/5.0] any packet restarts the 1.5x Keep Alive period (PINGREQ, PUBLISH)', async () => {
  const { broker, clock } = fakeBroker();
  const c = memoryClient(broker, 5);
  await c.connect({ clientId: 'alive', keepAlive: 10 });
  clock.advance(10_000);
  await barrier(c); // PINGREQ at t = 10 s
  clock.advance(14_000);
  c.send({ type: PacketType.Publish, topic: 'x', payload: Buffer.from('1'), qos: 0, retain: false, dup: false }); // t = 24 s
  await settle();
  clock.advance(14_999); // t = 38.999 s: 14.999 s since the PUBLISH
  await barrier(c); // t = 38.999 s: this PINGREQ counts too
  clock.advance(14_999);
  await settle();
  assert.equal(c.closed, false);
  clock.advance(1); // 15 s of silence
  const d = await c.expect(PacketType.Disconnect);
  assert.equal(d.reasonCode, ReasonCode.KeepAliveTimeout);
  await c.waitClosed();
  await broker.close();
});

test('[MQTT-3.1.2-22/5.0] Keep Alive 0 turns the mechanism off: a silent client stays connected', async () => {
  const { broker, clock } = fakeBroker();
  const c = memoryClient(broker, 5);
  await c.connect({ clientId: 'forever', keepAlive: 0 });
  clock.advance(7 * 24 * 3600 * 1000);
  await barrier(c);
  assert.equal(c.closed, false);
  assert.equal(broker.isConnected('forever'), true);
  c.end();
  await broker.close();
});

async function pingPong(version: ProtocolVersion): Promise<void> {
  const { broker } = fakeBroker();
  const c = memoryClient(broker, version);
  await c.connect({ clientId: `ping${version}`, keepAlive: 30 });
  for (let i = 0; i < 3; i++) c.send({ type: PacketType.Pingreq });
  await c.expect(PacketType.Pingresp);
  await c.expect(PacketType.Pingresp);
  await c.expect(PacketType.Pingresp);
  assert.equal(c.received.filter((p) => p.type === PacketType.Pingresp).length, 3);
  c.end();
  await broker.close();
}

test('[MQTT-3.12.4-1/5.0] v5: PINGREQ is answered with PINGRESP', () => pingPong(5));
test('[MQTT-3.12.4-1/3.1.1] v4: PINGREQ is answered with PINGRESP', () => pingPong(4));
test('[MQTT-3.12.4-1/3.1.1] v3: PINGREQ is answered with PINGRESP', () => pingPong(3));

test('[MQTT-3.12.4-1/3.1.1] PINGREQ is answered with PINGRESP, over TCP', async () => {
  const h = await startBroker();
  try {
    const c = await h.client(4);
    await c.connect({ clientId: 'tcpping', keepAlive: 5 });
    c.send({ type: PacketType.Pingreq });
    await c.expect(PacketType.Pingresp);
  } finally {
    await h.stop();
  }
});

test('[MQTT-3.2.2-21] the server enforces the Server Keep Alive it sent (client asked more)', async () => {
  const { broker, clock } = fakeBroker({ limits: { maxKeepAlive: 30 } });
  const c = memoryClient(broker, 5);
  const ack = await c.connect({ clientId: 'capped', keepAlive: 100 });
  assert.equal(ack.properties?.serverKeepAlive, 30);
  clock.advance(44_999);
  await settle();
  assert.equal(c.closed, false);
  clock.advance(1);
  const d = await c.expect(PacketType.Disconnect);
  assert.equal(d.reasonCode, ReasonCode.KeepAliveTimeout);
  await broker.close();
});

test('[MQTT-3.2.2-21] Keep Alive 0 with a maxKeepAlive set gets Server Keep Alive and is enforced', async () => {
  const { broker, clock } = fakeBroker({ limits: { maxKeepAlive: 20 } });
  const c = memoryClient(broker, 5);
  const ack = await c.connect({ clientId: 'zero', keepAlive: 0 });
  assert.equal(ack.properties?.serverKeepAlive, 20);
  clock.advance(29_999);
  await settle();
  assert.equal(c.closed, false);
  clock.advance(1);
  assert.equal((await c.expect(PacketType.Disconnect)).reasonCode, ReasonCode.KeepAliveTimeout);
  await broker.close();
});

test('[MQTT-3.2.2-22] without Server Keep Alive the server uses the client Keep Alive', async () => {
  const { broker, clock } = fakeBroker({ limits: { maxKeepAlive: 30 } });
  const c = memoryClient(broker, 5);
  const ack = await c.connect({ clientId: 'own', keepAlive: 8 });
  assert.equal(ack.properties?.serverKeepAlive, undefined);
  clock.advance(11_999);
  await settle();
  assert.equal(c.closed, false);
  clock.advance(1);
  assert.equal((await c.expect(PacketType.Disconnect)).reasonCode, ReasonCode.KeepAliveTimeout);
  await broker.close();
});

for (const version of [3, 4] as const satisfies readonly ProtocolVersion[]) {
  test(`[MQTT-3.2.2-5/3.1.1] v${version}: Keep Alive above limits.maxKeepAlive is refused with return code 2 (3.x cannot be told another)`, async () => {
    const { broker } = fakeBroker({ limits: { maxKeepAlive: 60 } });
    const c = memoryClient(broker, version);
    const ack = await c.connect({ clientId: `ka${version}`, keepAlive: 61 });
    assert.equal(ack.reasonCode, 2);
    assert.equal(ack.sessionPresent, false);
    await c.waitClosed();
    const zero = memoryClient(broker, version);
    assert.equal((await zero.connect({ clientId: `zero${version}`, keepAlive: 0 })).reasonCode, 2);
    await zero.waitClosed();
    const ok = memoryClient(broker, version);
    assert.equal((await ok.connect({ clientId: `ok${version}`, keepAlive: 60 })).reasonCode, 0);
    ok.end();
    await broker.close();
  });
}
