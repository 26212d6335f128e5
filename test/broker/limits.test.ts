import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { test } from 'node:test';
import { Broker } from '../../src/broker/broker.js';
import type { BrokerHooks, PublishEvent, SubscribeEvent } from '../../src/broker/hooks.js';
import type { BrokerOptions } from '../../src/broker/options.js';
import {
  type ConnectProperties,
  PacketType,
  type ProtocolVersion,
  type PublishPacket,
  type QoS,
  type SubackPacket,
  type Subscription,
} from '../../src/protocol/index.js';
import { memoryClient, startBroker } from '../helpers/broker-harness.js';
import type { PacketClient } from '../helpers/packet-client.js';

// ---- helpers ----------------------------------------------------------------------------------------

function sub(topicFilter: string, qos: QoS = 0): Subscription {
  return { topicFilter, qos, noLocal: false, retainAsPublished: false, retainHandling: 0 };
}

async function subscribeAll(c: PacketClient, subscriptions: readonly Subscription[], packetId = 1): Promise<SubackPacket> {
  c.send({ type: PacketType.Subscribe, packetId, subscriptions });
  return c.expect(PacketType.Suback, 2000, (p) => p.packetId === packetId);
}

function publishPacket(topic: string, payload: string | Buffer, qos: QoS = 0, packetId = 1, retain = false): PublishPacket {
  return {
    type: PacketType.Publish,
    topic,
    payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
    qos,
    retain,
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

async function withBroker(options: BrokerOptions, run: (broker: Broker) => Promise<void>): Promise<void> {
  const broker = new Broker({ sysInterval: 0, ...options });
  try {
    await run(broker);
  } finally {
    await broker.close();
  }
}

/** Publishes QoS 1 and 2 copies and returns the PUBACK and PUBREC reason codes. */
async function publishCodes(p: PacketClient, topic: string, payload = 'x'): Promise<[number, number]> {
  p.send(publishPacket(topic, payload, 1, 1));
  const puback = await p.expect(PacketType.Puback);
  p.send(publishPacket(topic, payload, 2, 2));
  const pubrec = await p.expect(PacketType.Pubrec);
  if (pubrec.reasonCode < 0x80) {
    p.send({ type: PacketType.Pubrel, packetId: 2, reasonCode: 0 });
    await p.expect(PacketType.Pubcomp);
  }
  return [puback.reasonCode, pubrec.reasonCode];
}

// ---- topic limits -----------------------------------------------------------------------------------

test('[MQTT-3.4.2-1] [MQTT-3.5.2-1] a Topic Name over maxTopicLevels or maxTopicLength: 5.0 PUBACK / PUBREC 0x90, not forwarded', async () => {
  await withBroker({ limits: { maxTopicLevels: 3, maxTopicLength: 20 } }, async (broker) => {
    const s = await connected(broker, 5, 's');
    await subscribeAll(s, [sub('#', 2)]);
    const p = await connected(broker, 5, 'p');
    assert.deepEqual(await publishCodes(p, 'a/b/c/d'), [0x90, 0x90]);
    assert.deepEqual(await publishCodes(p, 'x'.repeat(21)), [0x90, 0x90]);
    p.send(publishPacket('a/b/c/d', 'qos0'));
    assert.deepEqual(await publishCodes(p, 'a/b/c', 'ok'), [0, 0]);
    assert.deepEqual(await publishCodes(p, 'x'.repeat(20), 'ok'), [0, 0]);
    await settle(p, s);
    assert.ok(publishes(s).every((m) => m.payload.toString() === 'ok'));
    assert.equal(publishes(s).length, 4);
    assert.ok((broker.metrics.limitHits.get('maxTopicLevels') ?? 0) >= 3);
    assert.ok((broker.metrics.limitHits.get('maxTopicLength') ?? 0) >= 2);
    assert.equal(p.closed, false);
  });
});

test('[MQTT-3.3.5-2/3.1.1] a 3.1.1 PUBLISH over a topic limit is acknowledged as usual but not forwarded', async () => {
  await withBroker({ limits: { maxTopicLevels: 2 } }, async (broker) => {
    const s = await connected(broker, 4, 's');
    await subscribeAll(s, [sub('#', 2)]);
    const p = await connected(broker, 4, 'p');
    assert.deepEqual(await publishCodes(p, 'a/b/c'), [0, 0]);
    await settle(p, s);
    assert.equal(publishes(s).length, 0);
    assert.equal(p.closed, false);
  });
});

for (const version of [4, 5] as const) {
  test(`${version === 5 ? '[MQTT-3.8.4-7]' : '[MQTT-3.9.3-2/3.1.1]'} a Topic Filter over maxTopicLevels or maxTopicLength gets ${version === 5 ? '0x8F' : '0x80'} (v${version})`, async () => {
    await withBroker({ limits: { maxTopicLevels: 3, maxTopicLength: 16 } }, async (broker) => {
      const c = await connected(broker, version, 'c');
      const fail = version === 5 ? 0x8f : 0x80;
      const ack = await subscribeAll(c, [
        sub('a/b/c', 1),
        sub('a/b/c/d', 1),
        sub('a/+/+/#', 1),
        sub('0123456789abcdef', 1),
        sub('0123456789abcdefg', 1),
        // The share prefix counts for the length, not for the levels.
        sub('$share/g/a/b/c', 1),
      ]);
      assert.deepEqual(ack.reasonCodes, [1, fail, fail, 1, fail, 1]);
    });
  });

  test(`${version === 5 ? '[MQTT-3.8.4-7]' : '[MQTT-3.9.3-2/3.1.1]'} past maxSubscriptionsPerClient a new filter gets ${version === 5 ? '0x97' : '0x80'}; replacing one still works (v${version})`, async () => {
    await withBroker({ limits: { maxSubscriptionsPerClient: 2 } }, async (broker) => {
      const c = await connected(broker, version, 'c');
      const fail = version === 5 ? 0x97 : 0x80;
      assert.deepEqual((await subscribeAll(c, [sub('a'), sub('b', 1), sub('c', 2)])).reasonCodes, [0, 1, fail]);
      assert.deepEqual((await subscribeAll(c, [sub('a', 2)], 2)).reasonCodes, [2]);
      c.send({ type: PacketType.Unsubscribe, packetId: 3, topicFilters: ['b'] });
      await c.expect(PacketType.Unsuback);
      assert.deepEqual((await subscribeAll(c, [sub('c', 1), sub('d')], 4)).reasonCodes, [1, fail]);
      assert.equal(broker.metrics.limitHits.get('maxSubscriptionsPerClient'), 2);
      // The limit is per client.
      const other = await connected(broker, version, 'other');
      assert.deepEqual((await subscribeAll(other, [sub('x'), sub('y')])).reasonCodes, [0, 0]);
    });
  });
}

// ---- packet size ------------------------------------------------------------------------------------

test('[MQTT-3.2.2-15] [MQTT-4.13.1-1] a packet above limits.maxPacketSize: DISCONNECT 0x95 for 5.0, the connection closed for 3.1.1', async () => {
  const max = 1024;
  await withBroker({ limits: { maxPacketSize: max } }, async (broker) => {
    const s = await connected(broker, 5, 's');
    await subscribeAll(s, [sub('size')]);
    const c5 = memoryClient(broker, 5);
    const connack = await c5.connect({ clientId: 'c5' });
    assert.equal(connack.properties?.maximumPacketSize, max);
    // Exactly at the limit: 3 fixed header + 2 + 4 topic + 1 properties + payload.
    c5.send(publishPacket('size', Buffer.alloc(max - 10)));
    await settle(c5);
    c5.send(publishPacket('size', Buffer.alloc(max - 9)));
    const d = await c5.expect(PacketType.Disconnect);
    assert.equal(d.reasonCode, 0x95);
    await c5.waitClosed();
    const c4 = await connected(broker, 4, 'c4');
    c4.send(publishPacket('size', Buffer.alloc(max)));
    await c4.waitClosed();
    assert.equal(
      c4.received.some((p) => p.type === PacketType.Disconnect),
      false,
    );
    await settle(s);
    assert.deepEqual(
      publishes(s).map((m) => m.payload.length),
      [max - 10],
    );
    assert.equal(broker.metrics.closes.get('packet-too-large'), 2);
  });
});

test('[MQTT-3.2.2-15] over TCP, an oversized packet is refused before it is read in full', async () => {
  const h = await startBroker({ limits: { maxPacketSize: 4096 } });
  try {
    const c = await h.client(5);
    await c.connect({ clientId: 'big' });
    // Only the fixed header announcing 1 MB: the server must not wait for the rest.
    c.sendRaw([0x30, 0x80, 0x80, 0x40]);
    const d = await c.expect(PacketType.Disconnect);
    assert.equal(d.reasonCode, 0x95);
    await c.waitClosed();
  } finally {
    await h.stop();
  }
});

// ---- offline queue ----------------------------------------------------------------------------------

test('[MQTT-3.1.2-23] the offline queue keeps QoS 1/2 up to maxQueuedMessages, evicting QoS 0 first, and counts what it drops', async () => {
  await withBroker({ limits: { maxQueuedMessages: 5 }, sessions: { queueQos0WhenOffline: true } }, async (broker) => {
    const s = await connected(broker, 5, 's', { sessionExpiryInterval: 600 });
    await subscribeAll(s, [sub('q/#', 2)]);
    s.end();
    await waitFor(() => !broker.isConnected('s'));
    const p = await connected(broker, 5, 'p');
    for (const x of ['a', 'b', 'c']) p.send(publishPacket('q/0', x, 0));
    for (let i = 1; i <= 6; i++) {
      p.send(publishPacket('q/1', String(i), i % 2 === 0 ? 2 : 1, i));
      await p.expect(i % 2 === 0 ? PacketType.Pubrec : PacketType.Puback);
    }
    assert.equal(broker.metrics.droppedQueueFull, 4);
    assert.equal(broker.metrics.limitHits.get('maxQueuedMessages'), 1);
    const back = await connected(broker, 5, 's', { sessionExpiryInterval: 600 }, false);
    await waitFor(() => publishes(back).length >= 5);
    await settle(back);
    assert.deepEqual(
      publishes(back).map((m) => [m.payload.toString(), m.qos]),
      [
        ['1', 1],
        ['2', 2],
        ['3', 1],
        ['4', 2],
        ['5', 1],
      ],
    );
  });
});

test('[MQTT-3.1.2-23] by default QoS 0 is not queued for an offline session; QoS 1 is', async () => {
  await withBroker({}, async (broker) => {
    const s = await connected(broker, 4, 's', undefined, false);
    await subscribeAll(s, [sub('d', 1)]);
    s.end();
    await waitFor(() => !broker.isConnected('s'));
    const p = await connected(broker, 4, 'p');
    p.send(publishPacket('d', 'zero', 0));
    p.send(publishPacket('d', 'one', 1, 1));
    await p.expect(PacketType.Puback);
    const back = await connected(broker, 4, 's', undefined, false);
    await back.expect(PacketType.Publish);
    await settle(back);
    assert.deepEqual(
      publishes(back).map((m) => m.payload.toString()),
      ['one'],
    );
  });
});

// ---- authorization hooks ----------------------------------------------------------------------------

const denyTopics: BrokerHooks = {
  name: 'deny-secret',
  authorizePublish(e: PublishEvent) {
    if (e.topic.startsWith('secret/')) return 'deny';
    if (e.topic.startsWith('quota/')) return { verdict: 'deny', reasonCode: 0x97 };
    return 'allow';
  },
  authorizeSubscribe(e: SubscribeEvent) {
    return e.filter.startsWith('secret/') || e.filter === '#' ? 'deny' : 'defer';
  },
};

test('[MQTT-3.4.2-1] [MQTT-3.5.2-1] authorizePublish deny: 5.0 PUBACK / PUBREC 0x87 (or the hook’s code), QoS 0 dropped, nothing forwarded', async () => {
  await withBroker({ hooks: [denyTopics] }, async (broker) => {
    const s = await connected(broker, 5, 's');
    await subscribeAll(s, [sub('secret/#', 2), sub('quota/#', 2), sub('open/#', 2)]);
    const p = await connected(broker, 5, 'p');
    assert.deepEqual(await publishCodes(p, 'secret/x'), [0x87, 0x87]);
    assert.deepEqual(await publishCodes(p, 'quota/x'), [0x97, 0x97]);
    p.send(publishPacket('secret/x', 'qos0'));
    p.send(publishPacket('secret/x', 'retained', 0, 1, true));
    assert.deepEqual(await publishCodes(p, 'open/x', 'ok'), [0, 0]);
    await settle(p, s);
    assert.ok(publishes(s).every((m) => m.payload.toString() === 'ok'));
    assert.equal(publishes(s).length, 2);
    assert.equal(broker.retained.size, 0);
  });
});

test('[MQTT-4.3.3-9] a QoS 2 PUBLISH refused by authorizePublish is not remembered: its Packet Identifier starts a new message', async () => {
  let allow = false;
  const hook: BrokerHooks = { authorizePublish: () => (allow ? 'allow' : 'deny') };
  await withBroker({ hooks: [hook] }, async (broker) => {
    const s = await connected(broker, 5, 's');
    await subscribeAll(s, [sub('t', 2)]);
    const p = await connected(broker, 5, 'p');
    p.send(publishPacket('t', 'x', 2, 9));
    assert.equal((await p.expect(PacketType.Pubrec)).reasonCode, 0x87);
    allow = true;
    p.send(publishPacket('t', 'x', 2, 9));
    assert.equal((await p.expect(PacketType.Pubrec)).reasonCode, 0);
    await s.expect(PacketType.Publish);
  });
});

test('[MQTT-3.3.5-2/3.1.1] authorizePublish deny for 3.1.1: a positive acknowledgement, the message dropped', async () => {
  await withBroker({ hooks: [denyTopics] }, async (broker) => {
    const s = await connected(broker, 4, 's');
    await subscribeAll(s, [sub('#', 2)]);
    const p = await connected(broker, 4, 'p');
    assert.deepEqual(await publishCodes(p, 'secret/x'), [0, 0]);
    await settle(p, s);
    assert.equal(publishes(s).length, 0);
    assert.equal(p.closed, false);
  });
});

test('[MQTT-3.4.2-1] an asynchronous authorizePublish keeps the order of the publisher’s messages', async () => {
  const hook: BrokerHooks = {
    async authorizePublish(e) {
      // Later messages answer sooner: order must still be kept.
      await new Promise((r) => setTimeout(r, e.payload.toString() === '0' ? 20 : 1));
      return e.payload.toString() === '2' ? 'deny' : 'allow';
    },
  };
  await withBroker({ hooks: [hook] }, async (broker) => {
    const s = await connected(broker, 5, 's');
    await subscribeAll(s, [sub('o', 1)]);
    const p = await connected(broker, 5, 'p');
    for (let i = 0; i < 5; i++) p.send(publishPacket('o', String(i), 1, i + 1));
    const acks = [];
    for (let i = 0; i < 5; i++) acks.push(await p.expect(PacketType.Puback));
    assert.deepEqual(
      acks.map((a) => [a.packetId, a.reasonCode]),
      [
        [1, 0],
        [2, 0],
        [3, 0x87],
        [4, 0],
        [5, 0],
      ],
    );
    await settle(s);
    assert.deepEqual(
      publishes(s).map((m) => m.payload.toString()),
      ['0', '1', '3', '4'],
    );
  });
});

for (const version of [4, 5] as const) {
  test(`${version === 5 ? '[MQTT-3.8.4-7]' : '[MQTT-3.9.3-2/3.1.1]'} authorizeSubscribe deny: ${version === 5 ? '0x87' : '0x80'} for that filter, in order, no retained and no messages (v${version})`, async () => {
    await withBroker({ hooks: [denyTopics] }, async (broker) => {
      broker.publishInternal('secret/a', Buffer.from('retained secret'), true, 0);
      broker.publishInternal('pub/a', Buffer.from('retained public'), true, 0);
      const c = await connected(broker, version, 'c');
      const fail = version === 5 ? 0x87 : 0x80;
      const ack = await subscribeAll(c, [sub('pub/#', 1), sub('secret/#', 1), sub('#', 2), sub('other', 2)]);
      assert.deepEqual(ack.reasonCodes, [1, fail, fail, 2]);
      await settle(c);
      assert.deepEqual(
        publishes(c).map((m) => m.payload.toString()),
        ['retained public'],
      );
      broker.publishInternal('secret/a', Buffer.from('live secret'), false, 0);
      await settle(c);
      assert.equal(publishes(c).length, 1);
      assert.equal(broker.subscriptions.size, 2);
    });
  });
}

test('[MQTT-3.1.2-29] with Request Problem Information 0, refusals in PUBACK, PUBREC and SUBACK carry no Reason String or User Properties', async () => {
  await withBroker({ hooks: [denyTopics] }, async (broker) => {
    const c = await connected(broker, 5, 'c', { requestProblemInformation: false });
    assert.deepEqual(await publishCodes(c, 'secret/x'), [0x87, 0x87]);
    const ack = await subscribeAll(c, [sub('secret/#')], 3);
    assert.deepEqual(ack.reasonCodes, [0x87]);
    for (const packet of c.received) {
      if (packet.type === PacketType.Puback || packet.type === PacketType.Pubrec || packet.type === PacketType.Suback) {
        assert.equal(packet.properties?.reasonString, undefined);
        assert.equal(packet.properties?.userProperties, undefined);
      }
    }
  });
});
