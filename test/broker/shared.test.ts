import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { test } from 'node:test';
import { Broker } from '../../src/broker/broker.js';
import type { SharedSubscriptionStrategy } from '../../src/broker/router/shared.js';
import {
  type ConnectProperties,
  PacketType,
  type ProtocolVersion,
  type PublishPacket,
  type QoS,
  type SubscribeProperties,
  type Subscription,
} from '../../src/protocol/index.js';
import { memoryClient, startBroker } from '../helpers/broker-harness.js';
import type { PacketClient } from '../helpers/packet-client.js';

// ---- helpers ----------------------------------------------------------------------------------------

function sub(topicFilter: string, qos: QoS = 0, noLocal = false): Subscription {
  return { topicFilter, qos, noLocal, retainAsPublished: false, retainHandling: 0 };
}

async function subscribe(c: PacketClient, filter: string, qos: QoS = 0, properties?: SubscribeProperties): Promise<number> {
  c.send({
    type: PacketType.Subscribe,
    packetId: 1,
    subscriptions: [sub(filter, qos)],
    ...(properties === undefined ? {} : { properties }),
  });
  const ack = await c.expect(PacketType.Suback);
  const code = ack.reasonCodes[0] ?? -1;
  assert.ok(code < 0x80, `subscribe ${filter}: 0x${code.toString(16)}`);
  return code;
}

function publishPacket(topic: string, payload: string, qos: QoS = 0, packetId = 1, retain = false): PublishPacket {
  return { type: PacketType.Publish, topic, payload: Buffer.from(payload), qos, retain, dup: false, ...(qos > 0 ? { packetId } : {}) };
}

