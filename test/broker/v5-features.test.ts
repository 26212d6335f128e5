import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { test } from 'node:test';
import { Broker } from '../../src/broker/broker.js';
import {
  type ConnectProperties,
  PacketType,
  type ProtocolVersion,
  type PublishPacket,
  type PublishProperties,
  type QoS,
  type SubscribeProperties,
  type Subscription,
} from '../../src/protocol/index.js';
import { memoryClient, startBroker } from '../helpers/broker-harness.js';
import { FakeClock } from '../helpers/fake-clock.js';
import type { PacketClient } from '../helpers/packet-client.js';

// ---- helpers ----------------------------------------------------------------------------------------

function sub(topicFilter: string, qos: QoS = 0, noLocal = false): Subscription {
  return { topicFilter, qos, noLocal, retainAsPublished: false, retainHandling: 0 };
}

async function subscribe(c: PacketClient, filter: string, qos: QoS = 0, properties?: SubscribeProperties, noLocal = false): Promise<void> {
  c.send({
    type: PacketType.Subscribe,
    packetId: 1,
    subscriptions: [sub(filter, qos, noLocal)],
    ...(properties === undefined ? {} : { properties }),
  });
  const ack = await c.expect(PacketType.Suback);
  assert.ok((ack.reasonCodes[0] ?? 0x80) < 0x80, `subscribe ${filter}`);
}

function publishPacket(topic: string, payload: string | Buffer, qos: QoS = 0, packetId = 1, properties?: PublishProperties): PublishPacket {
  return {
    type: PacketType.Publish,
    topic,
    payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
    qos,
    retain: false,
    dup: false,
    ...(qos > 0 ? { packetId } : {}),
    ...(properties === undefined ? {} : { properties }),
  };
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

async function connected(
  broker: Broker,
  clientId: string,
  properties?: ConnectProperties,
  version: ProtocolVersion = 5,
  clean = true,
): Promise<PacketClient> {
  const c = memoryClient(broker, version);
  const ack = await c.connect({ clientId, clean, ...(properties === undefined ? {} : { properties }) });
  assert.equal(ack.reasonCode, 0);
  return c;
}

async function waitFor(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 1));
  }
}

async function expectDisconnect(c: PacketClient, reasonCode: number): Promise<void> {
  const d = await c.expect(PacketType.Disconnect);
  assert.equal(d.reasonCode, reasonCode, `DISCONNECT 0x${d.reasonCode.toString(16)}`);
  await c.waitClosed();
}

// ---- Message Expiry Interval ------------------------------------------------------------------------

test('[MQTT-3.3.2-6] the Message Expiry Interval is forwarded less the time the message waited for an offline subscriber', async () => {
  const clock = new FakeClock();
  const broker = new Broker({ clock, sysInterval: 0 });
  try {
    const live = await connected(broker, 'live');
    await subscribe(live, 'exp', 1);
    const s = await connected(broker, 's', { sessionExpiryInterval: 600 });
    await subscribe(s, 'exp', 1);
    s.end();
    await waitFor(() => !broker.isConnected('s'));
    const p = await connected(broker, 'p');
    p.send(publishPacket('exp', 'x', 1, 1, { messageExpiryInterval: 60 }));
    await p.expect(PacketType.Puback);
    // Delivered at once: nothing waited.
    assert.equal((await live.expect(PacketType.Publish)).properties?.messageExpiryInterval, 60);
    clock.advance(20_500);
    const back = await connected(broker, 's', { sessionExpiryInterval: 600 }, 5, false);
    const m = await back.expect(PacketType.Publish);
    assert.equal(m.properties?.messageExpiryInterval, 40);
  } finally {
    await broker.close();
  }
});

