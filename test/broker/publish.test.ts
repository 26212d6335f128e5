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
  type SubackPacket,
  type Subscription,
} from '../../src/protocol/index.js';
import { memoryClient, startBroker } from '../helpers/broker-harness.js';
import type { PacketClient } from '../helpers/packet-client.js';

// ---- helpers ----------------------------------------------------------------------------------------

interface PublishFields {
  readonly packetId?: number;
  readonly retain?: boolean;
  readonly dup?: boolean;
  readonly properties?: PublishProperties;
}

function publishPacket(topic: string, payload: string | Buffer, qos: QoS = 0, f: PublishFields = {}): PublishPacket {
  return {
    type: PacketType.Publish,
    topic,
    payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
    qos,
    retain: f.retain ?? false,
    dup: f.dup ?? false,
    ...(qos > 0 ? { packetId: f.packetId ?? 1 } : {}),
    ...(f.properties === undefined ? {} : { properties: f.properties }),
  };
}

function sub(topicFilter: string, qos: QoS = 0): Subscription {
  return { topicFilter, qos, noLocal: false, retainAsPublished: false, retainHandling: 0 };
}

async function subscribe(c: PacketClient, filter: string, qos: QoS = 0, packetId = 1): Promise<SubackPacket> {
  c.send({ type: PacketType.Subscribe, packetId, subscriptions: [sub(filter, qos)] });
  const ack = await c.expect(PacketType.Suback, 2000, (p) => p.packetId === packetId);
  assert.ok((ack.reasonCodes[0] ?? 0x80) < 0x80, `subscription to ${filter} refused`);
  return ack;
}

/** A PINGREQ round trip per client, in order: everything the broker sent each one before is received. */
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

// ---- tests ------------------------------------------------------------------------------------------

test('[MQTT-3.3.2-3] subscribers of 5.0 and 3.1.1 receive the PUBLISH under the Topic Name it was published to, over TCP', async () => {
  const h = await startBroker();
  try {
    const s5 = await h.client(5);
    await s5.connect({ clientId: 's5' });
    await subscribe(s5, 'tcp/+');
    const s4 = await h.client(4);
    await s4.connect({ clientId: 's4' });
    await subscribe(s4, 'tcp/#');
    const p = await h.client(5);
    await p.connect({ clientId: 'p' });
    p.send(publishPacket('tcp/x', 'hello', 1, { packetId: 9 }));
    const ack = await p.expect(PacketType.Puback);
    assert.equal(ack.packetId, 9);
    for (const s of [s5, s4]) {
      const m = await s.expect(PacketType.Publish);
      assert.equal(m.topic, 'tcp/x');
      assert.equal(m.payload.toString(), 'hello');
      assert.equal(m.qos, 0);
    }
  } finally {
    await h.stop();
  }
});

for (const version of [4, 5] as const) {
  test(`[MQTT-4.3.1-1] a QoS 0 message is forwarded with QoS 0, DUP 0 and no Packet Identifier (v${version})`, async () => {
    const broker = new Broker({ sysInterval: 0 });
    try {
      const s = await connected(broker, version, 's');
      await subscribe(s, 'q0', 2);
      const p = await connected(broker, version, 'p');
      p.send(publishPacket('q0', 'zero', 0));
      const m = await s.expect(PacketType.Publish);
      assert.equal(m.qos, 0);
      assert.equal(m.dup, false);
      assert.equal(m.packetId, undefined);
      assert.equal(m.payload.toString(), 'zero');
    } finally {
      await broker.close();
    }
  });

  test(`[MQTT-3.3.1-3] the DUP flag of an incoming PUBLISH is not propagated to subscribers (v${version})`, async () => {
    const broker = new Broker({ sysInterval: 0 });
    try {
      const s = await connected(broker, version, 's');
      await subscribe(s, 'dup', 1);
      const p = await connected(broker, version, 'p');
      // A first transmission arriving with DUP 1 (the publisher's earlier attempt was lost): a new message.
      p.send(publishPacket('dup', 'once', 1, { packetId: 7, dup: true }));
      assert.equal((await p.expect(PacketType.Puback)).packetId, 7);
      const m = await s.expect(PacketType.Publish);
      assert.equal(m.qos, 1);
      assert.equal(m.dup, false);
    } finally {
      await broker.close();
    }
  });

  test(`[MQTT-4.6.0-5] [MQTT-4.6.0-6] messages on one topic reach a subscriber in the order they were published (v${version})`, async () => {
    const broker = new Broker({ sysInterval: 0 });
    try {
      const s = await connected(broker, version, 's');
      await subscribe(s, 'order/#', 2);
      const p = await connected(broker, version, 'p');
      const n = 300;
      const qosOf = (i: number): QoS => (i % 3) as QoS;
      // All in one write: the broker handles them in one read and must keep their order per QoS.
      const bytes: Buffer[] = [];
      for (let i = 0; i < n; i++) bytes.push(encodePacket(publishPacket('order/t', String(i), qosOf(i), { packetId: i + 1 }), version));
      p.sendRaw(Buffer.concat(bytes));
      const got: PublishPacket[] = [];
      while (got.length < n) {
        const m = await s.expect(PacketType.Publish);
        got.push(m);
        if (m.qos === 1) s.send({ type: PacketType.Puback, packetId: m.packetId as number, reasonCode: 0 });
        if (m.qos === 2) s.send({ type: PacketType.Pubrec, packetId: m.packetId as number, reasonCode: 0 });
        if (m.qos === 2) {
          const rel = await s.expect(PacketType.Pubrel, 2000, (r) => r.packetId === m.packetId);
          s.send({ type: PacketType.Pubcomp, packetId: rel.packetId, reasonCode: 0 });
        }
      }
      for (const qos of [0, 1, 2] as const) {
        const seq = got.filter((m) => m.qos === qos).map((m) => Number(m.payload.toString()));
        const expected = Array.from({ length: n }, (_, i) => i).filter((i) => qosOf(i) === qos);
        assert.deepEqual(seq, expected, `QoS ${qos} order`);
      }
    } finally {
      await broker.close();
    }
  });
}

