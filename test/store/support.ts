import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import Database from 'better-sqlite3';
import { Broker } from '../../src/broker/broker.js';
import type { BrokerOptions } from '../../src/broker/options.js';
import {
  type ConnackPacket,
  type ConnectPacket,
  PacketType,
  type ProtocolVersion,
  type PublishPacket,
  type PublishProperties,
  type QoS,
  type Subscription,
} from '../../src/protocol/index.js';
import type { BrokerStore } from '../../src/store/types.js';
import { memoryClient } from '../helpers/broker-harness.js';
import { FakeClock } from '../helpers/fake-clock.js';
import type { PacketClient } from '../helpers/packet-client.js';

/** Helpers shared by the store tests: brokers over a given store, packet-level clients, store inspection. */

export type ConnectFields = Partial<Omit<ConnectPacket, 'type'>>;

const cleanups = new WeakMap<TestContext, (() => unknown)[]>();

/**
 * Runs `fn` after the test, before what was deferred earlier (last in, first out): a broker or process
 * closes before its directory goes. (The test's own `after` hooks run first in, first out.)
 */
export function defer(t: TestContext, fn: () => unknown): void {
  let stack = cleanups.get(t);
  if (stack === undefined) {
    const list: (() => unknown)[] = [];
    stack = list;
    cleanups.set(t, list);
    t.after(async () => {
      for (const f of list.reverse()) await f();
    });
  }
  stack.push(fn);
}

