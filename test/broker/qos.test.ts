import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { test } from 'node:test';
import { Broker } from '../../src/broker/broker.js';
import {
  type ConnectProperties,
  encodePacket,
  PacketType,
  type ProtocolVersion,
  type PublishPacket,
  type QoS,
} from '../../src/protocol/index.js';
import { memoryClient, startBroker } from '../helpers/broker-harness.js';
import type { PacketClient } from '../helpers/packet-client.js';

// ---- helpers ----------------------------------------------------------------------------------------

function publishPacket(topic: string, payload: string, qos: QoS, packetId = 1, dup = false): PublishPacket {
  return {
    type: PacketType.Publish,
    topic,
    payload: Buffer.from(payload),
    qos,
    retain: false,
    dup,
    ...(qos > 0 ? { packetId } : {}),
  };
}

async function subscribe(c: PacketClient, filter: string, qos: QoS, packetId = 1): Promise<number> {
  c.send({
    type: PacketType.Subscribe,
    packetId,
    subscriptions: [{ topicFilter: filter, qos, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
  });
  const ack = await c.expect(PacketType.Suback, 2000, (p) => p.packetId === packetId);
  return ack.reasonCodes[0] ?? -1;
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
): Promise<PacketClient> {
  const c = memoryClient(broker, version);
  const ack = await c.connect({ clientId, ...(properties === undefined ? {} : { properties }) });
  assert.equal(ack.reasonCode, 0);
  return c;
}

async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setImmediate(r));
  }
}

/** The statement ids of the rules in the client's version (5.0 id, 3.1.1 id), without repeats. */
function sid(version: ProtocolVersion, ...pairs: (readonly [v5: string, v311: string])[]): string {
  const ids = new Set(pairs.map(([v5, v311]) => (version === 5 ? `[${v5}]` : `[${v311}/3.1.1]`)));
  return [...ids].join(' ');
}

// ---- inbound (client to server) ---------------------------------------------------------------------

for (const version of [3, 4, 5] as const) {
  test(`${sid(version, ['MQTT-4.3.2-4', 'MQTT-4.3.2-2'])} QoS 1 from a client is answered by PUBACK with its Packet Identifier (v${version})`, async () => {
    const broker = new Broker({ sysInterval: 0 });
    try {
      const s = await connected(broker, 5, 's');
      await subscribe(s, 'in/1', 1);
      const p = await connected(broker, version, 'p');
      for (const id of [1, 300, 65_535]) {
        p.send(publishPacket('in/1', `m${id}`, 1, id));
        const ack = await p.expect(PacketType.Puback);
        assert.equal(ack.packetId, id);
        assert.equal(ack.reasonCode, 0);
      }
      for (const id of [1, 300, 65_535]) assert.equal((await s.expect(PacketType.Publish)).payload.toString(), `m${id}`);
    } finally {
      await broker.close();
    }
  });

  test(`${sid(version, ['MQTT-4.3.3-8', 'MQTT-4.3.3-2'], ['MQTT-4.3.3-11', 'MQTT-4.3.3-2'])} QoS 2 from a client: PUBREC, then PUBCOMP for PUBREL, with its Packet Identifier (v${version})`, async () => {
    const broker = new Broker({ sysInterval: 0 });
    try {
      const s = await connected(broker, 5, 's');
      await subscribe(s, 'in/2', 2);
      const p = await connected(broker, version, 'p');
      p.send(publishPacket('in/2', 'two', 2, 42));
      const rec = await p.expect(PacketType.Pubrec);
      assert.deepEqual([rec.packetId, rec.reasonCode], [42, 0]);
      p.send({ type: PacketType.Pubrel, packetId: 42, reasonCode: 0 });
      const comp = await p.expect(PacketType.Pubcomp);
      assert.deepEqual([comp.packetId, comp.reasonCode], [42, 0]);
      const m = await s.expect(PacketType.Publish);
      assert.equal(m.qos, 2);
      assert.equal(m.payload.toString(), 'two');
    } finally {
      await broker.close();
    }
  });

  test(`${sid(version, ['MQTT-4.3.3-10', 'MQTT-4.3.3-2'])} a QoS 2 PUBLISH sent again (DUP 1) before PUBREL gets PUBREC again and is delivered once (v${version})`, async () => {
    const broker = new Broker({ sysInterval: 0 });
    try {
      const s = await connected(broker, 5, 's');
      await subscribe(s, 'in/dup', 2);
      const p = await connected(broker, version, 'p');
      p.send(publishPacket('in/dup', 'only once', 2, 5));
      assert.equal((await p.expect(PacketType.Pubrec)).packetId, 5);
      p.send(publishPacket('in/dup', 'only once', 2, 5, true));
      p.send(publishPacket('in/dup', 'only once', 2, 5, true));
      assert.equal((await p.expect(PacketType.Pubrec)).packetId, 5);
      assert.equal((await p.expect(PacketType.Pubrec)).packetId, 5);
      p.send({ type: PacketType.Pubrel, packetId: 5, reasonCode: 0 });
      assert.equal((await p.expect(PacketType.Pubcomp)).packetId, 5);
      await settle(p, s);
      assert.equal(publishes(s).length, 1);
    } finally {
      await broker.close();
    }
  });
}

