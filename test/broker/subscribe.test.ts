import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { test } from 'node:test';
import { Broker } from '../../src/broker/broker.js';
import type { BrokerOptions } from '../../src/broker/options.js';
import {
  PacketType,
  type ProtocolVersion,
  type PublishPacket,
  type QoS,
  type SubackPacket,
  type SubscribeProperties,
  type Subscription,
} from '../../src/protocol/index.js';
import { memoryClient } from '../helpers/broker-harness.js';
import type { PacketClient } from '../helpers/packet-client.js';

// ---- helpers ----------------------------------------------------------------------------------------

function sub(topicFilter: string, qos: QoS = 0): Subscription {
  return { topicFilter, qos, noLocal: false, retainAsPublished: false, retainHandling: 0 };
}

async function subscribeAll(
  c: PacketClient,
  subscriptions: readonly Subscription[],
  packetId = 1,
  properties?: SubscribeProperties,
): Promise<SubackPacket> {
  c.send({ type: PacketType.Subscribe, packetId, subscriptions, ...(properties === undefined ? {} : { properties }) });
  return c.expect(PacketType.Suback, 2000, (p) => p.packetId === packetId);
}

async function subscribe(c: PacketClient, filter: string, qos: QoS = 0, packetId = 1, properties?: SubscribeProperties): Promise<number> {
  const ack = await subscribeAll(c, [sub(filter, qos)], packetId, properties);
  return ack.reasonCodes[0] ?? -1;
}

async function unsubscribe(c: PacketClient, filters: readonly string[], packetId = 1): Promise<readonly number[]> {
  c.send({ type: PacketType.Unsubscribe, packetId, topicFilters: filters });
  const ack = await c.expect(PacketType.Unsuback, 2000, (p) => p.packetId === packetId);
  return ack.reasonCodes;
}