test('[MQTT-3.3.2-5] a message whose expiry passes while queued for an offline subscriber is deleted, not delivered', async () => {
  const clock = new FakeClock();
  const broker = new Broker({ clock, sysInterval: 0 });
  try {
    const s = await connected(broker, 's', { sessionExpiryInterval: 600 });
    await subscribe(s, 'exp/#', 2);
    s.end();
    await waitFor(() => !broker.isConnected('s'));
    const p = await connected(broker, 'p');
    p.send(publishPacket('exp/short', 'short', 1, 1, { messageExpiryInterval: 10 }));
    p.send(publishPacket('exp/long', 'long', 1, 2, { messageExpiryInterval: 100 }));
    p.send(publishPacket('exp/none', 'none', 1, 3));
    await p.expect(PacketType.Puback);
    await p.expect(PacketType.Puback);
    await p.expect(PacketType.Puback);
    clock.advance(10_000);
    const back = await connected(broker, 's', { sessionExpiryInterval: 600 }, 5, false);
    await settle(back);
    assert.deepEqual(
      publishes(back).map((m) => [m.payload.toString(), m.properties?.messageExpiryInterval]),
      [
        ['long', 90],
        ['none', undefined],
      ],
    );
    assert.equal(broker.metrics.droppedExpired, 1);
  } finally {
    await broker.close();
  }
});

test('[MQTT-3.3.2-5] a message whose expiry passes while it waits for the Receive Maximum window is deleted', async () => {
  const clock = new FakeClock();
  const broker = new Broker({ clock, sysInterval: 0 });
  try {
    const s = await connected(broker, 's', { receiveMaximum: 1 });
    await subscribe(s, 'w', 1);
    const p = await connected(broker, 'p');
    p.send(publishPacket('w', 'first', 1, 1));
    p.send(publishPacket('w', 'expires', 1, 2, { messageExpiryInterval: 5 }));
    p.send(publishPacket('w', 'last', 1, 3));
    const first = await s.expect(PacketType.Publish);
    clock.advance(5_000);
    s.send({ type: PacketType.Puback, packetId: first.packetId as number, reasonCode: 0 });
    const next = await s.expect(PacketType.Publish);
    assert.equal(next.payload.toString(), 'last');
  } finally {
    await broker.close();
  }
});

test('[MQTT-4.3.3-7] a QoS 2 message already sent is not expired: it is sent again on reconnect after its expiry', async () => {
  const clock = new FakeClock();
  const broker = new Broker({ clock, sysInterval: 0 });
  try {
    const s = await connected(broker, 's', { sessionExpiryInterval: 600 });
    await subscribe(s, 'q2', 2);
    const p = await connected(broker, 'p');
    p.send(publishPacket('q2', 'x', 2, 1, { messageExpiryInterval: 5 }));
    const sent = await s.expect(PacketType.Publish);
    s.end();
    await waitFor(() => !broker.isConnected('s'));
    clock.advance(60_000);
    const back = await connected(broker, 's', { sessionExpiryInterval: 600 }, 5, false);
    const again = await back.expect(PacketType.Publish);
    assert.deepEqual([again.packetId, again.dup, again.qos], [sent.packetId, true, 2]);
  } finally {
    await broker.close();
  }
});

test('[MQTT-4.3.3-13] the server completes an inbound QoS 2 flow whose message expired meanwhile', async () => {
  const clock = new FakeClock();
  const broker = new Broker({ clock, sysInterval: 0 });
  try {
    const p = await connected(broker, 'p');
    p.send(publishPacket('gone', 'x', 2, 3, { messageExpiryInterval: 1 }));
    assert.equal((await p.expect(PacketType.Pubrec)).packetId, 3);
    clock.advance(5_000);
    p.send({ type: PacketType.Pubrel, packetId: 3, reasonCode: 0 });
    const comp = await p.expect(PacketType.Pubcomp);
    assert.deepEqual([comp.packetId, comp.reasonCode], [3, 0]);
  } finally {
    await broker.close();
  }
});

// ---- Topic Alias, client to server ------------------------------------------------------------------