test('[MQTT-4.3.3-12] after PUBCOMP, a QoS 2 PUBLISH with the same Packet Identifier is a new message', async () => {
  const broker = new Broker({ sysInterval: 0 });
  try {
    const s = await connected(broker, 5, 's');
    await subscribe(s, 'again', 2);
    const p = await connected(broker, 5, 'p');
    for (const text of ['first', 'second']) {
      p.send(publishPacket('again', text, 2, 9));
      await p.expect(PacketType.Pubrec);
      p.send({ type: PacketType.Pubrel, packetId: 9, reasonCode: 0 });
      await p.expect(PacketType.Pubcomp);
    }
    await settle(s);
    assert.deepEqual(
      publishes(s).map((m) => m.payload.toString()),
      ['first', 'second'],
    );
  } finally {
    await broker.close();
  }
});

test('[MQTT-4.3.2-5] after PUBACK, a QoS 1 PUBLISH with the same Packet Identifier is a new message, even with DUP 1', async () => {
  const broker = new Broker({ sysInterval: 0 });
  try {
    const s = await connected(broker, 5, 's');
    await subscribe(s, 'q1', 1);
    const p = await connected(broker, 5, 'p');
    p.send(publishPacket('q1', 'a', 1, 4));
    await p.expect(PacketType.Puback);
    p.send(publishPacket('q1', 'b', 1, 4, true));
    await p.expect(PacketType.Puback);
    await settle(s);
    assert.deepEqual(
      publishes(s).map((m) => m.payload.toString()),
      ['a', 'b'],
    );
  } finally {
    await broker.close();
  }
});

test('[MQTT-4.3.3-11] PUBREL for an unknown Packet Identifier: PUBCOMP 0x92 in 5.0, a plain PUBCOMP in 3.1.1', async () => {
  const broker = new Broker({ sysInterval: 0 });
  try {
    const c5 = await connected(broker, 5, 'c5');
    c5.send({ type: PacketType.Pubrel, packetId: 77, reasonCode: 0 });
    const comp5 = await c5.expect(PacketType.Pubcomp);
    assert.deepEqual([comp5.packetId, comp5.reasonCode], [77, 0x92]);
    const c4 = await connected(broker, 4, 'c4');
    c4.send({ type: PacketType.Pubrel, packetId: 78, reasonCode: 0 });
    const comp4 = await c4.expect(PacketType.Pubcomp);
    assert.deepEqual([comp4.packetId, comp4.reasonCode], [78, 0]);
    // Both connections stay usable.
    await settle(c5, c4);
  } finally {
    await broker.close();
  }
});

test('[MQTT-4.3.3-9] after a PUBREC with a failure code, the same Packet Identifier starts a new message', async () => {
  const broker = new Broker({ sysInterval: 0 });
  try {
    const s = await connected(broker, 5, 's');
    await subscribe(s, 'pf', 2);
    const p = await connected(broker, 5, 'p');
    // Payload Format Indicator 1 with bytes that are not UTF-8: PUBREC 0x99 ends this flow at once.
    p.send({ ...publishPacket('pf', '', 2, 11), payload: Buffer.from([0xff, 0xfe]), properties: { payloadFormatIndicator: 1 } });
    const bad = await p.expect(PacketType.Pubrec);
    assert.deepEqual([bad.packetId, bad.reasonCode], [11, 0x99]);
    p.send({ ...publishPacket('pf', 'fine', 2, 11), properties: { payloadFormatIndicator: 1 } });
    const good = await p.expect(PacketType.Pubrec);
    assert.deepEqual([good.packetId, good.reasonCode], [11, 0]);
    const m = await s.expect(PacketType.Publish);
    assert.equal(m.payload.toString(), 'fine');
    assert.equal(publishes(s).length, 1);
  } finally {
    await broker.close();
  }
});

// ---- outbound (server to client) --------------------------------------------------------------------

