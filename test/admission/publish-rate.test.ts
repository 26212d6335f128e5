import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { test } from 'node:test';
import { Broker } from '../../src/broker/broker.js';
import type { BrokerOptions } from '../../src/broker/options.js';
import { PacketType, type ProtocolVersion, type PublishPacket, type QoS, ReasonCode } from '../../src/protocol/index.js';
import { memoryClient } from '../helpers/broker-harness.js';
import { FakeClock } from '../helpers/fake-clock.js';
import type { PacketClient } from '../helpers/packet-client.js';

async function withBroker(options: BrokerOptions, run: (broker: Broker, clock: FakeClock) => Promise<void>): Promise<void> {
  const clock = new FakeClock();
  const broker = new Broker({ sysInterval: 0, ...options, clock });
  try {
    await run(broker, clock);
  } finally {
    await broker.close();
  }
}

async function connected(broker: Broker, clientId: string, version: ProtocolVersion = 5, withWill = false): Promise<PacketClient> {
  const c = memoryClient(broker, version);
  const will = withWill ? { will: { topic: 'wills', payload: Buffer.from(`${clientId} gone`), qos: 0 as QoS, retain: false } } : {};
  const ack = await c.connect({ clientId, ...will });
  assert.equal(ack.reasonCode, 0);
  return c;
}