test('[MQTT-4.5.0-1] a message is added to the session of every client with a matching subscription, whatever its version', async () => {
  const broker = new Broker({ sysInterval: 0 });
  try {
    const s3 = await connected(broker, 3, 'sub-v31');
    await subscribe(s3, 'fan/out');
    const s4 = await connected(broker, 4, 'sub-v311');
    await subscribe(s4, 'fan/+');
    const s5 = await connected(broker, 5, 'sub-v5');
    await subscribe(s5, '#');
    const other = await connected(broker, 5, 'other');
    await subscribe(other, 'fan/in');
    const p = await connected(broker, 5, 'p');
    p.send(publishPacket('fan/out', 'all', 1, { properties: { contentType: 'text/plain', userProperties: [['k', 'v']] } }));
    await p.expect(PacketType.Puback);
    for (const s of [s3, s4, s5]) {
      const m = await s.expect(PacketType.Publish);
      assert.equal(m.topic, 'fan/out');
      assert.equal(m.payload.toString(), 'all');
      assert.equal(s.decodeError, undefined);
    }
    // 3.x subscribers get no properties (their PUBLISH has none); 5.0 gets them.
    assert.equal(publishes(s4)[0]?.properties, undefined);
    assert.equal(publishes(s5)[0]?.properties?.contentType, 'text/plain');
    await settle(other);
    assert.equal(publishes(other).length, 0);
  } finally {
    await broker.close();
  }
});

test('[MQTT-3.3.4-1] 5.0: PUBACK and PUBREC say 0x10 No matching subscribers when nobody subscribes; 3.1.1 has only 0', async () => {
  const broker = new Broker({ sysInterval: 0 });
  try {
    const p5 = await connected(broker, 5, 'p5');
    p5.send(publishPacket('nobody/here', 'x', 1, { packetId: 3 }));
    const puback = await p5.expect(PacketType.Puback);
    assert.deepEqual([puback.packetId, puback.reasonCode], [3, 0x10]);
    p5.send(publishPacket('nobody/here', 'x', 2, { packetId: 4 }));
    const pubrec = await p5.expect(PacketType.Pubrec);
    assert.deepEqual([pubrec.packetId, pubrec.reasonCode], [4, 0x10]);
    // 0x10 is a success code: the QoS 2 flow goes on to PUBCOMP.
    p5.send({ type: PacketType.Pubrel, packetId: 4, reasonCode: 0 });
    const pubcomp = await p5.expect(PacketType.Pubcomp);
    assert.deepEqual([pubcomp.packetId, pubcomp.reasonCode], [4, 0]);

    const s = await connected(broker, 5, 's');
    await subscribe(s, 'nobody/#');
    p5.send(publishPacket('nobody/here', 'x', 1, { packetId: 5 }));
    assert.equal((await p5.expect(PacketType.Puback)).reasonCode, 0);

    const p4 = await connected(broker, 4, 'p4');
    p4.send(publishPacket('unheard', 'x', 1, { packetId: 6 }));
    const ack4 = await p4.expect(PacketType.Puback);
    assert.deepEqual([ack4.packetId, ack4.reasonCode], [6, 0]);
  } finally {
    await broker.close();
  }
});