for (const version of [4, 5] as const) {
  test(`${sid(version, ['MQTT-4.3.2-2', 'MQTT-4.3.2-1'], ['MQTT-4.3.2-3', 'MQTT-4.3.2-1'])} outbound QoS 1: PUBLISH with DUP 0 and a non-zero id, unacknowledged until PUBACK (v${version})`, async () => {
    // One message in flight at a time: a second one shows the first is still unacknowledged.
    const broker = new Broker({ sysInterval: 0, limits: { maxInflight: 1 } });
    try {
      const s = await connected(broker, version, 's');
      await subscribe(s, 'out/1', 1);
      const p = await connected(broker, 5, 'p');
      p.send(publishPacket('out/1', 'a', 1, 1));
      p.send(publishPacket('out/1', 'b', 1, 2));
      await p.expect(PacketType.Puback);
      await p.expect(PacketType.Puback);
      const first = await s.expect(PacketType.Publish);
      assert.equal(first.qos, 1);
      assert.equal(first.dup, false);
      assert.ok((first.packetId ?? 0) > 0);
      await settle(s);
      assert.equal(publishes(s).length, 1, 'the second waits for the PUBACK of the first');
      s.send({ type: PacketType.Puback, packetId: first.packetId as number, reasonCode: 0 });
      const second = await s.expect(PacketType.Publish);
      assert.equal(second.payload.toString(), 'b');
      assert.equal(second.dup, false);
    } finally {
      await broker.close();
    }
  });

  test(`${sid(version, ['MQTT-4.3.3-4', 'MQTT-4.3.3-1'], ['MQTT-4.3.3-5', 'MQTT-4.3.3-1'], ['MQTT-4.3.3-6', 'MQTT-4.3.3-1'])} outbound QoS 2: PUBREC is answered by PUBREL with the same id, PUBCOMP ends it (v${version})`, async () => {
    const broker = new Broker({ sysInterval: 0, limits: { maxInflight: 1 } });
    try {
      const s = await connected(broker, version, 's');
      await subscribe(s, 'out/2', 2);
      const p = await connected(broker, 5, 'p');
      p.send(publishPacket('out/2', 'a', 2, 1));
      p.send(publishPacket('out/2', 'b', 2, 2));
      const m = await s.expect(PacketType.Publish);
      assert.equal(m.qos, 2);
      assert.equal(m.dup, false);
      const id = m.packetId as number;
      s.send({ type: PacketType.Pubrec, packetId: id, reasonCode: 0 });
      const rel = await s.expect(PacketType.Pubrel);
      assert.equal(rel.packetId, id);
      // Until PUBCOMP the PUBREL is unacknowledged: the slot stays taken and the PUBLISH is not sent again.
      await settle(s);
      assert.equal(publishes(s).length, 1);
      s.send({ type: PacketType.Pubcomp, packetId: id, reasonCode: 0 });
      const next = await s.expect(PacketType.Publish);
      assert.equal(next.payload.toString(), 'b');
      assert.equal(publishes(s).filter((x) => x.payload.toString() === 'a').length, 1);
    } finally {
      await broker.close();
    }
  });
}

test('[MQTT-4.3.3-3] [MQTT-4.3.3-5] outbound QoS 2: the PUBLISH is unacknowledged until PUBREC, then the PUBREL until PUBCOMP', async () => {
  const broker = new Broker({ sysInterval: 0 });
  try {
    const props = { sessionExpiryInterval: 600 };
    const s = await connected(broker, 5, 's', props);
    await subscribe(s, 'q2', 2);
    const p = await connected(broker, 5, 'p');
    p.send(publishPacket('q2', 'a', 2, 1));
    p.send(publishPacket('q2', 'b', 2, 2));
    const a = await s.expect(PacketType.Publish);
    const b = await s.expect(PacketType.Publish);
    s.send({ type: PacketType.Pubrec, packetId: b.packetId as number, reasonCode: 0 });
    await s.expect(PacketType.Pubrel);
    s.end();
    await waitFor(() => !broker.isConnected('s'));
    // On reconnect: the PUBLISH without PUBREC again (DUP 1), for the other only the PUBREL.
    const back = memoryClient(broker, 5);
    await back.connect({ clientId: 's', clean: false, properties: props });
    const again = await back.expect(PacketType.Publish);
    assert.deepEqual([again.packetId, again.dup, again.payload.toString()], [a.packetId, true, 'a']);
    const rel = await back.expect(PacketType.Pubrel);
    assert.equal(rel.packetId, b.packetId);
    await settle(back);
    assert.equal(publishes(back).length, 1);
  } finally {
    await broker.close();
  }
});

test('[MQTT-4.4.0-2] a PUBREC with a failure code ends the outbound QoS 2 flow: no PUBREL, no retransmission, the slot is free', async () => {
  const broker = new Broker({ sysInterval: 0 });
  try {
    const s = await connected(broker, 5, 's', { receiveMaximum: 1 });
    await subscribe(s, 'fail', 2);
    const p = await connected(broker, 5, 'p');
    p.send(publishPacket('fail', 'a', 2, 1));
    p.send(publishPacket('fail', 'b', 2, 2));
    const m = await s.expect(PacketType.Publish);
    s.send({ type: PacketType.Pubrec, packetId: m.packetId as number, reasonCode: 0x80 });
    const next = await s.expect(PacketType.Publish);
    assert.equal(next.payload.toString(), 'b');
    await settle(s);
    assert.equal(s.received.filter((x) => x.type === PacketType.Pubrel).length, 0);
    assert.equal(publishes(s).length, 2);
  } finally {
    await broker.close();
  }
});