test('[MQTT-3.3.2-12] the server accepts Topic Aliases 1..its maximum: set with a topic, used with an empty one, re-mapped', async () => {
  const broker = new Broker({ sysInterval: 0, capabilities: { topicAliasMaximum: 5 } });
  try {
    const s = await connected(broker, 's');
    await subscribe(s, 'alias/#');
    const p = memoryClient(broker, 5);
    const connack = await p.connect({ clientId: 'p' });
    assert.equal(connack.properties?.topicAliasMaximum, 5);
    p.send(publishPacket('alias/one', '1', 0, 1, { topicAlias: 1 }));
    p.send(publishPacket('', '2', 0, 1, { topicAlias: 1 }));
    p.send(publishPacket('alias/five', '3', 0, 1, { topicAlias: 5 }));
    p.send(publishPacket('alias/other', '4', 0, 1, { topicAlias: 1 }));
    p.send(publishPacket('', '5', 1, 7, { topicAlias: 1 }));
    p.send(publishPacket('', '6', 0, 1, { topicAlias: 5 }));
    await p.expect(PacketType.Puback);
    await settle(p, s);
    assert.deepEqual(
      publishes(s).map((m) => [m.topic, m.payload.toString()]),
      [
        ['alias/one', '1'],
        ['alias/one', '2'],
        ['alias/five', '3'],
        ['alias/other', '4'],
        ['alias/other', '5'],
        ['alias/five', '6'],
      ],
    );
    // The alias is not forwarded.
    assert.ok(publishes(s).every((m) => m.properties?.topicAlias === undefined));
  } finally {
    await broker.close();
  }
});

test('[MQTT-3.3.2-9] a Topic Alias above the server’s Topic Alias Maximum gets DISCONNECT 0x94', async () => {
  const broker = new Broker({ sysInterval: 0, capabilities: { topicAliasMaximum: 5 } });
  try {
    const p = await connected(broker, 'p');
    p.send(publishPacket('a', 'x', 0, 1, { topicAlias: 6 }));
    await expectDisconnect(p, 0x94);
  } finally {
    await broker.close();
  }
});

test('[MQTT-3.2.2-18] with Topic Alias Maximum 0 the server announces none and any Topic Alias gets DISCONNECT 0x94', async () => {
  const broker = new Broker({ sysInterval: 0, capabilities: { topicAliasMaximum: 0 } });
  try {
    const p = memoryClient(broker, 5);
    const connack = await p.connect({ clientId: 'p' });
    assert.equal(connack.properties?.topicAliasMaximum, undefined);
    p.send(publishPacket('a', 'x', 1, 1, { topicAlias: 1 }));
    await expectDisconnect(p, 0x94);
  } finally {
    await broker.close();
  }
});

test('[MQTT-3.3.2-8] a Topic Alias of 0 gets DISCONNECT 0x94', async () => {
  const broker = new Broker({ sysInterval: 0 });
  try {
    const p = await connected(broker, 'p');
    // PUBLISH QoS 0, topic "a", properties: Topic Alias (0x23) = 0.
    p.sendRaw([0x30, 0x08, 0x00, 0x01, 0x61, 0x03, 0x23, 0x00, 0x00, 0x78]);
    await expectDisconnect(p, 0x94);
  } finally {
    await broker.close();
  }
});

test('[MQTT-4.13.1-1] an empty Topic Name with a Topic Alias that has no mapping is a Protocol Error: DISCONNECT 0x82', async () => {
  const broker = new Broker({ sysInterval: 0 });
  try {
    const p = await connected(broker, 'p');
    p.send(publishPacket('', 'x', 0, 1, { topicAlias: 3 }));
    await expectDisconnect(p, 0x82);
  } finally {
    await broker.close();
  }
});