/** A temporary directory removed after the test, once whatever was deferred after it is done. */
export function tempDir(t: TestContext, prefix = 'mozzie-store-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  defer(t, () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A started broker over `store`, on a fake clock, closed after the test. */
export async function openBroker(
  t: TestContext,
  store: BrokerStore,
  options: BrokerOptions = {},
  clock: FakeClock = new FakeClock(),
): Promise<{ broker: Broker; clock: FakeClock }> {
  const broker = new Broker({ sysInterval: 0, ...options, store, clock });
  defer(t, () => broker.close());
  await broker.start();
  return { broker, clock };
}

export async function connect(
  broker: Broker,
  version: ProtocolVersion,
  fields: ConnectFields,
): Promise<{ c: PacketClient; ack: ConnackPacket }> {
  const c = memoryClient(broker, version);
  const ack = await c.connect(fields);
  assert.equal(ack.reasonCode, 0, `CONNECT ${fields.clientId ?? ''} refused with ${ack.reasonCode}`);
  return { c, ack };
}

/** CONNECT fields of a session that outlives its connection (5.0 needs a Session Expiry Interval). */
export function persistent(version: ProtocolVersion, clientId: string, expiry = 3600, extra: ConnectFields = {}): ConnectFields {
  const { properties, ...rest } = extra;
  return version === 5
    ? { clientId, clean: false, ...rest, properties: { sessionExpiryInterval: expiry, ...properties } }
    : { clientId, clean: false, ...rest };
}

export function subscription(
  topicFilter: string,
  qos: QoS,
  options: Partial<Omit<Subscription, 'topicFilter' | 'qos'>> = {},
): Subscription {
  return { topicFilter, qos, noLocal: false, retainAsPublished: false, retainHandling: 0, ...options };
}

/** SUBSCRIBE one filter and check the granted QoS. */
export async function subscribe(
  c: PacketClient,
  filter: string,
  qos: QoS,
  packetId = 1,
  options: Partial<Omit<Subscription, 'topicFilter' | 'qos'>> = {},
  subscriptionIdentifier?: number,
): Promise<void> {
  c.send({
    type: PacketType.Subscribe,
    packetId,
    subscriptions: [subscription(filter, qos, options)],
    ...(subscriptionIdentifier === undefined ? {} : { properties: { subscriptionIdentifier } }),
  });
  const ack = await c.expect(PacketType.Suback, 2000, (p) => p.packetId === packetId);
  assert.deepEqual(ack.reasonCodes, [qos], `SUBSCRIBE ${filter}`);
}

export interface PublishFields {
  readonly retain?: boolean;
  readonly dup?: boolean;
  readonly properties?: PublishProperties;
}

export function publishPacket(
  topic: string,
  payload: string | Buffer,
  qos: QoS,
  packetId: number,
  fields: PublishFields = {},
): PublishPacket {
  return {
    type: PacketType.Publish,
    topic,
    payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
    qos,
    retain: fields.retain ?? false,
    dup: fields.dup ?? false,
    ...(qos > 0 ? { packetId } : {}),
    ...(fields.properties === undefined ? {} : { properties: fields.properties }),
  };
}

/** Publishes and completes the publisher's side of the QoS flow. */
export async function publish(
  c: PacketClient,
  topic: string,
  payload: string | Buffer,
  qos: QoS,
  packetId = 100,
  fields: PublishFields = {},
): Promise<void> {
  c.send(publishPacket(topic, payload, qos, packetId, fields));
  if (qos === 1) await c.expect(PacketType.Puback, 2000, (p) => p.packetId === packetId);
  if (qos === 2) {
    await c.expect(PacketType.Pubrec, 2000, (p) => p.packetId === packetId);
    c.send({ type: PacketType.Pubrel, packetId, reasonCode: 0 });
    await c.expect(PacketType.Pubcomp, 2000, (p) => p.packetId === packetId);
  }
  if (qos === 0) await barrier(c);
}

/** Round trip: everything the broker sent this client before the PINGRESP has arrived. */
export async function barrier(c: PacketClient): Promise<void> {
  c.send({ type: PacketType.Pingreq });
  await c.expect(PacketType.Pingresp);
}

export function publishesOf(c: PacketClient): PublishPacket[] {
  return c.received.filter((p): p is PublishPacket => p.type === PacketType.Publish);
}

export function payloadsOf(c: PacketClient): string[] {
  return publishesOf(c).map((p) => p.payload.toString());
}

/** Waits until the client has received at least `n` PUBLISH packets; returns the first `n`. */
export async function receive(c: PacketClient, n: number, timeoutMs = 3000): Promise<PublishPacket[]> {
  const deadline = Date.now() + timeoutMs;
  while (publishesOf(c).length < n) {
    if (Date.now() > deadline) {
      const got = publishesOf(c).map((p) => `${p.topic} ${p.payload.subarray(0, 20).toString()}${p.payload.length > 20 ? '...' : ''}`);
      throw new Error(`expected ${n} PUBLISH packets within ${timeoutMs} ms, got ${got.length}: ${got.join(', ')}`);
    }
    await new Promise((r) => setTimeout(r, 2));
  }
  return publishesOf(c).slice(0, n);
}

/** Completes the subscriber's side of the QoS flow for these messages. */
export async function ackAll(c: PacketClient, messages: readonly PublishPacket[]): Promise<void> {
  for (const m of messages) {
    const id = m.packetId;
    if (m.qos === 0 || id === undefined) continue;
    if (m.qos === 1) {
      c.send({ type: PacketType.Puback, packetId: id, reasonCode: 0 });
      continue;
    }
    c.send({ type: PacketType.Pubrec, packetId: id, reasonCode: 0 });
    await c.expect(PacketType.Pubrel, 2000, (p) => p.packetId === id);
    c.send({ type: PacketType.Pubcomp, packetId: id, reasonCode: 0 });
  }
  await barrier(c);
}

/** Normal DISCONNECT, then waits for the server to close. */
export async function leave(c: PacketClient): Promise<void> {
  c.send({ type: PacketType.Disconnect, reasonCode: 0 });
  await c.waitClosed();
}

/** Drops the connection without DISCONNECT and waits until the broker has noticed. */
export async function drop(broker: Broker, c: PacketClient, clientId: string): Promise<void> {
  c.end();
  for (let i = 0; i < 200 && broker.isConnected(clientId); i++) await new Promise((r) => setImmediate(r));
  assert.equal(broker.isConnected(clientId), false, `${clientId} still connected`);
}

// ---- store inspection ---------------------------------------------------------------------------

export interface StoreCounts {
  readonly sessions: number;
  readonly subscriptions: number;
  readonly inboundQos2: number;
  readonly messages: number;
  readonly deliveries: number;
  readonly retained: number;
  readonly wills: number;
  /** Message rows whose reference count differs from the deliveries that refer to them. */
  readonly badRefs: number;
  /** Deliveries that refer to a message row that does not exist. */
  readonly dangling: number;
}

/** Opens a SQLite store's file read-only, as another process would see it. */
export function openReadOnly(path: string): Database.Database {
  return new Database(path, { readonly: true, fileMustExist: true });
}

function count(db: Database.Database, sql: string): number {
  return (db.prepare(sql).get() as { n: number }).n;
}

/** Row counts of a mozzie.db, read through a connection of its own (what is committed, nothing else). */
export function countRows(path: string): StoreCounts {
  const db = openReadOnly(path);
  try {
    return {
      sessions: count(db, 'SELECT count(*) AS n FROM sessions'),
      subscriptions: count(db, 'SELECT count(*) AS n FROM subscriptions'),
      inboundQos2: count(db, 'SELECT count(*) AS n FROM inbound_qos2'),
      messages: count(db, 'SELECT count(*) AS n FROM messages'),
      deliveries: count(db, 'SELECT count(*) AS n FROM deliveries'),
      retained: count(db, 'SELECT count(*) AS n FROM retained'),
      wills: count(db, 'SELECT count(*) AS n FROM sessions WHERE will IS NOT NULL'),
      badRefs: count(
        db,
        'SELECT count(*) AS n FROM messages m WHERE m.refs <> (SELECT count(*) FROM deliveries d WHERE d.message_id = m.id)',
      ),
      dangling: count(db, 'SELECT count(*) AS n FROM deliveries d WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = d.message_id)'),
    };
  } finally {
    db.close();
  }
}

/** The store holds nothing owed to anyone, and its message rows are consistent. */
export function assertNothingOwed(counts: StoreCounts, what = ''): void {
  assert.deepEqual(
    { deliveries: counts.deliveries, messages: counts.messages, badRefs: counts.badRefs, dangling: counts.dangling },
    { deliveries: 0, messages: 0, badRefs: 0, dangling: 0 },
    `store still holds messages ${what}`,
  );
}