/** PUBLISH QoS 0 bytes with a raw topic (the codec would refuse to encode what these tests need). */
function rawPublish(first: number, topic: string, payload = 'x', v5 = true): Buffer {
  const t = Buffer.from(topic);
  const body = Buffer.concat([
    Buffer.from([t.length >> 8, t.length & 0xff]),
    t,
    v5 ? Buffer.from([0]) : Buffer.alloc(0),
    Buffer.from(payload),
  ]);
  return Buffer.concat([Buffer.from([first, body.length]), body]);
}

test('[MQTT-3.3.2-2] a Topic Name with a wildcard: 5.0 gets DISCONNECT 0x90 Topic Name invalid, 3.1.1 is closed', async () => {
  const broker = new Broker({ sysInterval: 0 });
  try {
    const s = await connected(broker, 5, 's');
    await subscribe(s, '#');
    const c5 = await connected(broker, 5, 'c5');
    c5.send(publishPacket('a/+', 'x', 0));
    const d = await c5.expect(PacketType.Disconnect);
    assert.equal(d.reasonCode, 0x90);
    await c5.waitClosed();
    const c4 = await connected(broker, 4, 'c4');
    c4.send(publishPacket('a/#', 'x', 0));
    await c4.waitClosed();
    assert.equal(
      c4.received.some((p) => p.type === PacketType.Disconnect),
      false,
    );
    await settle(s);
    assert.equal(publishes(s).length, 0);
  } finally {
    await broker.close();
  }
});

for (const version of [4, 5] as const) {
  test(`[MQTT-3.3.1-4] a PUBLISH with both QoS bits set closes the connection (v${version})`, async () => {
    const broker = new Broker({ sysInterval: 0 });
    try {
      const c = await connected(broker, version, 'c');
      // 0x36: PUBLISH, QoS bits 11.
      c.sendRaw(rawPublish(0x36, 'a', 'x', version === 5));
      await c.waitClosed();
      if (version === 5) assert.equal(c.received.find((p) => p.type === PacketType.Disconnect)?.reasonCode, 0x81);
      else assert.equal(c.received.filter((p) => p.type !== PacketType.Connack).length, 0);
    } finally {
      await broker.close();
    }
  });
}

test('[MQTT-4.7.3-1] a zero-length Topic Name closes a 3.1.1 connection; in 5.0 without a Topic Alias it is a Protocol Error (0x82)', async () => {
  const broker = new Broker({ sysInterval: 0 });
  try {
    const c4 = await connected(broker, 4, 'c4');
    c4.sendRaw(rawPublish(0x30, '', 'x', false));
    await c4.waitClosed();
    const c5 = await connected(broker, 5, 'c5');
    c5.sendRaw(rawPublish(0x30, '', 'x', true));
    const d = await c5.expect(PacketType.Disconnect);
    assert.equal(d.reasonCode, 0x82);
    await c5.waitClosed();
  } finally {
    await broker.close();
  }
});

test('[MQTT-3.3.2-1] Topic Names are UTF-8: a multi-byte topic is routed and forwarded unchanged', async () => {
  const broker = new Broker({ sysInterval: 0 });
  try {
    const topic = 'café/温度/🌡';
    const s = await connected(broker, 5, 's');
    await subscribe(s, 'café/+/🌡', 1);
    const p = await connected(broker, 4, 'p');
    p.send(publishPacket(topic, 'warm', 1));
    await p.expect(PacketType.Puback);
    const m = await s.expect(PacketType.Publish);
    assert.equal(m.topic, topic);
  } finally {
    await broker.close();
  }
});

test('[MQTT-3.3.2-3] a large payload (256 KiB) is forwarded byte for byte to several subscribers', async () => {
  const broker = new Broker({ sysInterval: 0 });
  try {
    const payload = Buffer.alloc(256 * 1024);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 31) & 0xff;
    const subs: PacketClient[] = [];
    for (let i = 0; i < 3; i++) {
      const s = await connected(broker, i === 0 ? 4 : 5, `s${i}`);
      await subscribe(s, 'big', 1);
      subs.push(s);
    }
    const first = subs[0] as PacketClient;
    await subscribe(first, 'pre', 1, 2);
    const p = await connected(broker, 5, 'p');
    // The first subscriber takes Packet Identifier 1 for another message, so its copy of the big one differs.
    p.send(publishPacket('pre', 'x', 1));
    await p.expect(PacketType.Puback);
    assert.equal((await first.expect(PacketType.Publish)).packetId, 1);
    p.send(publishPacket('big', payload, 1));
    await p.expect(PacketType.Puback);
    for (const s of subs) {
      const m = await s.expect(PacketType.Publish);
      assert.ok(m.payload.equals(payload));
    }
    // Each subscriber's copy has its own Packet Identifier patched into the shared encoding.
    assert.deepEqual(
      subs.map((s) => publishes(s).at(-1)?.packetId),
      [2, 1, 1],
    );
  } finally {
    await broker.close();
  }
});