test('[MQTT-3.3.2-7] Topic Alias mappings do not carry over to a new network connection', async () => {
  const broker = new Broker({ sysInterval: 0 });
  try {
    const first = await connected(broker, 'p', { sessionExpiryInterval: 600 });
    first.send(publishPacket('mapped', 'x', 1, 1, { topicAlias: 2 }));
    await first.expect(PacketType.Puback);
    first.end();
    await waitFor(() => !broker.isConnected('p'));
    const second = await connected(broker, 'p', { sessionExpiryInterval: 600 }, 5, false);
    second.send(publishPacket('', 'y', 1, 2, { topicAlias: 2 }));
    await expectDisconnect(second, 0x82);
  } finally {
    await broker.close();
  }
});

// ---- Topic Alias, server to client ------------------------------------------------------------------

/** Resolves the Topic Aliases a client was sent, as a client would; fails on an alias used before it is set. */
function resolveTopics(c: PacketClient): string[] {
  const map = new Map<number, string>();
  return publishes(c).map((m) => {
    const alias = m.properties?.topicAlias;
    if (alias === undefined) return m.topic;
    if (m.topic.length > 0) {
      map.set(alias, m.topic);
      return m.topic;
    }
    const topic = map.get(alias);
    assert.ok(topic !== undefined, `alias ${alias} used before it was set`);
    return topic;
  });
}

test('[MQTT-3.3.2-11] [MQTT-3.1.2-26] the server assigns Topic Aliases within the client’s maximum and reuses them with an empty topic', async () => {
  const broker = new Broker({ sysInterval: 0 });
  try {
    const s = await connected(broker, 's', { topicAliasMaximum: 2 });
    await subscribe(s, 'ta/#', 1);
    const p = await connected(broker, 'p');
    const sequence = ['ta/a', 'ta/a', 'ta/b', 'ta/a', 'ta/c', 'ta/c', 'ta/b', 'ta/a', 'ta/d', 'ta/d'];
    sequence.forEach((t, i) => {
      p.send(publishPacket(t, String(i), (i % 2) as QoS, i + 1));
    });
    await settle(p);
    await waitFor(() => publishes(s).length === sequence.length);
    const got = publishes(s);
    assert.deepEqual(resolveTopics(s), sequence);
    assert.deepEqual(
      got.map((m) => m.payload.toString()),
      sequence.map((_, i) => String(i)),
    );
    for (const m of got) {
      const alias = m.properties?.topicAlias;
      assert.ok(alias !== undefined && alias >= 1 && alias <= 2, `alias ${String(alias)} within 1..2`);
    }
    // The second message on ta/a is sent with an empty Topic Name.
    assert.equal(got[1]?.topic, '');
    assert.equal(got[5]?.topic, '');
  } finally {
    await broker.close();
  }
});

test('[MQTT-3.1.2-27] a client that sets no Topic Alias Maximum is sent no Topic Aliases', async () => {
  const broker = new Broker({ sysInterval: 0 });
  try {
    const none = await connected(broker, 'none');
    await subscribe(none, 'ta/#');
    const zero = await connected(broker, 'zero', { topicAliasMaximum: 0 });
    await subscribe(zero, 'ta/#');
    const p = await connected(broker, 'p');
    for (const t of ['ta/a', 'ta/a', 'ta/b']) p.send(publishPacket(t, 'x'));
    await settle(p, none, zero);
    for (const c of [none, zero]) {
      assert.equal(publishes(c).length, 3);
      assert.ok(publishes(c).every((m) => m.topic.length > 0 && m.properties?.topicAlias === undefined));
    }
  } finally {
    await broker.close();
  }
});

// ---- Maximum Packet Size of the client --------------------------------------------------------------

