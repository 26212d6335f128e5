import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { test } from 'node:test';
import { Broker } from '../../src/broker/broker.js';
import {
  encodePacket,
  PacketType,
  type ProtocolVersion,
  type PublishPacket,
  type PublishProperties,
  type QoS,
  type RetainHandling,
  type SubscribeProperties,
  type Subscription,
} from '../../src/protocol/index.js';
import { memoryClient, startBroker } from '../helpers/broker-harness.js';
import { FakeClock } from '../helpers/fake-clock.js';
import type { PacketClient } from '../helpers/packet-client.js';

// ---- helpers ----------------------------------------------------------------------------------------

interface SubOptions {
  readonly qos?: QoS;
  readonly retainHandling?: RetainHandling;
  readonly retainAsPublished?: boolean;
  readonly packetId?: number;
  readonly properties?: SubscribeProperties;
}

async function subscribe(c: PacketClient, topicFilter: string, o: SubOptions = {}): Promise<number> {
  const packetId = o.packetId ?? 1;
  const s: Subscription = {
    topicFilter,
    qos: o.qos ?? 0,
    noLocal: false,
    retainAsPublished: o.retainAsPublished ?? false,
    retainHandling: o.retainHandling ?? 0,
  };
  c.send({ type: PacketType.Subscribe, packetId, subscriptions: [s], ...(o.properties === undefined ? {} : { properties: o.properties }) });
  const ack = await c.expect(PacketType.Suback, 2000, (p) => p.packetId === packetId);
  return ack.reasonCodes[0] ?? -1;
}

function retainedPacket(
  topic: string,
  payload: string | Buffer,
  qos: QoS = 0,
  packetId = 1,
  properties?: PublishProperties,
): PublishPacket {
  return {
    type: PacketType.Publish,
    topic,
    payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
    qos,
    retain: true,
    dup: false,
    ...(qos > 0 ? { packetId } : {}),
    ...(properties === undefined ? {} : { properties }),
  };
}

/** Publishes and waits until the broker has handled it (PUBACK, or a PINGREQ round trip for QoS 0). */
async function publish(c: PacketClient, packet: PublishPacket): Promise<void> {
  c.send(packet);
  if (packet.qos === 1) await c.expect(PacketType.Puback);
  else if (packet.qos === 2) {
    await c.expect(PacketType.Pubrec);
    c.send({ type: PacketType.Pubrel, packetId: packet.packetId as number, reasonCode: 0 });
    await c.expect(PacketType.Pubcomp);
  } else await settle(c);
}

async function settle(...clients: PacketClient[]): Promise<void> {
  for (const c of clients) {
    c.send({ type: PacketType.Pingreq });
    await c.expect(PacketType.Pingresp);
  }
}

function publishes(c: PacketClient): PublishPacket[] {
  return c.received.filter((p): p is PublishPacket => p.type === PacketType.Publish);
}

async function connected(broker: Broker, version: ProtocolVersion, clientId: string): Promise<PacketClient> {
  const c = memoryClient(broker, version);
  const ack = await c.connect({ clientId });
  assert.equal(ack.reasonCode, 0);
  return c;
}