/** Publishes `n` messages `prefix0..` at `qos` and waits until the broker has handled all of them. */
async function publishMany(p: PacketClient, topic: string, n: number, qos: QoS, prefix = 'm'): Promise<void> {
  for (let i = 0; i < n; i++) p.send(publishPacket(topic, `${prefix}${i}`, qos, i + 1));
  await settle(p);
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

function payloads(c: PacketClient): string[] {
  return publishes(c).map((m) => m.payload.toString());
}

async function connected(
  broker: Broker,
  version: ProtocolVersion,
  clientId: string,
  properties?: ConnectProperties,
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

function brokerWith(strategy: SharedSubscriptionStrategy = 'round-robin'): Broker {
  return new Broker({ sysInterval: 0, sharedSubscriptionStrategy: strategy });
}

// ---- distribution -----------------------------------------------------------------------------------

test('[MQTT-4.8.2-1] [MQTT-4.8.2-3] $share/{name}/{filter}: each message goes to exactly one member, at its granted QoS', async () => {
  const broker = brokerWith();
  try {
    const a = await connected(broker, 5, 'a');
    await subscribe(a, '$share/g/job/+', 1, { subscriptionIdentifier: 9 });
    const b = await connected(broker, 4, 'b');
    await subscribe(b, '$share/g/job/+', 0);
    const other = await connected(broker, 5, 'other');
    await subscribe(other, '$share/h/job/#', 2);
    const plain = await connected(broker, 5, 'plain');
    await subscribe(plain, 'job/+', 1);
    const p = await connected(broker, 5, 'p');
    await publishMany(p, 'job/x', 20, 1);
    await settle(a, b, other, plain);

    const fromA = payloads(a);
    const fromB = payloads(b);
    assert.equal(fromA.length + fromB.length, 20);
    assert.equal(new Set([...fromA, ...fromB]).size, 20, 'no message went to both members');
    assert.ok(fromA.length > 0 && fromB.length > 0);
    assert.ok(publishes(a).every((m) => m.qos === 1 && m.properties?.subscriptionIdentifiers?.[0] === 9));
    assert.ok(publishes(b).every((m) => m.qos === 0));
    // Another group and an ordinary subscription each get every message.
    assert.equal(payloads(other).length, 20);
    assert.ok(publishes(other).every((m) => m.qos === 1 && m.topic === 'job/x'));
    assert.equal(payloads(plain).length, 20);
  } finally {
    await broker.close();
  }
});

test('[MQTT-4.8.2-1] round-robin: members take turns in the order they joined', async () => {
  const broker = brokerWith('round-robin');
  try {
    const members: PacketClient[] = [];
    for (const id of ['m0', 'm1', 'm2']) {
      const m = await connected(broker, 5, id);
      await subscribe(m, '$share/rr/t', 0);
      members.push(m);
    }
    const p = await connected(broker, 5, 'p');
    await publishMany(p, 't', 9, 0);
    await settle(...members);
    assert.deepEqual(
      members.map((m) => payloads(m)),
      [
        ['m0', 'm3', 'm6'],
        ['m1', 'm4', 'm7'],
        ['m2', 'm5', 'm8'],
      ],
    );
  } finally {
    await broker.close();
  }
});

test('[MQTT-4.8.2-1] round-robin over TCP with a 3.1.1 and a 5.0 member', async () => {
  const h = await startBroker({ sharedSubscriptionStrategy: 'round-robin' });
  try {
    const a = await h.client(4);
    await a.connect({ clientId: 'tcp-a' });
    await subscribe(a, '$share/tcp/t', 1);
    const b = await h.client(5);
    await b.connect({ clientId: 'tcp-b' });
    await subscribe(b, '$share/tcp/t', 1);
    const p = await h.client(5);
    await p.connect({ clientId: 'tcp-p' });
    await publishMany(p, 't', 6, 0);
    await settle(a, b);
    assert.deepEqual(payloads(a), ['m0', 'm2', 'm4']);
    assert.deepEqual(payloads(b), ['m1', 'm3', 'm5']);
  } finally {
    await h.stop();
  }
});

test('[MQTT-4.8.2-1] random: every message goes to exactly one member, and all members get some', async () => {
  const broker = brokerWith('random');
  try {
    const members: PacketClient[] = [];
    for (const id of ['r0', 'r1', 'r2']) {
      const m = await connected(broker, 5, id);
      await subscribe(m, '$share/rnd/t', 0);
      members.push(m);
    }
    const p = await connected(broker, 5, 'p');
    await publishMany(p, 't', 90, 0);
    await settle(...members);
    const all = members.flatMap((m) => payloads(m));
    assert.equal(all.length, 90);
    assert.equal(new Set(all).size, 90);
    // (2/3)^90 chance of a member getting none by luck.
    assert.ok(members.every((m) => payloads(m).length > 0));
  } finally {
    await broker.close();
  }
});

test('[MQTT-4.8.2-1] sticky: all messages of one publisher go to the same member', async () => {
  const broker = brokerWith('sticky');
  try {
    const members: PacketClient[] = [];
    for (const id of ['s0', 's1', 's2']) {
      const m = await connected(broker, 5, id);
      await subscribe(m, '$share/st/t', 0);
      members.push(m);
    }
    const publishers = ['pa', 'pb', 'pc', 'pd', 'pe'];
    for (const id of publishers) {
      const p = await connected(broker, 5, id);
      await publishMany(p, 't', 10, 0, `${id}-`);
    }
    await settle(...members);
    assert.equal(members.flatMap((m) => payloads(m)).length, 50);
    for (const id of publishers) {
      const holders = members.filter((m) => payloads(m).some((x) => x.startsWith(`${id}-`)));
      assert.equal(holders.length, 1, `publisher ${id} stuck to one member`);
      assert.equal(payloads(holders[0] as PacketClient).filter((x) => x.startsWith(`${id}-`)).length, 10);
    }
  } finally {
    await broker.close();
  }
});

// ---- rules for shared subscriptions -----------------------------------------------------------------

test('[MQTT-3.8.3-4] No Local on a Shared Subscription is a Protocol Error: DISCONNECT 0x82', async () => {
  const broker = brokerWith();
  try {
    const c = await connected(broker, 5, 'c');
    c.send({ type: PacketType.Subscribe, packetId: 1, subscriptions: [sub('$share/g/t', 1, true)] });
    const d = await c.expect(PacketType.Disconnect);
    assert.equal(d.reasonCode, 0x82);
    await c.waitClosed();
    assert.equal(broker.subscriptions.size, 0);
  } finally {
    await broker.close();
  }
});

for (const [filter, id] of [
  ['$share//t', 'MQTT-4.8.2-1'],
  ['$share/g', 'MQTT-4.8.2-2'],
  ['$share/g/', 'MQTT-4.8.2-2'],
  ['$share/a+b/t', 'MQTT-4.8.2-2'],
  ['$share/a#/t', 'MQTT-4.8.2-2'],
] as const) {
  test(`[${id}] the invalid Shared Subscription '${filter}' closes the connection with DISCONNECT 0x82`, async () => {
    const broker = brokerWith();
    try {
      const c = await connected(broker, 5, 'c');
      c.send({ type: PacketType.Subscribe, packetId: 1, subscriptions: [sub(filter)] });
      const d = await c.expect(PacketType.Disconnect);
      assert.equal(d.reasonCode, 0x82);
      await c.waitClosed();
    } finally {
      await broker.close();
    }
  });
}

test('[MQTT-4.8.2-1] a Shared Subscription gets no retained messages on subscribe, but live ones', async () => {
  const broker = brokerWith();
  try {
    broker.publishInternal('news/a', Buffer.from('old'), true, 1);
    const c = await connected(broker, 5, 'c');
    await subscribe(c, '$share/g/news/#', 1);
    await settle(c);
    assert.equal(publishes(c).length, 0);
    broker.publishInternal('news/a', Buffer.from('new'), true, 1);
    const m = await c.expect(PacketType.Publish);
    assert.equal(m.payload.toString(), 'new');
    assert.equal(m.retain, false);
  } finally {
    await broker.close();
  }
});

test('[MQTT-4.8.2-3] a member that leaves (persistent session) hands its queued and unacknowledged QoS 1 messages to a connected member', async () => {
  const broker = brokerWith('round-robin');
  try {
    // a holds one message in flight (Receive Maximum 1); the rest of its share waits in its queue.
    const a = await connected(broker, 5, 'a', { sessionExpiryInterval: 300, receiveMaximum: 1 });
    await subscribe(a, '$share/g/w', 1);
    const b = await connected(broker, 5, 'b');
    await subscribe(b, '$share/g/w', 0);
    const p = await connected(broker, 5, 'p');
    await publishMany(p, 'w', 6, 1);
    await settle(a, b);
    assert.deepEqual(payloads(a), ['m0']);
    assert.deepEqual(payloads(b), ['m1', 'm3', 'm5']);
    a.end();
    await waitFor(() => !broker.isConnected('a'));
    await waitFor(() => payloads(b).length === 6);
    await settle(b);
    assert.deepEqual([...payloads(b)].sort(), ['m0', 'm1', 'm2', 'm3', 'm4', 'm5']);
    assert.ok(
      publishes(b).every((m) => m.qos === 0),
      "at b's granted QoS",
    );
    // a gets none of them again when it comes back.
    const again = await connected(broker, 5, 'a', { sessionExpiryInterval: 300 }, false);
    await settle(again);
    assert.equal(publishes(again).length, 0);
  } finally {
    await broker.close();
  }
});

test('[MQTT-4.8.2-4] [MQTT-3.3.1-1] a QoS 2 message in flight to a member whose connection breaks is completed with that member when it reconnects', async () => {
  const broker = brokerWith('round-robin');
  try {
    const a = await connected(broker, 5, 'a', { sessionExpiryInterval: 300 });
    await subscribe(a, '$share/g/q2', 2);
    const b = await connected(broker, 5, 'b');
    await subscribe(b, '$share/g/q2', 2);
    const p = await connected(broker, 5, 'p');
    p.send(publishPacket('q2', 'exactly once', 2, 1));
    const first = await a.expect(PacketType.Publish);
    a.end();
    await waitFor(() => !broker.isConnected('a'));
    await settle(b);
    assert.equal(publishes(b).length, 0, 'not sent to the other member');
    const back = memoryClient(broker, 5);
    const ack = await back.connect({ clientId: 'a', clean: false, properties: { sessionExpiryInterval: 300 } });
    assert.equal(ack.sessionPresent, true);
    const resent = await back.expect(PacketType.Publish);
    assert.deepEqual([resent.payload.toString(), resent.packetId, resent.dup, resent.qos], ['exactly once', first.packetId, true, 2]);
  } finally {
    await broker.close();
  }
});

test('[MQTT-4.8.2-5] when the session of that member ends before it reconnects, the QoS 2 message is not sent to another member', async () => {
  const broker = brokerWith('round-robin');
  try {
    const a = await connected(broker, 5, 'a', { sessionExpiryInterval: 0 });
    await subscribe(a, '$share/g/q2', 2);
    const b = await connected(broker, 5, 'b');
    await subscribe(b, '$share/g/q2', 2);
    const p = await connected(broker, 5, 'p');
    p.send(publishPacket('q2', 'in flight', 2, 1));
    await a.expect(PacketType.Publish);
    a.end();
    await waitFor(() => !broker.sessions.has('a'));
    p.send(publishPacket('q2', 'after', 2, 2));
    await b.expect(PacketType.Publish);
    await settle(b);
    assert.deepEqual(payloads(b), ['after']);
  } finally {
    await broker.close();
  }
});

test('[MQTT-4.8.2-6] a member answering PUBACK 0x80 discards the message: it is not sent to any other member, nor again', async () => {
  const broker = brokerWith('round-robin');
  try {
    const a = await connected(broker, 5, 'a', { sessionExpiryInterval: 300 });
    await subscribe(a, '$share/g/r', 1);
    const b = await connected(broker, 5, 'b');
    await subscribe(b, '$share/g/r', 1);
    const p = await connected(broker, 5, 'p');
    p.send(publishPacket('r', 'refused', 1, 1));
    const m = await a.expect(PacketType.Publish);
    a.send({ type: PacketType.Puback, packetId: m.packetId as number, reasonCode: 0x80 });
    await settle(a);
    a.end();
    await waitFor(() => !broker.isConnected('a'));
    await settle(b);
    assert.equal(publishes(b).length, 0);
    const back = await connected(broker, 5, 'a', { sessionExpiryInterval: 300 }, false);
    await settle(back);
    assert.equal(publishes(back).length, 0);
  } finally {
    await broker.close();
  }
});

test('[MQTT-4.8.2-1] UNSUBSCRIBE from $share/{name}/{filter} leaves the group; the others get every message', async () => {
  const broker = brokerWith('round-robin');
  try {
    const a = await connected(broker, 5, 'a');
    await subscribe(a, '$share/g/u', 0);
    const b = await connected(broker, 5, 'b');
    await subscribe(b, '$share/g/u', 0);
    a.send({ type: PacketType.Unsubscribe, packetId: 2, topicFilters: ['$share/g/u'] });
    assert.deepEqual((await a.expect(PacketType.Unsuback)).reasonCodes, [0]);
    const p = await connected(broker, 5, 'p');
    await publishMany(p, 'u', 4, 0);
    await settle(a, b);
    assert.equal(publishes(a).length, 0);
    assert.equal(publishes(b).length, 4);
    b.send({ type: PacketType.Unsubscribe, packetId: 3, topicFilters: ['$share/g/u'] });
    await b.expect(PacketType.Unsuback);
    assert.equal(broker.subscriptions.sharedGroups, 0);
  } finally {
    await broker.close();
  }
});

test('[MQTT-4.8.2-3] with no member connected, the message waits in one member’s session and arrives on reconnect', async () => {
  const broker = brokerWith('round-robin');
  try {
    const a = await connected(broker, 5, 'a', { sessionExpiryInterval: 300 });
    await subscribe(a, '$share/g/off', 1);
    a.end();
    await waitFor(() => !broker.isConnected('a'));
    const p = await connected(broker, 5, 'p');
    p.send(publishPacket('off', 'kept', 2, 1));
    const rec = await p.expect(PacketType.Pubrec);
    assert.equal(rec.reasonCode, 0);
    const back = await connected(broker, 5, 'a', { sessionExpiryInterval: 300 }, false);
    const m = await back.expect(PacketType.Publish);
    assert.deepEqual([m.payload.toString(), m.qos], ['kept', 1]);
  } finally {
    await broker.close();
  }
});

test('[MQTT-3.3.4-5] a shared and a non-shared subscription of one client: two PUBLISH packets, each with its own Subscription Identifier', async () => {
  const broker = brokerWith();
  try {
    const c = await connected(broker, 5, 'c');
    await subscribe(c, '$share/g/both/+', 1, { subscriptionIdentifier: 1 });
    c.send({
      type: PacketType.Subscribe,
      packetId: 2,
      subscriptions: [sub('both/#', 2)],
      properties: { subscriptionIdentifier: 2 },
    });
    await c.expect(PacketType.Suback, 2000, (a) => a.packetId === 2);
    const p = await connected(broker, 5, 'p');
    p.send(publishPacket('both/x', 'x', 2, 1));
    await p.expect(PacketType.Pubrec);
    await settle(c);
    const got = publishes(c)
      .map((m) => [m.qos, m.properties?.subscriptionIdentifiers] as const)
      .sort((a, b) => a[0] - b[0]);
    assert.deepEqual(got, [
      [1, [1]],
      [2, [2]],
    ]);
  } finally {
    await broker.close();
  }
});