test('[MQTT-3.1.2-24] [MQTT-3.1.2-25] a message above the client’s Maximum Packet Size is dropped for that client only, as if delivered', async () => {
  const broker = new Broker({ sysInterval: 0 });
  try {
    broker.publishInternal('mps/retained-big', Buffer.alloc(400), true, 1);
    broker.publishInternal('mps/retained-small', Buffer.from('s'), true, 1);
    // Receive Maximum 1: if the big message took a slot, the small one after it could not come.
    const small = await connected(broker, 'small', { maximumPacketSize: 128, receiveMaximum: 1 });
    await subscribe(small, 'mps/#', 1);
    const first = await small.expect(PacketType.Publish);
    assert.equal(first.topic, 'mps/retained-small');
    small.send({ type: PacketType.Puback, packetId: first.packetId as number, reasonCode: 0 });
    const big = await connected(broker, 'big');
    await subscribe(big, 'mps/#', 1);
    const p = await connected(broker, 'p');
    p.send(publishPacket('mps/live', Buffer.alloc(500, 0x62), 1, 1));
    p.send(publishPacket('mps/live', 'fits', 1, 2));
    await p.expect(PacketType.Puback);
    await p.expect(PacketType.Puback);
    const fits = await small.expect(PacketType.Publish);
    assert.equal(fits.payload.toString(), 'fits');
    await settle(small, big);
    assert.equal(publishes(small).length, 2);
    assert.equal(publishes(big).filter((m) => m.topic === 'mps/live').length, 2);
    assert.ok(broker.metrics.droppedTooLarge >= 2);
  } finally {
    await broker.close();
  }
});

// ---- No Local, Subscription Identifiers -------------------------------------------------------------

test('[MQTT-3.8.3-3] No Local: a client is not sent its own messages on that subscription, others are', async () => {
  const broker = new Broker({ sysInterval: 0 });
  try {
    const c = await connected(broker, 'self');
    await subscribe(c, 'nl/#', 1, { subscriptionIdentifier: 1 }, true);
    const other = await connected(broker, 'other');
    await subscribe(other, 'nl/#', 1, undefined, true);
    c.send(publishPacket('nl/a', 'mine', 1, 1));
    await c.expect(PacketType.Puback);
    other.send(publishPacket('nl/a', 'theirs', 1, 1));
    await other.expect(PacketType.Puback);
    await settle(c, other);
    assert.deepEqual(
      publishes(c).map((m) => m.payload.toString()),
      ['theirs'],
    );
    assert.deepEqual(
      publishes(other).map((m) => m.payload.toString()),
      ['mine'],
    );
    // An overlapping subscription without No Local delivers its own messages, with only its identifier.
    c.send({ type: PacketType.Subscribe, packetId: 2, subscriptions: [sub('nl/+', 0)], properties: { subscriptionIdentifier: 2 } });
    await c.expect(PacketType.Suback);
    c.send(publishPacket('nl/b', 'mine again', 1, 2));
    await c.expect(PacketType.Puback);
    const own = await c.expect(PacketType.Publish, 2000, (m) => m.payload.toString() === 'mine again');
    assert.deepEqual([own.qos, own.properties?.subscriptionIdentifiers], [0, [2]]);
    await settle(c);
    assert.equal(publishes(c).length, 2, 'one copy only');
  } finally {
    await broker.close();
  }
});

test('[MQTT-3.3.4-3] the Subscription Identifier of the matching subscription is sent with the message, to 5.0 clients only', async () => {
  const broker = new Broker({ sysInterval: 0 });
  try {
    const a = await connected(broker, 'a');
    await subscribe(a, 'sid/+', 1, { subscriptionIdentifier: 100 });
    const b = await connected(broker, 'b');
    await subscribe(b, 'sid/#', 1, { subscriptionIdentifier: 16_384 });
    const c = await connected(broker, 'c');
    await subscribe(c, 'sid/x', 1);
    const old = await connected(broker, 'old', undefined, 4);
    await subscribe(old, 'sid/x', 1);
    const p = await connected(broker, 'p');
    p.send(publishPacket('sid/x', 'x', 1, 1));
    for (const [client, ids] of [
      [a, [100]],
      [b, [16_384]],
      [c, undefined],
    ] as const) {
      const m = await client.expect(PacketType.Publish);
      assert.deepEqual(m.properties?.subscriptionIdentifiers, ids);
    }
    const m4 = await old.expect(PacketType.Publish);
    assert.equal(m4.payload.toString(), 'x');
    assert.equal(old.decodeError, undefined);
  } finally {
    await broker.close();
  }
});

