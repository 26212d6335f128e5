import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { test } from 'node:test';
import { Broker } from '../../src/broker/broker.js';
import type { Connection } from '../../src/broker/connection.js';
import type { BrokerOptions } from '../../src/broker/options.js';
import {
  type ConnectProperties,
  encodePacket,
  PacketType,
  type ProtocolVersion,
  type PublishPacket,
  type QoS,
} from '../../src/protocol/index.js';
import { listenTcp } from '../../src/transport/tcp.js';
import { memoryClient } from '../helpers/broker-harness.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { PacketClient } from '../helpers/packet-client.js';

// ---- helpers ----------------------------------------------------------------------------------------

async function subscribe(c: PacketClient, filter: string, qos: QoS): Promise<void> {
  c.send({
    type: PacketType.Subscribe,
    packetId: 1,
    subscriptions: [{ topicFilter: filter, qos, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
  });
  const ack = await c.expect(PacketType.Suback);
  assert.equal(ack.reasonCodes[0], qos);
}

function publishPacket(topic: string, payload: string | Buffer, qos: QoS, packetId = 1): PublishPacket {
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
): Promise<PacketClient> {
  const c = memoryClient(broker, version);
  const ack = await c.connect({ clientId, ...(properties === undefined ? {} : { properties }) });
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

function ack(c: PacketClient, m: PublishPacket): void {
  c.send({ type: PacketType.Puback, packetId: m.packetId as number, reasonCode: 0 });
}

/** A broker on TCP 127.0.0.1 that keeps the server side of every connection, to look at its buffers. */
async function tcpBroker(options: BrokerOptions) {
  const broker = new Broker({ sysInterval: 0, ...options });
  const connections: Connection[] = [];
  const listener = await listenTcp({ host: '127.0.0.1', port: 0 }, (stream, info) => {
    connections.push(broker.handle(stream, info));
  });
  const clients: PacketClient[] = [];
  return {
    broker,
    connections,
    async client(clientId: string): Promise<PacketClient> {
      const c = await PacketClient.tcp(listener.port, 5);
      clients.push(c);
      assert.equal((await c.connect({ clientId })).reasonCode, 0);
      return c;
    },
    connectionOf(clientId: string): Connection {
      const conn = connections.find((x) => x.clientId === clientId);
      assert.ok(conn !== undefined);
      return conn;
    },
    async stop(): Promise<void> {
      for (const c of clients) c.end();
      await broker.close();
      await listener.close();
    },
  };
}

// ---- Receive Maximum --------------------------------------------------------------------------------

test('[MQTT-3.3.4-9] [MQTT-4.9.0-2] the server never has more QoS 1/2 PUBLISH unacknowledged than the client’s Receive Maximum', async () => {
  const broker = new Broker({ sysInterval: 0 });
  try {
    const s = await connected(broker, 's', { receiveMaximum: 2 });
    await subscribe(s, 'rm', 1);
    const p = await connected(broker, 'p');
    for (let i = 0; i < 10; i++) p.send(publishPacket('rm', String(i), 1, i + 1));
    for (let i = 0; i < 10; i++) await p.expect(PacketType.Puback);
    await settle(s);
    assert.deepEqual(
      publishes(s).map((m) => m.payload.toString()),
      ['0', '1'],
    );
    ack(s, publishes(s)[0] as PublishPacket);
    await waitFor(() => publishes(s).length === 3);
    await settle(s);
    assert.equal(publishes(s).length, 3, 'one acknowledgement frees one slot');
    // Acknowledge as they come: never more than 2 outstanding.
    let acked = 1;
    while (acked < 10) {
      await waitFor(() => publishes(s).length > acked);
      assert.ok(publishes(s).length - acked <= 2);
      ack(s, publishes(s)[acked] as PublishPacket);
      acked++;
    }
    assert.deepEqual(
      publishes(s).map((m) => m.payload.toString()),
      ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
    );
  } finally {
    await broker.close();
  }
});

test('[MQTT-4.9.0-1] [MQTT-4.9.0-2] with Receive Maximum 1 the first message goes at once; a QoS 2 one holds the slot until PUBCOMP', async () => {
  const broker = new Broker({ sysInterval: 0 });
  try {
    const s = await connected(broker, 's', { receiveMaximum: 1 });
    await subscribe(s, 'rm2', 2);
    const p = await connected(broker, 'p');
    p.send(publishPacket('rm2', 'a', 2, 1));
    p.send(publishPacket('rm2', 'b', 2, 2));
    const a = await s.expect(PacketType.Publish);
    s.send({ type: PacketType.Pubrec, packetId: a.packetId as number, reasonCode: 0 });
    await s.expect(PacketType.Pubrel);
    await settle(s);
    assert.equal(publishes(s).length, 1);
    s.send({ type: PacketType.Pubcomp, packetId: a.packetId as number, reasonCode: 0 });
    const b = await s.expect(PacketType.Publish);
    assert.equal(b.payload.toString(), 'b');
  } finally {
    await broker.close();
  }
});

test('[MQTT-3.3.4-10] [MQTT-4.9.0-3] with the send quota at zero the server still answers every other packet', async () => {
  const broker = new Broker({ sysInterval: 0 });
  try {
    const s = await connected(broker, 's', { receiveMaximum: 1 });
    await subscribe(s, 'quota', 1);
    const p = await connected(broker, 'p');
    p.send(publishPacket('quota', 'a', 1, 1));
    p.send(publishPacket('quota', 'b', 1, 2));
    await s.expect(PacketType.Publish);
    // Quota is 0 now.
    s.send({ type: PacketType.Pingreq });
    await s.expect(PacketType.Pingresp);
    s.send({
      type: PacketType.Subscribe,
      packetId: 5,
      subscriptions: [{ topicFilter: 'other', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
    });
    assert.equal((await s.expect(PacketType.Suback)).packetId, 5);
    s.send({ type: PacketType.Unsubscribe, packetId: 6, topicFilters: ['other'] });
    assert.equal((await s.expect(PacketType.Unsuback)).packetId, 6);
    s.send(publishPacket('elsewhere', 'x', 1, 7));
    assert.equal((await s.expect(PacketType.Puback)).packetId, 7);
    s.send(publishPacket('elsewhere', 'x', 2, 8));
    assert.equal((await s.expect(PacketType.Pubrec)).packetId, 8);
    s.send({ type: PacketType.Pubrel, packetId: 8, reasonCode: 0 });
    assert.equal((await s.expect(PacketType.Pubcomp)).packetId, 8);
    assert.equal(publishes(s).length, 1);
  } finally {
    await broker.close();
  }
});

test('[MQTT-4.9.0-2] a 3.1.1 client (no Receive Maximum) gets at most limits.maxInflight messages unacknowledged', async () => {
  const broker = new Broker({ sysInterval: 0, limits: { maxInflight: 3 } });
  try {
    const s = await connected(broker, 's', undefined, 4);
    await subscribe(s, 'mi', 1);
    const p = await connected(broker, 'p');
    for (let i = 0; i < 8; i++) p.send(publishPacket('mi', String(i), 1, i + 1));
    await settle(p, s);
    assert.equal(publishes(s).length, 3);
    for (let i = 0; i < 8; i++) {
      await waitFor(() => publishes(s).length > i);
      ack(s, publishes(s)[i] as PublishPacket);
    }
    await settle(s);
    assert.deepEqual(
      publishes(s).map((m) => m.payload.toString()),
      ['0', '1', '2', '3', '4', '5', '6', '7'],
    );
  } finally {
    await broker.close();
  }
});

test('[MQTT-3.3.4-7] a client with more unacknowledged QoS 2 PUBLISH than our Receive Maximum gets DISCONNECT 0x93', async () => {
  const broker = new Broker({ sysInterval: 0, capabilities: { receiveMaximum: 2 } });
  try {
    const p = memoryClient(broker, 5);
    const connack = await p.connect({ clientId: 'p' });
    assert.equal(connack.properties?.receiveMaximum, 2);
    // Two outstanding, one released: still within the limit.
    for (const id of [1, 2]) {
      p.send(publishPacket('rx', 'x', 2, id));
      await p.expect(PacketType.Pubrec);
    }
    p.send({ type: PacketType.Pubrel, packetId: 1, reasonCode: 0 });
    await p.expect(PacketType.Pubcomp);
    p.send(publishPacket('rx', 'x', 2, 3));
    await p.expect(PacketType.Pubrec);
    // A third one outstanding.
    p.send(publishPacket('rx', 'x', 2, 4));
    const d = await p.expect(PacketType.Disconnect);
    assert.equal(d.reasonCode, 0x93);
    await p.waitClosed();
    assert.equal(broker.metrics.limitHits.get('receiveMaximum'), 1);
  } finally {
    await broker.close();
  }
});

// ---- slow consumers (TCP) ---------------------------------------------------------------------------

const BIG = Buffer.alloc(16 * 1024, 0x5a);

function floodBytes(n: number, qos: QoS): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const payload = Buffer.from(BIG);
    payload.writeUInt32BE(i, 0);
    parts.push(encodePacket(publishPacket('flood', payload, qos, (i % 65_535) + 1), 5));
  }
  return Buffer.concat(parts);
}

test('[MQTT-4.5.0-1] a consumer that stops reading does not hold up others: its QoS 0 is dropped, its buffer stays bounded', async () => {
  const hwm = 64 * 1024;
  const h = await tcpBroker({ clock: new FakeClock(), limits: { outboundHighWaterMark: hwm } });
  try {
    const slow = await h.client('slow');
    await subscribe(slow, 'flood', 0);
    const fast = await h.client('fast');
    await subscribe(fast, 'flood', 0);
    slow.stream.pause();
    const p = await h.client('p');
    const n = 2000; // 32 MB, more than loopback socket buffers hold
    p.sendRaw(floodBytes(n, 0));
    const slowConnection = h.connectionOf('slow');
    let maxBuffered = 0;
    await waitFor(
      () => {
        maxBuffered = Math.max(maxBuffered, slowConnection.stream.writableLength);
        return publishes(fast).length >= n;
      },
      8000,
      `${n} messages to the fast consumer`,
    );
    await settle(p);
    assert.ok(h.broker.metrics.droppedCongested > 0, 'QoS 0 dropped for the slow consumer');
    assert.ok(maxBuffered <= hwm + 2 * BIG.length, `buffered ${maxBuffered} bytes for the slow consumer`);
    assert.deepEqual(
      publishes(fast).map((m) => m.payload.readUInt32BE(0)),
      Array.from({ length: n }, (_, i) => i),
    );
    // The slow consumer is still connected, and what it does get is in order.
    slow.stream.resume();
    await settle(slow);
    const got = publishes(slow).map((m) => m.payload.readUInt32BE(0));
    assert.ok(got.length > 0 && got.length < n, `slow consumer got ${got.length}`);
    assert.ok(
      got.every((x, i) => i === 0 || x > (got[i - 1] as number)),
      'in order',
    );
    assert.equal(got.length + h.broker.metrics.droppedCongested, n);
  } finally {
    await h.stop();
  }
});

test('[MQTT-3.3.4-9] QoS 1 for a consumer that stops reading waits in its session and arrives in full once it reads again', async () => {
  const h = await tcpBroker({ clock: new FakeClock(), limits: { outboundHighWaterMark: 64 * 1024 } });
  try {
    const slow = await h.client('slow');
    await subscribe(slow, 'flood', 1);
    slow.stream.pause();
    const p = await h.client('p');
    const n = 600; // 9.6 MB
    p.sendRaw(floodBytes(n, 1));
    await waitFor(() => p.received.filter((x) => x.type === PacketType.Puback).length === n, 8000, 'PUBACKs');
    assert.equal(h.broker.metrics.droppedCongested, 0);
    assert.equal(h.broker.metrics.droppedQueueFull, 0);
    slow.stream.resume();
    let acked = 0;
    while (acked < n) {
      await waitFor(() => publishes(slow).length > acked, 5000, `message ${acked}`);
      const batch = publishes(slow).slice(acked);
      slow.sendRaw(
        Buffer.concat(batch.map((m) => encodePacket({ type: PacketType.Puback, packetId: m.packetId as number, reasonCode: 0 }, 5))),
      );
      acked += batch.length;
    }
    assert.deepEqual(
      publishes(slow).map((m) => m.payload.readUInt32BE(0)),
      Array.from({ length: n }, (_, i) => i),
    );
  } finally {
    await h.stop();
  }
});

test('[MQTT-4.13.2-1] a consumer congested for longer than slowConsumerTimeout gets DISCONNECT 0x97 and is closed', async () => {
  const clock = new FakeClock();
  const h = await tcpBroker({ clock, limits: { outboundHighWaterMark: 64 * 1024, slowConsumerTimeout: 30_000 } });
  try {
    const slow = await h.client('slow');
    await subscribe(slow, 'flood', 0);
    slow.stream.pause();
    const p = await h.client('p');
    p.sendRaw(floodBytes(1000, 0));
    await settle(p);
    await waitFor(() => h.broker.metrics.droppedCongested > 0, 5000, 'congestion');
    clock.advance(29_000);
    assert.equal(h.broker.isConnected('slow'), true);
    clock.advance(1_000);
    assert.equal(h.broker.isConnected('slow'), false);
    slow.stream.resume();
    await slow.waitClosed(5000);
    assert.equal(slow.received.at(-1)?.type, PacketType.Disconnect);
    const last = slow.received.at(-1);
    assert.equal(last?.type === PacketType.Disconnect ? last.reasonCode : -1, 0x97);
    assert.equal(h.broker.metrics.closes.get('slow-consumer'), 1);
    // Others carry on.
    await settle(p);
  } finally {
    await h.stop();
  }
});