function publishPacket(topic: string, payload: string, qos: QoS = 0, packetId = 1): PublishPacket {
  return {
    type: PacketType.Publish,
    topic,
    payload: Buffer.from(payload),
    qos,
    retain: false,
    dup: false,
    ...(qos > 0 ? { packetId } : {}),
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

async function connected(broker: Broker, version: ProtocolVersion, clientId: string): Promise<PacketClient> {
  const c = memoryClient(broker, version);
  const ack = await c.connect({ clientId });
  assert.equal(ack.reasonCode, 0);
  return c;
}

function sid(version: ProtocolVersion, v5: string, v311: string): string {
  return version === 5 ? `[${v5}]` : `[${v311}/3.1.1]`;
}

/**
 * Subscribes one client per filter, publishes every topic once from another client, and returns for each
 * filter the topics its client received.
 */
async function matchTable(version: ProtocolVersion, filters: readonly string[], topics: readonly string[]): Promise<Map<string, string[]>> {
  const broker = new Broker({ sysInterval: 0 });
  try {
    const subs: PacketClient[] = [];
    for (const [i, f] of filters.entries()) {
      const s = await connected(broker, version, `s${i}`);
      assert.equal(await subscribe(s, f), 0, `subscribe ${f}`);
      subs.push(s);
    }
    const p = await connected(broker, version, 'p');
    for (const t of topics) p.send(publishPacket(t, t));
    await settle(p, ...subs);
    return new Map(filters.map((f, i) => [f, publishes(subs[i] as PacketClient).map((m) => m.topic)]));
  } finally {
    await broker.close();
  }
}

/** SUBSCRIBE bytes for filters and option bytes the codec would refuse to encode. */
function rawSubscribe(version: ProtocolVersion, filter: string, options: number): Buffer {
  const f = Buffer.from(filter);
  const body = Buffer.concat([
    Buffer.from([0, 1]),
    version === 5 ? Buffer.from([0]) : Buffer.alloc(0),
    Buffer.from([f.length >> 8, f.length & 0xff]),
    f,
    Buffer.from([options]),
  ]);
  return Buffer.concat([Buffer.from([0x82, body.length]), body]);
}

async function expectClosedWith(c: PacketClient, reasonCode: number): Promise<void> {
  await c.waitClosed();
  const d = c.received.find((p) => p.type === PacketType.Disconnect);
  if (c.version === 5) assert.equal(d?.reasonCode, reasonCode);
  else assert.equal(d, undefined);
  assert.equal(
    c.received.some((p) => p.type === PacketType.Suback),
    false,
  );
}

// ---- SUBACK -----------------------------------------------------------------------------------------

for (const version of [3, 4, 5] as const) {
  test(`[MQTT-3.8.4-1] [MQTT-3.8.4-2] SUBSCRIBE is answered by SUBACK with its Packet Identifier (v${version})`, async () => {
    const broker = new Broker({ sysInterval: 0 });
    try {
      const c = await connected(broker, version, 'c');
      for (const id of [1, 513, 65_535]) {
        c.send({ type: PacketType.Subscribe, packetId: id, subscriptions: [sub(`t/${id}`, 1)] });
        const ack = await c.expect(PacketType.Suback);
        assert.equal(ack.packetId, id);
        assert.deepEqual(ack.reasonCodes, [1]);
      }
    } finally {
      await broker.close();
    }
  });
}

for (const version of [4, 5] as const) {
  test(`[MQTT-3.8.4-5] [MQTT-3.8.4-6] [MQTT-3.9.3-1] ${sid(version, 'MQTT-3.9.3-2', 'MQTT-3.9.3-2')} one SUBACK with a code per filter, in order, each handled alone (v${version})`, async () => {
    const broker = new Broker({ sysInterval: 0, limits: { maxTopicLevels: 3 } });
    try {
      const c = await connected(broker, version, 'c');
      const ack = await subscribeAll(c, [sub('m/a', 2), sub('m/b/c/d', 1), sub('m/c', 0), sub('m/+', 1)]);
      assert.deepEqual(ack.reasonCodes, [2, version === 5 ? 0x8f : 0x80, 0, 1]);
      const p = await connected(broker, 5, 'p');
      p.send(publishPacket('m/a', 'a', 2, 1));
      p.send(publishPacket('m/c', 'c', 1, 2));
      await p.expect(PacketType.Pubrec);
      await p.expect(PacketType.Puback);
      await settle(c);
      // m/a matches m/a (QoS 2) and m/+ (QoS 1): one copy at QoS 2; m/c matches m/c (0) and m/+ (1).
      assert.deepEqual(
        publishes(c).map((m) => [m.topic, m.qos]),
        [
          ['m/a', 2],
          ['m/c', 1],
        ],
      );
    } finally {
      await broker.close();
    }
  });

  test(`${sid(version, 'MQTT-3.8.4-7', 'MQTT-3.8.4-6')} the granted QoS is capped by the server's Maximum QoS (v${version})`, async () => {
    for (const maximumQoS of [0, 1] as const) {
      const broker = new Broker({ sysInterval: 0, capabilities: { maximumQoS } });
      try {
        const c = await connected(broker, version, 'c');
        const ack = await subscribeAll(c, [sub('g/0', 0), sub('g/1', 1), sub('g/2', 2)]);
        assert.deepEqual(
          ack.reasonCodes,
          [0, 1, 2].map((q) => Math.min(q, maximumQoS)),
        );
      } finally {
        await broker.close();
      }
    }
  });
}

test('[MQTT-3.2.2-10] a server with Maximum QoS 0 still accepts SUBSCRIBE with QoS 1 and 2, says so in CONNACK, and delivers at QoS 0', async () => {
  const broker = new Broker({ sysInterval: 0, capabilities: { maximumQoS: 0 } });
  try {
    const c = memoryClient(broker, 5);
    const connack = await c.connect({ clientId: 'c' });
    assert.equal(connack.properties?.maximumQoS, 0);
    assert.equal(await subscribe(c, 'cap', 2), 0);
    broker.publishInternal('cap', Buffer.from('x'), false, 2);
    const m = await c.expect(PacketType.Publish);
    assert.equal(m.qos, 0);
  } finally {
    await broker.close();
  }
});

// ---- matching ---------------------------------------------------------------------------------------

for (const version of [4, 5] as const) {
  test(`${sid(version, 'MQTT-4.7.1-2', 'MQTT-4.7.1-3')} '+' matches exactly one level, including an empty one (v${version})`, async () => {
    const topics = ['sport/tennis/player', 'sport/tennis/x/player', 'sport//player', 'sport', '/finance', 'sport/tennis', 'a/b'];
    const got = await matchTable(version, ['sport/+/player', '+', '+/+', '/+', 'sport/+'], topics);
    assert.deepEqual(got.get('sport/+/player'), ['sport/tennis/player', 'sport//player']);
    assert.deepEqual(got.get('+'), ['sport']);
    assert.deepEqual(got.get('+/+'), ['/finance', 'sport/tennis', 'a/b']);
    assert.deepEqual(got.get('/+'), ['/finance']);
    assert.deepEqual(got.get('sport/+'), ['sport/tennis']);
  });

  test(`${sid(version, 'MQTT-4.7.1-1', 'MQTT-4.7.1-2')} '#' matches the parent level and any number of levels below (v${version})`, async () => {
    const topics = ['sport', 'sport/tennis', 'sport/tennis/player/ranking', 'sports', 'sport/tennisx', '/x'];
    const got = await matchTable(version, ['sport/#', 'sport/tennis/#', '#', '/#'], topics);
    assert.deepEqual(got.get('sport/#'), ['sport', 'sport/tennis', 'sport/tennis/player/ranking', 'sport/tennisx']);
    assert.deepEqual(got.get('sport/tennis/#'), ['sport/tennis', 'sport/tennis/player/ranking']);
    assert.deepEqual(got.get('#'), topics);
    assert.deepEqual(got.get('/#'), ['/x']);
  });

  test(`[MQTT-4.7.2-1] filters starting with a wildcard do not match topics starting with '$' (v${version})`, async () => {
    const topics = ['$app/info', '$app', 'app/info', 'x/$y'];
    const got = await matchTable(version, ['#', '+/info', '+', '$app/#', '$app/+', '+/$y'], topics);
    assert.deepEqual(got.get('#'), ['app/info', 'x/$y']);
    assert.deepEqual(got.get('+/info'), ['app/info']);
    assert.deepEqual(got.get('+'), []);
    assert.deepEqual(got.get('$app/#'), ['$app/info', '$app']);
    assert.deepEqual(got.get('$app/+'), ['$app/info']);
    assert.deepEqual(got.get('+/$y'), ['x/$y']);
  });

  test(`[MQTT-4.7.3-4] topics and filters are compared without normalisation: case, trailing '/', spaces (v${version})`, async () => {
    const topics = ['Case', 'case', 'a/b/', 'a/b', ' a', 'a', 'é', 'e\u0301'];
    const got = await matchTable(version, ['case', 'a/b', 'a/b/+', ' a', 'é'], topics);
    assert.deepEqual(got.get('case'), ['case']);
    assert.deepEqual(got.get('a/b'), ['a/b']);
    assert.deepEqual(got.get('a/b/+'), ['a/b/']);
    assert.deepEqual(got.get(' a'), [' a']);
    assert.deepEqual(got.get('é'), ['é']);
  });
}

test('[MQTT-3.3.4-2] [MQTT-3.3.4-3] [MQTT-3.3.4-4] overlapping subscriptions: one PUBLISH at the highest QoS with every Subscription Identifier', async () => {
  const broker = new Broker({ sysInterval: 0 });
  try {
    const c = await connected(broker, 5, 'c');
    assert.equal(await subscribe(c, 'ov/+', 0, 1, { subscriptionIdentifier: 1 }), 0);
    assert.equal(await subscribe(c, 'ov/#', 2, 2, { subscriptionIdentifier: 2 }), 2);
    assert.equal(await subscribe(c, 'ov/x', 1, 3), 1);
    assert.equal(await subscribe(c, 'ov/y', 1, 4, { subscriptionIdentifier: 268_435_455 }), 1);
    const p = await connected(broker, 5, 'p');
    p.send(publishPacket('ov/x', 'two', 2, 1));
    await p.expect(PacketType.Pubrec);
    p.send(publishPacket('ov/x', 'one', 1, 2));
    await p.expect(PacketType.Puback);
    p.send(publishPacket('ov/y', 'y', 2, 3));
    await p.expect(PacketType.Pubrec);
    await settle(c);
    const got = publishes(c);
    assert.deepEqual(
      got.map((m) => [m.payload.toString(), m.qos, [...(m.properties?.subscriptionIdentifiers ?? [])].sort((a, b) => a - b)]),
      [
        ['two', 2, [1, 2]],
        ['one', 1, [1, 2]],
        ['y', 2, [1, 2, 268_435_455]],
      ],
    );
  } finally {
    await broker.close();
  }
});

test('[MQTT-3.3.5-1/3.1.1] overlapping subscriptions of a 3.1.1 client: the message is delivered once, at the highest granted QoS', async () => {
  const broker = new Broker({ sysInterval: 0 });
  try {
    const c = await connected(broker, 4, 'c');
    assert.deepEqual((await subscribeAll(c, [sub('ov/+', 0), sub('ov/#', 1), sub('#', 0)])).reasonCodes, [0, 1, 0]);
    const p = await connected(broker, 4, 'p');
    p.send(publishPacket('ov/x', 'x', 2, 1));
    await p.expect(PacketType.Pubrec);
    await settle(c);
    assert.deepEqual(
      publishes(c).map((m) => m.qos),
      [1],
    );
  } finally {
    await broker.close();
  }
});

for (const version of [4, 5] as const) {
  test(`[MQTT-3.8.4-3] an identical filter replaces the existing subscription: new QoS, one copy (v${version})`, async () => {
    const broker = new Broker({ sysInterval: 0 });
    try {
      const c = await connected(broker, version, 'c');
      const props = (id: number): SubscribeProperties | undefined => (version === 5 ? { subscriptionIdentifier: id } : undefined);
      assert.equal(await subscribe(c, 'rep/a', 0, 1, props(5)), 0);
      assert.equal(await subscribe(c, 'rep/a', 2, 2, props(6)), 2);
      const p = await connected(broker, 5, 'p');
      p.send(publishPacket('rep/a', 'x', 2, 1));
      await p.expect(PacketType.Pubrec);
      await settle(c);
      const got = publishes(c);
      assert.equal(got.length, 1);
      assert.equal(got[0]?.qos, 2);
      if (version === 5) assert.deepEqual(got[0]?.properties?.subscriptionIdentifiers, [6]);
      // And back down: the replacement is complete, not a maximum of old and new.
      assert.equal(await subscribe(c, 'rep/a', 0, 3), 0);
      p.send(publishPacket('rep/a', 'y', 2, 2));
      await p.expect(PacketType.Pubrec);
      await settle(c);
      const last = publishes(c).at(-1);
      assert.equal(publishes(c).length, 2);
      assert.equal(last?.qos, 0);
      assert.equal(last?.properties?.subscriptionIdentifiers, undefined);
    } finally {
      await broker.close();
    }
  });
}

// ---- UNSUBSCRIBE ------------------------------------------------------------------------------------

test('[MQTT-3.10.4-4] [MQTT-3.10.4-5] [MQTT-3.11.3-1] [MQTT-3.10.4-6] UNSUBACK has the Packet Identifier and, in 5.0, 0x00 or 0x11 per filter in order', async () => {
  const broker = new Broker({ sysInterval: 0 });
  try {
    const c = await connected(broker, 5, 'c');
    await subscribeAll(c, [sub('u/a'), sub('u/b'), sub('u/#')]);
    assert.deepEqual(await unsubscribe(c, ['u/a', 'u/none', 'u/#', 'u/a'], 77), [0x00, 0x11, 0x00, 0x11]);
    assert.deepEqual(await unsubscribe(c, ['nothing'], 65_535), [0x11]);
    const p = await connected(broker, 5, 'p');
    for (const t of ['u/a', 'u/b', 'u/c']) p.send(publishPacket(t, t));
    await settle(p, c);
    assert.deepEqual(
      publishes(c).map((m) => m.topic),
      ['u/b'],
    );
  } finally {
    await broker.close();
  }
});

test('[MQTT-3.10.4-4/3.1.1] [MQTT-3.10.4-5/3.1.1] [MQTT-3.10.4-6/3.1.1] 3.1.1 UNSUBACK carries the Packet Identifier and no payload, even when nothing was deleted', async () => {
  const broker = new Broker({ sysInterval: 0 });
  try {
    const c = await connected(broker, 4, 'c');
    await subscribeAll(c, [sub('u/a'), sub('u/b')]);
    assert.deepEqual(await unsubscribe(c, ['u/a', 'u/b'], 12), []);
    assert.deepEqual(await unsubscribe(c, ['never'], 13), []);
    const p = await connected(broker, 4, 'p');
    p.send(publishPacket('u/a', 'x'));
    p.send(publishPacket('u/b', 'x'));
    await settle(p, c);
    assert.equal(publishes(c).length, 0);
  } finally {
    await broker.close();
  }
});

for (const version of [4, 5] as const) {
  test(`[MQTT-3.10.4-1] [MQTT-3.10.4-2] UNSUBSCRIBE compares filters character by character and stops new messages (v${version})`, async () => {
    const broker = new Broker({ sysInterval: 0 });
    try {
      const c = await connected(broker, version, 'c');
      await subscribeAll(c, [sub('x/+'), sub('x/y'), sub('z')]);
      // Neither a filter that merely matches 'x/y' nor a differently written one removes anything.
      const codes = await unsubscribe(c, ['x/#', 'x/y/', 'X/y', 'z']);
      if (version === 5) assert.deepEqual(codes, [0x11, 0x11, 0x11, 0x00]);
      const p = await connected(broker, version, 'p');
      p.send(publishPacket('x/y', '1'));
      p.send(publishPacket('z', '2'));
      await settle(p, c);
      assert.deepEqual(
        publishes(c).map((m) => m.payload.toString()),
        ['1'],
      );
      await unsubscribe(c, ['x/+'], 2);
      p.send(publishPacket('x/y', '3'));
      await settle(p, c);
      await unsubscribe(c, ['x/y'], 3);
      p.send(publishPacket('x/y', '4'));
      await settle(p, c);
      assert.deepEqual(
        publishes(c).map((m) => m.payload.toString()),
        ['1', '3'],
      );
    } finally {
      await broker.close();
    }
  });
}

test('[MQTT-3.10.4-3] a QoS 2 delivery under way when its subscription is removed still completes', async () => {
  const broker = new Broker({ sysInterval: 0 });
  try {
    const c = await connected(broker, 5, 'c');
    await subscribe(c, 'inflight', 2);
    const p = await connected(broker, 5, 'p');
    p.send(publishPacket('inflight', 'x', 2, 1));
    const m = await c.expect(PacketType.Publish);
    assert.deepEqual(await unsubscribe(c, ['inflight'], 2), [0]);
    c.send({ type: PacketType.Pubrec, packetId: m.packetId as number, reasonCode: 0 });
    const rel = await c.expect(PacketType.Pubrel);
    assert.deepEqual([rel.packetId, rel.reasonCode], [m.packetId, 0]);
    c.send({ type: PacketType.Pubcomp, packetId: rel.packetId, reasonCode: 0 });
    await settle(c);
    assert.equal(c.closed, false);
  } finally {
    await broker.close();
  }
});

// ---- invalid filters --------------------------------------------------------------------------------

for (const version of [4, 5] as const) {
  for (const [filter, v5id, v311id] of [
    ['a/#/b', 'MQTT-4.7.1-1', 'MQTT-4.7.1-2'],
    ['#/a', 'MQTT-4.7.1-1', 'MQTT-4.7.1-2'],
    ['a#', 'MQTT-4.7.1-1', 'MQTT-4.7.1-2'],
    ['a+', 'MQTT-4.7.1-2', 'MQTT-4.7.1-3'],
    ['a/+b/c', 'MQTT-4.7.1-2', 'MQTT-4.7.1-3'],
    ['', 'MQTT-4.7.3-1', 'MQTT-4.7.3-1'],
  ] as const) {
    test(`${sid(version, v5id, v311id)} SUBSCRIBE to the invalid filter '${filter}' closes the connection as malformed (v${version})`, async () => {
      const broker = new Broker({ sysInterval: 0 });
      try {
        const c = await connected(broker, version, 'c');
        c.send({ type: PacketType.Subscribe, packetId: 1, subscriptions: [sub('fine'), sub(filter)] });
        await expectClosedWith(c, 0x81);
        assert.equal(broker.subscriptions.size, 0);
      } finally {
        await broker.close();
      }
    });
  }
}

test('[MQTT-3.8.3-4/3.1.1] a 3.1.1 SUBSCRIBE with Requested QoS 3 or reserved bits set closes the connection', async () => {
  const broker = new Broker({ sysInterval: 0 });
  try {
    for (const options of [0x03, 0x04, 0x80]) {
      const c = await connected(broker, 4, `c${options}`);
      c.sendRaw(rawSubscribe(4, 'a', options));
      await expectClosedWith(c, 0);
    }
  } finally {
    await broker.close();
  }
});

test('[MQTT-3.8.3-5] a 5.0 SUBSCRIBE with reserved option bits set gets DISCONNECT 0x81 Malformed Packet', async () => {
  const broker = new Broker({ sysInterval: 0 });
  try {
    for (const options of [0x40, 0x80]) {
      const c = await connected(broker, 5, `c${options}`);
      c.sendRaw(rawSubscribe(5, 'a', options));
      await expectClosedWith(c, 0x81);
    }
    // Maximum QoS 3 and Retain Handling 3 are Protocol Errors. (section 3.8.3.1)
    for (const options of [0x03, 0x30]) {
      const c = await connected(broker, 5, `p${options}`);
      c.sendRaw(rawSubscribe(5, 'a', options));
      await expectClosedWith(c, 0x82);
    }
  } finally {
    await broker.close();
  }
});

// ---- capabilities turned off ------------------------------------------------------------------------

async function withCapabilities(options: BrokerOptions, run: (broker: Broker) => Promise<void>): Promise<void> {
  const broker = new Broker({ sysInterval: 0, ...options });
  try {
    await run(broker);
  } finally {
    await broker.close();
  }
}

test('[MQTT-3.8.4-7] without Shared Subscriptions, a $share filter gets SUBACK 0x9E and the others in the packet still succeed', async () => {
  await withCapabilities({ capabilities: { sharedSubscriptionAvailable: false } }, async (broker) => {
    const c = memoryClient(broker, 5);
    const connack = await c.connect({ clientId: 'c' });
    assert.equal(connack.properties?.sharedSubscriptionAvailable, false);
    const ack = await subscribeAll(c, [sub('plain', 1), sub('$share/g/t', 1)]);
    assert.deepEqual(ack.reasonCodes, [1, 0x9e]);
    const c4 = await connected(broker, 4, 'c4');
    assert.deepEqual((await subscribeAll(c4, [sub('$share/g/t', 1)])).reasonCodes, [0x80]);
  });
});

test('[MQTT-3.8.4-7] [MQTT-3.8.3-2/3.1.1] without wildcard subscriptions, filters with + or # get 0xA2 (5.0) or 0x80 (3.1.1)', async () => {
  await withCapabilities({ capabilities: { wildcardSubscriptionAvailable: false } }, async (broker) => {
    const c = memoryClient(broker, 5);
    const connack = await c.connect({ clientId: 'c' });
    assert.equal(connack.properties?.wildcardSubscriptionAvailable, false);
    const ack = await subscribeAll(c, [sub('a/+'), sub('a/b', 2), sub('#')]);
    assert.deepEqual(ack.reasonCodes, [0xa2, 2, 0xa2]);
    const c4 = await connected(broker, 4, 'c4');
    assert.deepEqual((await subscribeAll(c4, [sub('a/#'), sub('a/b', 1)])).reasonCodes, [0x80, 1]);
    const p = await connected(broker, 5, 'p');
    p.send(publishPacket('a/c', 'x'));
    await settle(p, c, c4);
    assert.equal(publishes(c).length + publishes(c4).length, 0);
  });
});

test('[MQTT-4.13.1-1] without Subscription Identifiers, a SUBSCRIBE carrying one gets DISCONNECT 0xA1', async () => {
  await withCapabilities({ capabilities: { subscriptionIdentifiersAvailable: false } }, async (broker) => {
    const c = memoryClient(broker, 5);
    const connack = await c.connect({ clientId: 'c' });
    assert.equal(connack.properties?.subscriptionIdentifiersAvailable, false);
    assert.equal(await subscribe(c, 'fine', 1), 1);
    c.send({ type: PacketType.Subscribe, packetId: 2, subscriptions: [sub('with/id')], properties: { subscriptionIdentifier: 3 } });
    const d = await c.expect(PacketType.Disconnect);
    assert.equal(d.reasonCode, 0xa1);
    await c.waitClosed();
    assert.equal(c.received.filter((p) => p.type === PacketType.Suback).length, 1);
  });
});