test('[MQTT-3.3.4-6] a PUBLISH from a client with a Subscription Identifier gets DISCONNECT 0x82', async () => {
  const broker = new Broker({ sysInterval: 0 });
  try {
    const s = await connected(broker, 's');
    await subscribe(s, 'x');
    const p = await connected(broker, 'p');
    p.send(publishPacket('x', 'x', 1, 1, { subscriptionIdentifiers: [4] }));
    await expectDisconnect(p, 0x82);
    await settle(s);
    assert.equal(publishes(s).length, 0);
  } finally {
    await broker.close();
  }
});

// ---- properties forwarded unaltered -----------------------------------------------------------------

const FORWARDED: PublishProperties = {
  payloadFormatIndicator: 1,
  contentType: 'application/json; charset=utf-8',
  responseTopic: 'reply/to/me',
  correlationData: Buffer.from([0x00, 0xff, 0x10, 0x00]),
  userProperties: [
    ['b', '2'],
    ['a', '1'],
    ['b', '2'],
    ['b', 'other'],
    ['', ''],
  ],
};

test('[MQTT-3.3.2-4] [MQTT-3.3.2-15] [MQTT-3.3.2-16] [MQTT-3.3.2-17] [MQTT-3.3.2-18] [MQTT-3.3.2-20] publish properties reach every subscriber unaltered, user properties in order with duplicates', async () => {
  const h = await startBroker();
  try {
    const plain0 = await h.client(5);
    await plain0.connect({ clientId: 'plain0' });
    await subscribe(plain0, 'props/#', 0);
    const plain1 = await h.client(5);
    await plain1.connect({ clientId: 'plain1' });
    await subscribe(plain1, 'props/#', 1);
    const withId = await h.client(5);
    await withId.connect({ clientId: 'withId' });
    await subscribe(withId, 'props/+', 2, { subscriptionIdentifier: 5 });
    const withAlias = await h.client(5);
    await withAlias.connect({ clientId: 'withAlias', properties: { topicAliasMaximum: 10 } });
    await subscribe(withAlias, 'props/#', 1);
    const p = await h.client(5);
    await p.connect({ clientId: 'p' });
    p.send(publishPacket('props/a', '{"ok":true}', 2, 1, { ...FORWARDED, messageExpiryInterval: 3600 }));
    await p.expect(PacketType.Pubrec);
    for (const s of [plain0, plain1, withId, withAlias]) {
      const m = await s.expect(PacketType.Publish);
      const { subscriptionIdentifiers, topicAlias, messageExpiryInterval, ...rest } = m.properties ?? {};
      assert.deepEqual(rest, FORWARDED);
      assert.equal(messageExpiryInterval, 3600);
      assert.equal(m.payload.toString(), '{"ok":true}');
    }
  } finally {
    await h.stop();
  }
});

test('[MQTT-3.3.2-17] [MQTT-3.3.2-18] user properties are forwarded unaltered from a stored (offline) and a retained copy too', async () => {
  const broker = new Broker({ sysInterval: 0 });
  try {
    const s = await connected(broker, 's', { sessionExpiryInterval: 600 });
    await subscribe(s, 'stored', 1);
    s.end();
    await waitFor(() => !broker.isConnected('s'));
    const p = await connected(broker, 'p');
    p.send(publishPacket('stored', 'x', 1, 1, FORWARDED));
    p.send({ ...publishPacket('stored', 'x', 1, 2, FORWARDED), retain: true });
    await p.expect(PacketType.Puback);
    await p.expect(PacketType.Puback);
    const back = await connected(broker, 's', { sessionExpiryInterval: 600 }, 5, false);
    const queued = await back.expect(PacketType.Publish);
    assert.deepEqual(queued.properties, FORWARDED);
    const r = await connected(broker, 'r');
    await subscribe(r, 'stored', 1);
    const retained = await r.expect(PacketType.Publish);
    assert.equal(retained.retain, true);
    assert.deepEqual(retained.properties, FORWARDED);
  } finally {
    await broker.close();
  }
});