for (const version of [4, 5] as const) {
  test(`${sid(version, ['MQTT-3.8.4-8', 'MQTT-3.8.4-6'])} a message is delivered at the minimum of its QoS and the granted QoS (v${version})`, async () => {
    const broker = new Broker({ sysInterval: 0 });
    try {
      const subs: PacketClient[] = [];
      for (const granted of [0, 1, 2] as const) {
        const s = await connected(broker, version, `s${granted}`);
        assert.equal(await subscribe(s, 'min', granted), granted);
        subs.push(s);
      }
      const p = await connected(broker, 5, 'p');
      for (const qos of [0, 1, 2] as const) {
        p.send(publishPacket('min', `q${qos}`, qos, qos + 1));
        if (qos === 1) await p.expect(PacketType.Puback);
        if (qos === 2) {
          await p.expect(PacketType.Pubrec);
          p.send({ type: PacketType.Pubrel, packetId: 3, reasonCode: 0 });
          await p.expect(PacketType.Pubcomp);
        }
      }
      await settle(...subs);
      subs.forEach((s, granted) => {
        const got = publishes(s).map((m) => [m.payload.toString(), m.qos]);
        assert.deepEqual(
          got,
          [0, 1, 2].map((q) => [`q${q}`, Math.min(q, granted)]),
          `subscriber granted QoS ${granted}`,
        );
      });
    } finally {
      await broker.close();
    }
  });
}

test('[MQTT-2.2.1-4] [MQTT-4.3.2-1] outbound Packet Identifiers are never reused while in flight, also when they wrap past 65535', async () => {
  const broker = new Broker({ sysInterval: 0, limits: { maxQueuedMessages: 70_000, maxInflight: 2000 } });
  try {
    const s = await connected(broker, 5, 's');
    await subscribe(s, 'wrap', 1);
    const total = 65_700;
    for (let i = 0; i < total; i++) broker.publishInternal('wrap', Buffer.from(String(i)), false, 1);
    // The first message stays unacknowledged throughout; every other one is acknowledged as it comes.
    const inflight = new Set<number>();
    let held = -1;
    let seen = 0;
    let wrapped = false;
    let last = 0;
    while (seen < total) {
      await waitFor(() => s.received.length > seen + 2);
      const acks: Buffer[] = [];
      const batch = s.received.slice(seen + 2); // CONNACK and SUBACK come first
      for (const m of batch) {
        assert.equal(m.type, PacketType.Publish);
        if (m.type !== PacketType.Publish) continue;
        const id = m.packetId as number;
        assert.ok(id >= 1 && id <= 65_535);
        assert.equal(inflight.has(id), false, `Packet Identifier ${id} reused while in flight`);
        assert.equal(m.payload.toString(), String(seen), 'order');
        if (id < last) wrapped = true;
        last = id;
        seen++;
        if (held < 0) {
          held = id;
          inflight.add(id);
          continue;
        }
        acks.push(encodePacket({ type: PacketType.Puback, packetId: id, reasonCode: 0 }, 5));
      }
      if (acks.length > 0) s.sendRaw(Buffer.concat(acks));
    }
    assert.ok(wrapped, 'identifiers wrapped around');
    assert.equal(held, 1);
  } finally {
    await broker.close();
  }
});

test('[MQTT-4.3.3-8] [MQTT-4.3.3-4] QoS 2 end to end over TCP: 5.0 publisher, 3.1.1 subscriber', async () => {
  const h = await startBroker();
  try {
    const s = await h.client(4);
    await s.connect({ clientId: 'tcp-s' });
    await subscribe(s, 'tcp/q', 2);
    const p = await h.client(5);
    await p.connect({ clientId: 'tcp-p' });
    p.send(publishPacket('tcp/q', 'over tcp', 2, 100));
    assert.equal((await p.expect(PacketType.Pubrec)).packetId, 100);
    p.send({ type: PacketType.Pubrel, packetId: 100, reasonCode: 0 });
    assert.equal((await p.expect(PacketType.Pubcomp)).packetId, 100);
    const m = await s.expect(PacketType.Publish);
    assert.equal(m.qos, 2);
    s.send({ type: PacketType.Pubrec, packetId: m.packetId as number, reasonCode: 0 });
    assert.equal((await s.expect(PacketType.Pubrel)).packetId, m.packetId);
    s.send({ type: PacketType.Pubcomp, packetId: m.packetId as number, reasonCode: 0 });
    await settle(s);
  } finally {
    await h.stop();
  }
});