async function waitFor(condition: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

function summary(c: PacketClient): [string, string, QoS, boolean][] {
  return publishes(c).map((m) => [m.topic, m.payload.toString(), m.qos, m.retain]);
}

// ---- 5.0 --------------------------------------------------------------------------------------------

test('[MQTT-3.3.1-5] a retained message is stored with its QoS and properties, and a new one replaces it', async () => {
  const broker = new Broker({ sysInterval: 0 });
  try {
    const p = await connected(broker, 5, 'p');
    await publish(p, retainedPacket('r/a', 'one', 2, 1));
    const s1 = await connected(broker, 5, 's1');
    await subscribe(s1, 'r/a', { qos: 2 });
    await settle(s1);
    assert.deepEqual(summary(s1), [['r/a', 'one', 2, true]]);

    const props: PublishProperties = {
      contentType: 'text/plain',
      userProperties: [
        ['a', '1'],
        ['a', '2'],
      ],
      responseTopic: 'back',
    };
    await publish(p, retainedPacket('r/a', 'two', 1, 2, props));
    const s2 = await connected(broker, 5, 's2');
    await subscribe(s2, 'r/#', { qos: 2 });
    await settle(s2);
    assert.deepEqual(summary(s2), [['r/a', 'two', 1, true]]);
    assert.deepEqual(publishes(s2)[0]?.properties, props);
    assert.equal(broker.retained.size, 1);
  } finally {
    await broker.close();
  }
});

test('[MQTT-3.3.1-6] [MQTT-3.3.1-7] an empty retained PUBLISH is forwarded as usual, removes the retained message and is not stored', async () => {
  const broker = new Broker({ sysInterval: 0 });
  try {
    const p = await connected(broker, 5, 'p');
    await publish(p, retainedPacket('r/gone', 'here', 1));
    const live = await connected(broker, 5, 'live');
    await subscribe(live, 'r/gone', { qos: 1 });
    await publish(p, retainedPacket('r/gone', '', 1, 2));
    await publish(p, retainedPacket('r/never', '', 0));
    await settle(live);
    // The live subscriber gets the stored message on subscribe, then the empty one.
    assert.deepEqual(
      summary(live).map(([, payload]) => payload),
      ['here', ''],
    );
    assert.equal(broker.retained.size, 0);
    const later = await connected(broker, 5, 'later');
    await subscribe(later, 'r/#', { qos: 1 });
    await settle(later);
    assert.equal(publishes(later).length, 0);
  } finally {
    await broker.close();
  }
});

test('[MQTT-3.3.1-8] a PUBLISH with RETAIN 0 neither stores nor replaces nor removes the retained message', async () => {
  const broker = new Broker({ sysInterval: 0 });
  try {
    const p = await connected(broker, 5, 'p');
    await publish(p, { ...retainedPacket('r/keep', 'kept', 1), retain: false });
    assert.equal(broker.retained.size, 0);
    await publish(p, retainedPacket('r/keep', 'kept', 1, 2));
    await publish(p, { ...retainedPacket('r/keep', 'not kept', 1, 3), retain: false });
    await publish(p, { ...retainedPacket('r/keep', '', 1, 4), retain: false });
    const s = await connected(broker, 5, 's');
    await subscribe(s, 'r/keep', { qos: 1 });
    await settle(s);
    assert.deepEqual(summary(s), [['r/keep', 'kept', 1, true]]);
  } finally {
    await broker.close();
  }
});

test('[MQTT-3.3.1-9] [MQTT-3.8.4-4] Retain Handling 0: retained messages are sent on every SUBSCRIBE, re-subscriptions included', async () => {
  const broker = new Broker({ sysInterval: 0 });
  try {
    broker.publishInternal('rh/0', Buffer.from('x'), true, 1);
    const s = await connected(broker, 5, 's');
    await subscribe(s, 'rh/+', { qos: 1, retainHandling: 0, properties: { subscriptionIdentifier: 7 } });
    const first = await s.expect(PacketType.Publish);
    assert.equal(first.retain, true);
    assert.deepEqual(first.properties?.subscriptionIdentifiers, [7]);
    s.send({ type: PacketType.Puback, packetId: first.packetId as number, reasonCode: 0 });
    await subscribe(s, 'rh/+', { qos: 1, retainHandling: 0, packetId: 2 });
    const second = await s.expect(PacketType.Publish);
    assert.equal(second.retain, true);
    assert.equal(second.properties?.subscriptionIdentifiers, undefined);
  } finally {
    await broker.close();
  }
});

test('[MQTT-3.3.1-10] Retain Handling 1: retained messages only when the subscription is new', async () => {
  const broker = new Broker({ sysInterval: 0 });
  try {
    broker.publishInternal('rh/1', Buffer.from('x'), true, 0);
    const s = await connected(broker, 5, 's');
    await subscribe(s, 'rh/1', { retainHandling: 1 });
    await subscribe(s, 'rh/1', { retainHandling: 1, packetId: 2 });
    await subscribe(s, 'rh/1', { retainHandling: 1, packetId: 3 });
    await settle(s);
    assert.deepEqual(summary(s), [['rh/1', 'x', 0, true]]);
    // After UNSUBSCRIBE it is new again.
    s.send({ type: PacketType.Unsubscribe, packetId: 4, topicFilters: ['rh/1'] });
    await s.expect(PacketType.Unsuback);
    await subscribe(s, 'rh/1', { retainHandling: 1, packetId: 5 });
    await settle(s);
    assert.equal(publishes(s).length, 2);
  } finally {
    await broker.close();
  }
});

test('[MQTT-3.3.1-11] Retain Handling 2: no retained messages on subscribe, live messages still arrive', async () => {
  const broker = new Broker({ sysInterval: 0 });
  try {
    broker.publishInternal('rh/2', Buffer.from('old'), true, 0);
    const s = await connected(broker, 5, 's');
    await subscribe(s, 'rh/#', { retainHandling: 2 });
    await subscribe(s, 'rh/#', { retainHandling: 2, packetId: 2 });
    await settle(s);
    assert.equal(publishes(s).length, 0);
    broker.publishInternal('rh/2', Buffer.from('new'), true, 0);
    await settle(s);
    assert.deepEqual(summary(s), [['rh/2', 'new', 0, false]]);
  } finally {
    await broker.close();
  }
});

test('[MQTT-3.3.1-12] [MQTT-3.3.1-13] live messages carry RETAIN 0, or the publisher’s flag with Retain As Published', async () => {
  const broker = new Broker({ sysInterval: 0 });
  try {
    const plain = await connected(broker, 5, 'plain');
    await subscribe(plain, 'rap/#', { qos: 1 });
    const rap = await connected(broker, 5, 'rap');
    await subscribe(rap, 'rap/#', { qos: 1, retainAsPublished: true });
    const p = await connected(broker, 5, 'p');
    await publish(p, retainedPacket('rap/a', 'r', 1, 1));
    await publish(p, { ...retainedPacket('rap/a', 'n', 1, 2), retain: false });
    await settle(plain, rap);
    assert.deepEqual(
      summary(plain).map(([, payload, , retain]) => [payload, retain]),
      [
        ['r', false],
        ['n', false],
      ],
    );
    assert.deepEqual(
      summary(rap).map(([, payload, , retain]) => [payload, retain]),
      [
        ['r', true],
        ['n', false],
      ],
    );
  } finally {
    await broker.close();
  }
});

test('[MQTT-3.3.1-9] [MQTT-4.7.2-1] a wildcard SUBSCRIBE gets every matching retained message, but no $ topics through a leading wildcard', async () => {
  const broker = new Broker({ sysInterval: 0 });
  try {
    for (const t of ['w', 'w/a', 'w/b/c', 'x/a', '$w/a', 'w/$a']) broker.publishInternal(t, Buffer.from(t), true, 0);
    const cases: [string, string[]][] = [
      ['w/#', ['w', 'w/a', 'w/b/c', 'w/$a']],
      ['+/a', ['w/a', 'x/a']],
      ['#', ['w', 'w/a', 'w/b/c', 'x/a', 'w/$a']],
      ['$w/+', ['$w/a']],
      ['w/+/c', ['w/b/c']],
      ['nothing/#', []],
    ];
    for (const [i, [filter, expected]] of cases.entries()) {
      const s = await connected(broker, 5, `s${i}`);
      await subscribe(s, filter);
      await settle(s);
      assert.deepEqual(
        publishes(s)
          .map((m) => m.topic)
          .sort(),
        [...expected].sort(),
        filter,
      );
      assert.ok(publishes(s).every((m) => m.retain));
    }
  } finally {
    await broker.close();
  }
});

test('[MQTT-3.8.4-8] retained messages are sent at the minimum of their QoS and the granted QoS', async () => {
  const broker = new Broker({ sysInterval: 0 });
  try {
    broker.publishInternal('q/0', Buffer.from('0'), true, 0);
    broker.publishInternal('q/2', Buffer.from('2'), true, 2);
    for (const granted of [0, 1, 2] as const) {
      const s = await connected(broker, 5, `s${granted}`);
      await subscribe(s, 'q/+', { qos: granted });
      await settle(s);
      const got = new Map(publishes(s).map((m) => [m.topic, m.qos]));
      assert.equal(got.get('q/0'), 0);
      assert.equal(got.get('q/2'), granted);
    }
  } finally {
    await broker.close();
  }
});

test('[MQTT-3.3.2-5] [MQTT-3.3.2-6] a retained message is sent with its remaining expiry, and not at all once expired', async () => {
  const clock = new FakeClock();
  const broker = new Broker({ clock, sysInterval: 0 });
  try {
    const p = await connected(broker, 5, 'p');
    await publish(p, retainedPacket('exp/a', 'soon gone', 1, 1, { messageExpiryInterval: 10 }));
    await publish(p, retainedPacket('exp/b', 'forever', 1, 2));
    clock.advance(4_000);
    const s1 = await connected(broker, 5, 's1');
    await subscribe(s1, 'exp/+', { qos: 1 });
    await settle(s1);
    const got = new Map(publishes(s1).map((m) => [m.topic, m.properties?.messageExpiryInterval]));
    assert.equal(got.get('exp/a'), 6);
    assert.ok(got.has('exp/b'));
    assert.equal(got.get('exp/b'), undefined);
    clock.advance(6_000);
    const s2 = await connected(broker, 5, 's2');
    await subscribe(s2, 'exp/+', { qos: 1 });
    await settle(s2);
    assert.deepEqual(
      publishes(s2).map((m) => m.topic),
      ['exp/b'],
    );
    assert.equal(broker.retained.get('exp/a'), undefined);
  } finally {
    await broker.close();
  }
});

// ---- 3.1.1 and 3.1 ----------------------------------------------------------------------------------

for (const version of [3, 4] as const) {
  test(`[MQTT-3.3.1-5/3.1.1] [MQTT-3.3.1-6/3.1.1] [MQTT-3.3.1-8/3.1.1] [MQTT-3.3.1-9/3.1.1] retained: stored, sent with RETAIN 1 to a new subscription, live with RETAIN 0 (v${version})`, async () => {
    const broker = new Broker({ sysInterval: 0 });
    try {
      const p = await connected(broker, version, 'p');
      await publish(p, retainedPacket('old/t', 'stored', 2, 1));
      const s = await connected(broker, version, 's');
      await subscribe(s, 'old/#', { qos: 2 });
      const first = await s.expect(PacketType.Publish);
      assert.deepEqual([first.payload.toString(), first.qos, first.retain], ['stored', 2, true]);
      s.send({ type: PacketType.Pubrec, packetId: first.packetId as number, reasonCode: 0 });
      await s.expect(PacketType.Pubrel);
      s.send({ type: PacketType.Pubcomp, packetId: first.packetId as number, reasonCode: 0 });
      await publish(p, retainedPacket('old/t', 'live', 0));
      const live = await s.expect(PacketType.Publish);
      assert.deepEqual([live.payload.toString(), live.retain], ['live', false]);
    } finally {
      await broker.close();
    }
  });
}

test('[MQTT-3.3.1-7/3.1.1] [MQTT-3.3.1-12/3.1.1] a retained QoS 0 message replaces the stored one; RETAIN 0 replaces nothing', async () => {
  const broker = new Broker({ sysInterval: 0 });
  try {
    const p = await connected(broker, 4, 'p');
    await publish(p, retainedPacket('old/q', 'qos1', 1));
    await publish(p, retainedPacket('old/q', 'qos0', 0));
    await publish(p, { ...retainedPacket('old/q', 'not retained', 1, 2), retain: false });
    const s = await connected(broker, 4, 's');
    await subscribe(s, 'old/q', { qos: 1 });
    await settle(s);
    assert.deepEqual(summary(s), [['old/q', 'qos0', 0, true]]);
  } finally {
    await broker.close();
  }
});

test('[MQTT-3.3.1-10/3.1.1] [MQTT-3.3.1-11/3.1.1] a zero-byte retained message is forwarded to subscribers, clears the topic and is not stored', async () => {
  const broker = new Broker({ sysInterval: 0 });
  try {
    const p = await connected(broker, 4, 'p');
    await publish(p, retainedPacket('old/z', 'here', 1));
    const live = await connected(broker, 4, 'live');
    await subscribe(live, 'old/z', { qos: 1, retainHandling: 0 });
    await publish(p, retainedPacket('old/z', '', 1, 2));
    await settle(live);
    assert.deepEqual(summary(live), [
      ['old/z', 'here', 1, true],
      ['old/z', '', 1, false],
    ]);
    const later = await connected(broker, 4, 'later');
    await subscribe(later, 'old/z');
    await settle(later);
    assert.equal(publishes(later).length, 0);
    assert.equal(broker.retained.size, 0);
  } finally {
    await broker.close();
  }
});

// ---- many retained messages -------------------------------------------------------------------------

const MANY = 5_000;
const PAYLOAD = Buffer.alloc(1024, 0x61);

function storeMany(broker: Broker, qos: QoS): void {
  for (let i = 0; i < MANY; i++) broker.publishInternal(`many/${i % 50}/${i}`, PAYLOAD, true, qos);
}

function assertAll(c: PacketClient): void {
  const got = publishes(c);
  assert.equal(got.length, MANY);
  assert.equal(new Set(got.map((m) => m.topic)).size, MANY);
  assert.ok(got.every((m) => m.retain && m.payload.length === PAYLOAD.length));
}

test('[MQTT-3.3.1-9] 5,000 retained messages (5 MB, past the high-water mark) all reach a # subscriber, over TCP', async () => {
  const h = await startBroker({ limits: { outboundHighWaterMark: 256 * 1024 } });
  try {
    storeMany(h.broker, 0);
    const s = await h.client(5);
    await s.connect({ clientId: 'many' });
    await subscribe(s, '#');
    await waitFor(() => publishes(s).length >= MANY, 8000, `${MANY} retained messages`);
    await settle(s);
    assertAll(s);
    assert.equal(h.broker.metrics.droppedCongested, 0);
  } finally {
    await h.stop();
  }
});

test('[MQTT-3.3.1-9] retained messages for a subscriber that stops reading for a while all arrive once it reads again (TCP, 4 KiB mark)', async () => {
  const h = await startBroker({ limits: { outboundHighWaterMark: 4 * 1024 } });
  try {
    const n = 2_000;
    const payload = Buffer.alloc(8 * 1024, 0x62);
    for (let i = 0; i < n; i++) h.broker.publishInternal(`paused/${i}`, payload, true, 0);
    const s = await h.client(5);
    await s.connect({ clientId: 'paused' });
    // 16 MB: more than the socket buffers take while the client does not read.
    s.stream.pause();
    s.send({
      type: PacketType.Subscribe,
      packetId: 1,
      subscriptions: [{ topicFilter: 'paused/+', qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
    });
    await waitFor(() => (h.broker.metrics.limitHits.get('outboundHighWaterMark') ?? 0) > 0, 5000, 'congestion');
    await new Promise((r) => setTimeout(r, 50));
    s.stream.resume();
    await waitFor(() => publishes(s).length >= n, 8000, `${n} retained messages`);
    assert.equal(new Set(publishes(s).map((m) => m.topic)).size, n);
  } finally {
    await h.stop();
  }
});

for (const hwm of [64 * 1024, 4 * 1024]) {
  test(`[MQTT-3.3.1-9] 5,000 retained messages all reach a # subscriber with a ${hwm / 1024} KiB high-water mark, in memory`, async () => {
    const broker = new Broker({ sysInterval: 0, limits: { outboundHighWaterMark: hwm } });
    try {
      storeMany(broker, 0);
      const s = await connected(broker, 5, 'many');
      await subscribe(s, 'many/#');
      await waitFor(() => publishes(s).length >= MANY, 8000, `${MANY} retained messages`);
      await settle(s);
      assertAll(s);
      assert.equal(broker.metrics.droppedCongested, 0);
    } finally {
      await broker.close();
    }
  });
}

test('[MQTT-3.3.1-9] 5,000 retained QoS 1 messages reach a # subscriber through its Receive Maximum window', async () => {
  const broker = new Broker({ sysInterval: 0 });
  try {
    storeMany(broker, 1);
    const s = memoryClient(broker, 5);
    await s.connect({ clientId: 'many', properties: { receiveMaximum: 50 } });
    await subscribe(s, '#', { qos: 1 });
    let acked = 0;
    while (acked < MANY) {
      await waitFor(() => publishes(s).length > acked, 5000, `message ${acked + 1}`);
      const batch = publishes(s).slice(acked);
      assert.ok(batch.length <= 50, 'never more than Receive Maximum unacknowledged');
      s.sendRaw(
        Buffer.concat(batch.map((m) => encodePacket({ type: PacketType.Puback, packetId: m.packetId as number, reasonCode: 0 }, 5))),
      );
      acked += batch.length;
    }
    await settle(s);
    assertAll(s);
  } finally {
    await broker.close();
  }
});