// ---- checks on what a client publishes --------------------------------------------------------------

test('[MQTT-3.4.2-1] [MQTT-3.5.2-1] Payload Format Indicator 1 with invalid UTF-8: PUBACK / PUBREC 0x99, DISCONNECT 0x99 for QoS 0, not forwarded', async () => {
  const broker = new Broker({ sysInterval: 0 });
  try {
    const s = await connected(broker, 's');
    await subscribe(s, 'pfi', 2);
    const p = await connected(broker, 'p');
    const bad = Buffer.from([0x61, 0xc3, 0x28]);
    p.send(publishPacket('pfi', bad, 1, 1, { payloadFormatIndicator: 1 }));
    const puback = await p.expect(PacketType.Puback);
    assert.deepEqual([puback.packetId, puback.reasonCode], [1, 0x99]);
    p.send(publishPacket('pfi', bad, 2, 2, { payloadFormatIndicator: 1 }));
    const pubrec = await p.expect(PacketType.Pubrec);
    assert.deepEqual([pubrec.packetId, pubrec.reasonCode], [2, 0x99]);
    // Not marked as UTF-8: any bytes go.
    p.send(publishPacket('pfi', bad, 1, 3, { payloadFormatIndicator: 0 }));
    assert.equal((await p.expect(PacketType.Puback)).reasonCode, 0);
    p.send(publishPacket('pfi', bad, 0, 1, { payloadFormatIndicator: 1 }));
    await expectDisconnect(p, 0x99);
    await settle(s);
    assert.equal(publishes(s).length, 1);
    assert.equal(publishes(s)[0]?.properties?.payloadFormatIndicator, 0);
  } finally {
    await broker.close();
  }
});

test('[MQTT-3.2.2-9] [MQTT-3.2.2-11] a PUBLISH above the announced Maximum QoS gets DISCONNECT 0x9B', async () => {
  for (const maximumQoS of [0, 1] as const) {
    const broker = new Broker({ sysInterval: 0, capabilities: { maximumQoS } });
    try {
      const s = await connected(broker, 's');
      await subscribe(s, 'q', 2);
      const p = memoryClient(broker, 5);
      const connack = await p.connect({ clientId: 'p' });
      assert.equal(connack.properties?.maximumQoS, maximumQoS);
      p.send(publishPacket('q', 'ok', maximumQoS, 1));
      p.send(publishPacket('q', 'too high', (maximumQoS + 1) as QoS, 2));
      await expectDisconnect(p, 0x9b);
      await settle(s);
      assert.deepEqual(
        publishes(s).map((m) => m.payload.toString()),
        ['ok'],
      );
    } finally {
      await broker.close();
    }
  }
});

test('[MQTT-3.2.2-14] with Retain Available 0, a PUBLISH with RETAIN 1 gets DISCONNECT 0x9A and nothing is stored', async () => {
  const broker = new Broker({ sysInterval: 0, capabilities: { retainAvailable: false } });
  try {
    const p = memoryClient(broker, 5);
    const connack = await p.connect({ clientId: 'p' });
    assert.equal(connack.properties?.retainAvailable, false);
    p.send({ ...publishPacket('r', 'x', 1, 1), retain: true });
    await expectDisconnect(p, 0x9a);
    assert.equal(broker.retained.size, 0);
  } finally {
    await broker.close();
  }
});