async function subscriber(broker: Broker, filter = '#'): Promise<PacketClient> {
  const s = await connected(broker, 'watcher');
  s.send({
    type: PacketType.Subscribe,
    packetId: 1,
    subscriptions: [{ topicFilter: filter, qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
  });
  await s.expect(PacketType.Suback);
  return s;
}

function publish(topic: string, payload: string | Buffer, qos: QoS = 0, packetId = 1): PublishPacket {
  return {
    type: PacketType.Publish,
    topic,
    payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
    qos,
    retain: false,
    dup: false,
    ...(qos > 0 ? { packetId } : {}),
  };
}

async function settle(c: PacketClient): Promise<void> {
  c.send({ type: PacketType.Pingreq });
  await c.expect(PacketType.Pingresp);
}

function received(c: PacketClient, topic?: string): string[] {
  return c.received
    .filter((p): p is PublishPacket => p.type === PacketType.Publish && (topic === undefined || p.topic === topic))
    .map((p) => p.payload.toString());
}

// ---- message rate -------------------------------------------------------------------------------------

test('[MQTT-3.14.2-1] [MQTT-4.13.2-1] maxPublishRate (v5): the burst passes, the next PUBLISH gets DISCONNECT 0x96 and the connection closes', async () => {
  await withBroker({ limits: { maxPublishRate: 10, publishBurst: 5 } }, async (broker) => {
    const s = await subscriber(broker, 't');
    const p = await connected(broker, 'fast');
    for (let i = 0; i < 7; i++) p.send(publish('t', `m${i}`));
    const d = await p.expect(PacketType.Disconnect);
    assert.equal(d.reasonCode, ReasonCode.MessageRateTooHigh);
    assert.equal(d.properties?.reasonString, 'publish rate too high');
    await p.waitClosed();
    await settle(s);
    assert.deepEqual(received(s), ['m0', 'm1', 'm2', 'm3', 'm4'], 'nothing after the refused one is processed');
    assert.equal(broker.metrics.limitHits.get('maxPublishRate'), 1);
    assert.equal(broker.metrics.closes.get('message-rate-too-high'), 1);
  });
});

test('maxPublishRate: tokens come back with time (fake clock): at the rate the client is never disconnected', async () => {
  await withBroker({ limits: { maxPublishRate: 10, publishBurst: 2 } }, async (broker, clock) => {
    const p = await connected(broker, 'steady');
    for (let i = 0; i < 20; i++) {
      p.send(publish('t', 'x', 1, i + 1));
      await p.expect(PacketType.Puback, 2000, (a) => a.packetId === i + 1);
      clock.advance(100);
    }
    assert.equal(p.closed, false);
    p.send(publish('t', 'x', 1, 100));
    p.send(publish('t', 'x', 1, 101));
    p.send(publish('t', 'x', 1, 102));
    assert.equal((await p.expect(PacketType.Disconnect)).reasonCode, ReasonCode.MessageRateTooHigh);
  });
});

test('[MQTT-3.1.2-8] maxPublishRate (3.1.1): the connection is closed without a packet and the Will is published', async () => {
  await withBroker({ limits: { maxPublishRate: 100, publishBurst: 3 } }, async (broker) => {
    const s = await subscriber(broker);
    const p = await connected(broker, 'v4-fast', 4, true);
    for (let i = 0; i < 4; i++) p.send(publish('t', `m${i}`));
    await p.waitClosed();
    await settle(s);
    assert.deepEqual(received(s, 't'), ['m0', 'm1', 'm2']);
    assert.deepEqual(received(s, 'wills'), ['v4-fast gone']);
    assert.equal(
      p.received.some((x) => x.type === PacketType.Disconnect),
      false,
    );
    assert.equal(broker.metrics.limitHits.get('maxPublishRate'), 1);
  });
});

test('[MQTT-3.1.2-8] maxPublishRate (v5): the Will is published after DISCONNECT 0x96, as after any server-side close', async () => {
  await withBroker({ limits: { maxPublishRate: 1, publishBurst: 1 } }, async (broker) => {
    const s = await subscriber(broker, 'wills');
    const p = await connected(broker, 'v5-fast', 5, true);
    p.send(publish('t', 'a'));
    p.send(publish('t', 'b'));
    assert.equal((await p.expect(PacketType.Disconnect)).reasonCode, ReasonCode.MessageRateTooHigh);
    await settle(s);
    assert.deepEqual(received(s, 'wills'), ['v5-fast gone']);
  });
});

test('maxPublishRate counts per client: one fast client does not use up another one', async () => {
  await withBroker({ limits: { maxPublishRate: 5, publishBurst: 5 } }, async (broker) => {
    const a = await connected(broker, 'a');
    const b = await connected(broker, 'b');
    for (let i = 0; i < 5; i++) a.send(publish('t', 'x'));
    for (let i = 0; i < 5; i++) b.send(publish('t', 'x'));
    await settle(a);
    await settle(b);
    assert.equal(a.closed || b.closed, false);
  });
});

// ---- byte rate ----------------------------------------------------------------------------------------

test('[MQTT-3.14.2-1] maxPublishByteRate (v5): DISCONNECT 0x96 when topic + payload bytes exceed the bucket', async () => {
  await withBroker({ limits: { maxPublishByteRate: 1000, publishByteBurst: 1000 } }, async (broker, clock) => {
    const s = await subscriber(broker, 't');
    const p = await connected(broker, 'bulky');
    p.send(publish('t', Buffer.alloc(599)));
    p.send(publish('t', Buffer.alloc(399)));
    await settle(p);
    assert.equal(p.closed, false, '1000 bytes in all');
    clock.advance(100);
    p.send(publish('t', Buffer.alloc(99)));
    await settle(p);
    assert.equal(p.closed, false, '100 bytes came back in 100 ms');
    p.send(publish('t', Buffer.alloc(10)));
    const d = await p.expect(PacketType.Disconnect);
    assert.equal(d.reasonCode, ReasonCode.MessageRateTooHigh);
    assert.equal(d.properties?.reasonString, 'publish byte rate too high');
    await settle(s);
    assert.equal(received(s).length, 3);
    assert.equal(broker.metrics.limitHits.get('maxPublishByteRate'), 1);
  });
});

test('maxPublishByteRate: a message larger than the burst passes on a full bucket, and its debt is paid back before the next', async () => {
  await withBroker({ limits: { maxPublishByteRate: 1000, publishByteBurst: 100 } }, async (broker, clock) => {
    const p = await connected(broker, 'big');
    p.send(publish('t', Buffer.alloc(499)));
    await settle(p);
    assert.equal(p.closed, false, '500 bytes on a full 100-byte bucket pass, leaving 400 bytes of debt');
    clock.advance(409);
    p.send(publish('t', Buffer.alloc(8)));
    await settle(p);
    assert.equal(p.closed, false, '9 bytes back after paying the debt');
    clock.advance(5);
    // Without the debt the bucket would be full again by now.
    p.send(publish('t', Buffer.alloc(8)));
    assert.equal((await p.expect(PacketType.Disconnect)).reasonCode, ReasonCode.MessageRateTooHigh);
  });
});

test('maxPublishByteRate (3.1.1): closed without a packet', async () => {
  await withBroker({ limits: { maxPublishByteRate: 100, publishByteBurst: 100 } }, async (broker) => {
    const p = await connected(broker, 'v4-bulky', 4);
    p.send(publish('t', Buffer.alloc(99)));
    p.send(publish('t', Buffer.alloc(1)));
    await p.waitClosed();
    assert.equal(
      p.received.some((x) => x.type === PacketType.Disconnect),
      false,
    );
    assert.equal(broker.metrics.limitHits.get('maxPublishByteRate'), 1);
  });
});

// ---- off by default ------------------------------------------------------------------------------------

test('publish rate limits are off by default: connections carry no buckets and thousands of messages pass', async () => {
  await withBroker({}, async (broker) => {
    const c = memoryClient(broker, 5);
    await c.connect({ clientId: 'free' });
    for (let i = 0; i < 5000; i++) c.send(publish('t', 'x'));
    await settle(c);
    assert.equal(c.closed, false);
    assert.equal(broker.metrics.publishReceived, 5000);
    const conn = [...broker.sessions.values()][0]?.connection;
    assert.equal(conn?.publishLimit, undefined);
  });
});
