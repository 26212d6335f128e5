import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { describe, type TestContext, test } from 'node:test';
import type { Broker } from '../../src/broker/broker.js';
import type { BrokerOptions } from '../../src/broker/options.js';
import { PacketType, type ProtocolVersion, type QoS, ReasonCode } from '../../src/protocol/index.js';
import type { BrokerStore } from '../../src/store/types.js';
import type { FakeClock } from '../helpers/fake-clock.js';
import {
  ackAll,
  assertNothingOwed,
  barrier,
  connect,
  drop,
  leave,
  openBroker,
  payloadsOf,
  persistent,
  publish,
  publishesOf,
  publishPacket,
  receive,
  type StoreCounts,
  subscribe,
} from './support.js';

/**
 * One suite of broker behaviours that depend on the store, run against every store implementation: the
 * broker must behave the same whether its sessions, queues and retained messages live in memory or on
 * disk. Stores that can be looked into (durable ones) are also checked for what they hold afterwards.
 */
export interface StoreFixture {
  /** A fresh, empty store for one test (cleaned up after it). */
  create(t: TestContext): BrokerStore;
  /** What the store holds once everything recorded is committed; undefined if it cannot be looked into. */
  counts(store: BrokerStore): Promise<StoreCounts | undefined>;
  /**
   * Known gaps of this store, by test: the test still runs and is reported as "todo" with the reason,
   * until the gap is closed (then the reason goes, and the test counts again).
   */
  readonly gaps?: { readonly qos0Eviction?: string };
}

interface Env {
  readonly broker: Broker;
  readonly clock: FakeClock;
  readonly store: BrokerStore;
  /** Row counts if the store can be inspected. */
  counts(): Promise<StoreCounts | undefined>;
}

export function storeSuite(name: string, fixture: StoreFixture): void {
  const env = async (t: TestContext, options: BrokerOptions = {}): Promise<Env> => {
    const store = fixture.create(t);
    const { broker, clock } = await openBroker(t, store, options);
    return { broker, clock, store, counts: () => fixture.counts(store) };
  };

  const nothingOwed = async (e: Env, what: string): Promise<void> => {
    const counts = await e.counts();
    if (counts !== undefined) assertNothingOwed(counts, what);
  };

  describe(`${name} store`, () => {
    // ---- queued messages ------------------------------------------------------------------------

    const queuedInOrder = async (t: TestContext, version: ProtocolVersion) => {
      const e = await env(t);
      const first = await connect(e.broker, version, persistent(version, 'sub'));
      await subscribe(first.c, 'q/#', 2);
      await leave(first.c);
      const pub = await connect(e.broker, 5, { clientId: 'pub' });
      for (let i = 1; i <= 12; i++) await publish(pub.c, 'q/a', `m${i}`, i % 2 === 0 ? 2 : 1, i);
      const { c, ack } = await connect(e.broker, version, persistent(version, 'sub'));
      assert.equal(ack.sessionPresent, true);
      const got = await receive(c, 12);
      assert.deepEqual(
        got.map((p) => `${p.payload.toString()}/q${p.qos}/dup${p.dup ? 1 : 0}`),
        Array.from({ length: 12 }, (_, i) => `m${i + 1}/q${(i + 1) % 2 === 0 ? 2 : 1}/dup0`),
      );
      await ackAll(c, got);
      assert.equal(publishesOf(c).length, 12, 'nothing more is sent');
      await leave(c);
      const again = await connect(e.broker, version, persistent(version, 'sub'));
      await barrier(again.c);
      assert.deepEqual(payloadsOf(again.c), [], 'acknowledged messages are not sent again');
      await nothingOwed(e, 'after every message was acknowledged');
    };

    test('[MQTT-3.1.2-5/5.0] [MQTT-3.1.2-23/5.0] [MQTT-4.6.0-6/5.0] v5: a persistent session resumes with its queued QoS 1 and 2 messages, in order', (t) =>
      queuedInOrder(t, 5));
    test('[MQTT-3.1.2-4/3.1.1] [MQTT-3.1.2-5/3.1.1] [MQTT-4.6.0-6/3.1.1] v3.1.1: a Clean Session 0 session resumes with its queued QoS 1 and 2 messages, in order', (t) =>
      queuedInOrder(t, 4));

    // ---- in-flight messages -----------------------------------------------------------------------

    const inflightResent = async (t: TestContext, version: ProtocolVersion) => {
      const e = await env(t);
      const sub = await connect(e.broker, version, persistent(version, 'sub'));
      await subscribe(sub.c, 'f/#', 2);
      const pub = await connect(e.broker, 5, { clientId: 'pub' });
      await publish(pub.c, 'f/1', 'one', 1, 1);
      await publish(pub.c, 'f/2', 'two', 2, 2);
      await publish(pub.c, 'f/3', 'three', 2, 3);
      const [one, two, three] = await receive(sub.c, 3);
      assert.ok(one !== undefined && two !== undefined && three !== undefined);
      // Only the third gets as far as PUBREC; then the connection breaks.
      sub.c.send({ type: PacketType.Pubrec, packetId: three.packetId ?? 0, reasonCode: 0 });
      await sub.c.expect(PacketType.Pubrel, 2000, (p) => p.packetId === three.packetId);
      await drop(e.broker, sub.c, 'sub');

      const { c, ack } = await connect(e.broker, version, persistent(version, 'sub'));
      assert.equal(ack.sessionPresent, true);
      await c.expect(PacketType.Pubrel, 2000, (p) => p.packetId === three.packetId);
      await barrier(c);
      const resent = c.received.filter((p) => p.type === PacketType.Publish || p.type === PacketType.Pubrel);
      assert.deepEqual(
        resent.map((p) =>
          p.type === PacketType.Publish ? `PUBLISH ${p.payload.toString()} id ${p.packetId} dup ${p.dup}` : `PUBREL id ${p.packetId}`,
        ),
        [`PUBLISH one id ${one.packetId} dup true`, `PUBLISH two id ${two.packetId} dup true`, `PUBREL id ${three.packetId}`],
        'unacknowledged PUBLISH packets again with DUP 1 and PUBREL again, same identifiers, in the order first sent',
      );
      c.send({ type: PacketType.Puback, packetId: one.packetId ?? 0, reasonCode: 0 });
      c.send({ type: PacketType.Pubrec, packetId: two.packetId ?? 0, reasonCode: 0 });
      await c.expect(PacketType.Pubrel, 2000, (p) => p.packetId === two.packetId);
      c.send({ type: PacketType.Pubcomp, packetId: two.packetId ?? 0, reasonCode: 0 });
      c.send({ type: PacketType.Pubcomp, packetId: three.packetId ?? 0, reasonCode: 0 });
      await barrier(c);
      await leave(c);
      const again = await connect(e.broker, version, persistent(version, 'sub'));
      await barrier(again.c);
      assert.deepEqual(
        again.c.received.filter((p) => p.type === PacketType.Publish || p.type === PacketType.Pubrel),
        [],
        'completed flows are not resumed',
      );
      await nothingOwed(e, 'after every flow completed');
    };

    test('[MQTT-4.4.0-1/5.0] [MQTT-3.3.1-1/5.0] [MQTT-4.3.3-6] v5: in-flight messages are sent again after reconnect: PUBLISH with DUP 1, PUBREL again', (t) =>
      inflightResent(t, 5));
    test('[MQTT-4.4.0-1/3.1.1] [MQTT-3.3.1-1/3.1.1] v3.1.1: in-flight messages are sent again after reconnect: PUBLISH with DUP 1, PUBREL again', (t) =>
      inflightResent(t, 4));

    // ---- inbound QoS 2 ----------------------------------------------------------------------------

    const inboundDuplicate = async (t: TestContext, version: ProtocolVersion) => {
      const e = await env(t);
      const watcher = await connect(e.broker, 5, { clientId: 'watcher' });
      await subscribe(watcher.c, 'dup/#', 2);
      const pub = await connect(e.broker, version, persistent(version, 'pub'));
      pub.c.send(publishPacket('dup/a', 'first', 2, 7));
      await pub.c.expect(PacketType.Pubrec, 2000, (p) => p.packetId === 7);
      await drop(e.broker, pub.c, 'pub');

      const { c, ack } = await connect(e.broker, version, persistent(version, 'pub'));
      assert.equal(ack.sessionPresent, true);
      // The client did not see the PUBREC (as far as the server knows): it sends the PUBLISH again.
      c.send(publishPacket('dup/a', 'first', 2, 7, { dup: true }));
      await c.expect(PacketType.Pubrec, 2000, (p) => p.packetId === 7);
      c.send({ type: PacketType.Pubrel, packetId: 7, reasonCode: 0 });
      const comp = await c.expect(PacketType.Pubcomp, 2000, (p) => p.packetId === 7);
      assert.equal(comp.reasonCode, 0, 'the identifier was known');
      // Released: the same identifier now carries a new message. [MQTT-4.3.3-12]
      await publish(c, 'dup/a', 'second', 2, 7);
      const got = await receive(watcher.c, 2);
      await ackAll(watcher.c, got);
      assert.deepEqual(payloadsOf(watcher.c), ['first', 'second'], 'the resent PUBLISH was not delivered again');
      const counts = await e.counts();
      if (counts !== undefined) assert.equal(counts.inboundQos2, 0, 'released identifiers leave the store');
    };

    test('[MQTT-4.3.3-10] [MQTT-4.3.3-12] [MQTT-4.4.0-1/5.0] v5: inbound QoS 2: a PUBLISH resent after reconnect is acknowledged, not delivered again', (t) =>
      inboundDuplicate(t, 5));
    test('[MQTT-4.3.3-2/3.1.1] [MQTT-4.4.0-1/3.1.1] v3.1.1: inbound QoS 2: a PUBLISH resent after reconnect is acknowledged, not delivered again', (t) =>
      inboundDuplicate(t, 4));

    // ---- subscriptions ----------------------------------------------------------------------------

    test('[MQTT-3.8.4-3/5.0] [MQTT-3.10.4-1/5.0] [MQTT-3.8.3-3/5.0] subscriptions are session state: replaced, removed and their options as last left', async (t) => {
      const e = await env(t);
      const first = await connect(e.broker, 5, persistent(5, 'sub'));
      await subscribe(first.c, 'a/#', 1, 1);
      await subscribe(first.c, 'b/#', 2, 2, {}, 42);
      await subscribe(first.c, 'c/#', 1, 3);
      await subscribe(first.c, 'self/#', 1, 4, { noLocal: true });
      await subscribe(first.c, 'a/#', 2, 5);
      first.c.send({ type: PacketType.Unsubscribe, packetId: 6, topicFilters: ['c/#'] });
      const unsuback = await first.c.expect(PacketType.Unsuback);
      assert.deepEqual(unsuback.reasonCodes, [0]);
      await leave(first.c);

      const pub = await connect(e.broker, 5, { clientId: 'pub' });
      await publish(pub.c, 'a/x', 'to a', 2, 1);
      await publish(pub.c, 'b/x', 'to b', 2, 2);
      await publish(pub.c, 'c/x', 'to c', 2, 3);

      const { c, ack } = await connect(e.broker, 5, persistent(5, 'sub'));
      assert.equal(ack.sessionPresent, true);
      const got = await receive(c, 2);
      await ackAll(c, got);
      assert.deepEqual(
        got.map((p) => [p.topic, p.qos, p.properties?.subscriptionIdentifiers ?? []]),
        [
          ['a/x', 2, []],
          ['b/x', 2, [42]],
        ],
        'the replacing subscription (QoS 2) and the Subscription Identifier are kept; the removed one is gone',
      );
      // No Local is kept: the client's own message does not come back; another client's does.
      await publish(c, 'self/own', 'own', 1, 9);
      await publish(pub.c, 'self/other', 'other', 1, 4);
      const more = await receive(c, 3);
      await ackAll(c, more.slice(2));
      assert.deepEqual(payloadsOf(c), ['to a', 'to b', 'other']);
      await nothingOwed(e, 'after every message was acknowledged');
    });

    test('[MQTT-3.1.2-4/5.0] [MQTT-3.2.2-2/5.0] Clean Start discards the stored session with its subscriptions and queued messages', async (t) => {
      const e = await env(t);
      const first = await connect(e.broker, 5, persistent(5, 'sub'));
      await subscribe(first.c, 'old/#', 1);
      await leave(first.c);
      const pub = await connect(e.broker, 5, { clientId: 'pub' });
      await publish(pub.c, 'old/1', 'queued', 1, 1);
      const { c, ack } = await connect(e.broker, 5, { clientId: 'sub', clean: true, properties: { sessionExpiryInterval: 3600 } });
      assert.equal(ack.sessionPresent, false);
      await publish(pub.c, 'old/2', 'live', 1, 2);
      await barrier(c);
      assert.deepEqual(payloadsOf(c), []);
      const counts = await e.counts();
      if (counts !== undefined) {
        assertNothingOwed(counts, 'after Clean Start');
        assert.equal(counts.subscriptions, 0);
      }
    });

    // ---- retained messages ------------------------------------------------------------------------

    test('[MQTT-3.3.1-5/5.0] [MQTT-3.3.1-6/5.0] [MQTT-3.3.1-7/5.0] [MQTT-3.3.1-9/5.0] retained messages are set, replaced and deleted', async (t) => {
      const e = await env(t);
      const pub = await connect(e.broker, 5, { clientId: 'pub' });
      const properties = { contentType: 'text/plain', userProperties: [['k', 'v']] as const, correlationData: Buffer.from([1, 2, 3]) };
      await publish(pub.c, 'r/1', 'one', 1, 1, { retain: true });
      await publish(pub.c, 'r/2', 'two', 1, 2, { retain: true });
      await publish(pub.c, 'r/3', 'three', 2, 3, { retain: true });
      await publish(pub.c, 'r/2', 'two-b', 2, 4, { retain: true, properties });
      await publish(pub.c, 'r/3', '', 1, 5, { retain: true });
      await publish(pub.c, 'r/4', '', 1, 6, { retain: true });
      const sub = await connect(e.broker, 5, { clientId: 'sub' });
      await subscribe(sub.c, 'r/#', 2);
      const got = await receive(sub.c, 2);
      await ackAll(sub.c, got);
      const sorted = [...got].sort((a, b) => a.topic.localeCompare(b.topic));
      assert.deepEqual(
        sorted.map((p) => [p.topic, p.payload.toString(), p.retain, p.qos]),
        [
          ['r/1', 'one', true, 1],
          ['r/2', 'two-b', true, 2],
        ],
      );
      const two = sorted[1];
      assert.equal(two?.properties?.contentType, 'text/plain');
      assert.deepEqual(two?.properties?.userProperties, [['k', 'v']]);
      assert.deepEqual(two?.properties?.correlationData, Buffer.from([1, 2, 3]));
      const counts = await e.counts();
      if (counts !== undefined) assert.equal(counts.retained, 2, 'the store holds the two retained messages left');
    });

    // ---- session expiry -----------------------------------------------------------------------------

    test('[MQTT-4.1.0-2/5.0] [MQTT-3.1.2-23/5.0] an expired session is ended and removed, with its subscriptions and queued messages', async (t) => {
      const e = await env(t);
      const first = await connect(e.broker, 5, persistent(5, 'sub', 60));
      await subscribe(first.c, 'e/#', 1);
      await leave(first.c);
      const pub = await connect(e.broker, 5, { clientId: 'pub' });
      await publish(pub.c, 'e/1', 'queued', 1, 1);
      e.clock.advance(59_000);
      assert.equal(e.broker.sessions.has('sub'), true, 'kept until it expires');
      e.clock.advance(1_000);
      assert.equal(e.broker.sessions.has('sub'), false, 'ended when the Session Expiry Interval has passed');
      const counts = await e.counts();
      if (counts !== undefined) {
        assertNothingOwed(counts, 'after the session expired');
        assert.deepEqual([counts.sessions, counts.subscriptions], [0, 0], 'the session left the store');
      }
      const { c, ack } = await connect(e.broker, 5, persistent(5, 'sub', 60));
      assert.equal(ack.sessionPresent, false);
      await publish(pub.c, 'e/2', 'after', 1, 2);
      await barrier(c);
      assert.deepEqual(payloadsOf(c), [], 'neither the queued message nor the subscription survived');
    });

    // ---- wills --------------------------------------------------------------------------------------

    test('[MQTT-3.1.3-9/5.0] [MQTT-3.1.2-8/5.0] Will Delay: a reconnect within the delay cancels the Will; otherwise it is published when due', async (t) => {
      const e = await env(t);
      const watcher = await connect(e.broker, 5, { clientId: 'watcher' });
      await subscribe(watcher.c, 'will/#', 1);
      const will = { topic: 'will/a', payload: Buffer.from('gone'), qos: 1 as QoS, retain: false, properties: { willDelayInterval: 10 } };
      const a = await connect(e.broker, 5, persistent(5, 'a', 300, { will }));
      await drop(e.broker, a.c, 'a');
      e.clock.advance(5_000);
      await barrier(watcher.c);
      assert.deepEqual(payloadsOf(watcher.c), []);
      const back = await connect(e.broker, 5, persistent(5, 'a', 300, { will }));
      assert.equal(back.ack.sessionPresent, true);
      e.clock.advance(20_000);
      await barrier(watcher.c);
      assert.deepEqual(payloadsOf(watcher.c), [], 'the reconnect cancelled the Will');
      await drop(e.broker, back.c, 'a');
      e.clock.advance(9_000);
      await barrier(watcher.c);
      assert.deepEqual(payloadsOf(watcher.c), []);
      e.clock.advance(1_000);
      const got = await receive(watcher.c, 1);
      await ackAll(watcher.c, got);
      assert.deepEqual(payloadsOf(watcher.c), ['gone']);
      const counts = await e.counts();
      if (counts !== undefined) assert.equal(counts.wills, 0, 'a published Will leaves the store');
    });

    test('[MQTT-3.1.2-8/5.0] a Will whose delay outlasts the session is published when the session ends', async (t) => {
      const e = await env(t);
      const watcher = await connect(e.broker, 5, { clientId: 'watcher' });
      await subscribe(watcher.c, 'will/#', 1);
      const will = { topic: 'will/b', payload: Buffer.from('ended'), qos: 1 as QoS, retain: false, properties: { willDelayInterval: 100 } };
      const b = await connect(e.broker, 5, persistent(5, 'b', 10, { will }));
      await drop(e.broker, b.c, 'b');
      e.clock.advance(9_999);
      await barrier(watcher.c);
      assert.deepEqual(payloadsOf(watcher.c), []);
      e.clock.advance(1);
      const got = await receive(watcher.c, 1);
      await ackAll(watcher.c, got);
      assert.deepEqual(payloadsOf(watcher.c), ['ended']);
      assert.equal(e.broker.sessions.has('b'), false);
      const counts = await e.counts();
      if (counts !== undefined) assert.deepEqual([counts.sessions, counts.wills], [0, 0]);
    });

    // ---- queue limits -------------------------------------------------------------------------------

    test('limits.maxQueuedMessages: an offline session keeps the oldest messages up to the limit, in order', async (t) => {
      const e = await env(t, { limits: { maxQueuedMessages: 3 } });
      const first = await connect(e.broker, 5, persistent(5, 'sub'));
      await subscribe(first.c, 'l/#', 2);
      await leave(first.c);
      const pub = await connect(e.broker, 5, { clientId: 'pub' });
      for (let i = 1; i <= 6; i++) await publish(pub.c, 'l/x', `m${i}`, i % 2 === 0 ? 2 : 1, i);
      const { c } = await connect(e.broker, 5, persistent(5, 'sub'));
      const got = await receive(c, 3);
      await ackAll(c, got);
      assert.deepEqual(payloadsOf(c), ['m1', 'm2', 'm3']);
      assert.equal(e.broker.sessions.get('sub')?.dropped, 3, 'the dropped messages are counted');
      // Room again: new messages are queued.
      await leave(c);
      await publish(pub.c, 'l/x', 'm7', 1, 7);
      const again = await connect(e.broker, 5, persistent(5, 'sub'));
      const more = await receive(again.c, 1);
      await ackAll(again.c, more);
      assert.deepEqual(payloadsOf(again.c), ['m7']);
      await nothingOwed(e, 'after the queue was drained');
    });

    test('limits.maxQueuedBytes: an offline session keeps messages up to the byte limit', async (t) => {
      // Each message counts its topic (3) and payload (20): two fit in 50 bytes, a third does not.
      const e = await env(t, { limits: { maxQueuedBytes: 50 } });
      const first = await connect(e.broker, 5, persistent(5, 'sub'));
      await subscribe(first.c, 'b/#', 1);
      await leave(first.c);
      const pub = await connect(e.broker, 5, { clientId: 'pub' });
      for (let i = 1; i <= 4; i++) await publish(pub.c, 'b/x', `${i}`.padEnd(20, '.'), 1, i);
      const { c } = await connect(e.broker, 5, persistent(5, 'sub'));
      const got = await receive(c, 2);
      await ackAll(c, got);
      assert.deepEqual(
        payloadsOf(c).map((p) => p[0]),
        ['1', '2'],
      );
      await nothingOwed(e, 'after the queue was drained');
    });

    const qos0Gap = fixture.gaps?.qos0Eviction;
    test(
      'a full queue drops queued QoS 0 messages before it refuses a QoS 1 or 2 message',
      qos0Gap === undefined ? {} : { todo: qos0Gap },
      async (t) => {
        const e = await env(t, { limits: { maxQueuedMessages: 3 }, sessions: { queueQos0WhenOffline: true } });
        const first = await connect(e.broker, 5, persistent(5, 'sub'));
        await subscribe(first.c, 'z/#', 1);
        await leave(first.c);
        const pub = await connect(e.broker, 5, { clientId: 'pub' });
        for (const p of ['a', 'b', 'c']) await publish(pub.c, 'z/0', p, 0);
        await publish(pub.c, 'z/1', 'reliable', 1, 1);
        const { c } = await connect(e.broker, 5, persistent(5, 'sub'));
        const got = await receive(c, 3);
        await ackAll(c, got);
        assert.deepEqual(payloadsOf(c), ['b', 'c', 'reliable'], 'the oldest QoS 0 message made room for the QoS 1 one');
        await nothingOwed(e, 'after the queue was drained');
      },
    );

    // ---- shared subscriptions -----------------------------------------------------------------------

    test('shared subscription: what a disconnected member was sent but did not acknowledge (QoS 1) or not sent goes to another member', async (t) => {
      const e = await env(t);
      const m1 = await connect(e.broker, 5, persistent(5, 'm1', 3600, { properties: { receiveMaximum: 1 } }));
      await subscribe(m1.c, '$share/g/s/#', 1);
      const m2 = await connect(e.broker, 5, persistent(5, 'm2'));
      await subscribe(m2.c, '$share/g/s/#', 1);
      const pub = await connect(e.broker, 5, { clientId: 'pub' });
      for (let i = 1; i <= 6; i++) await publish(pub.c, 's/x', `m${i}`, 1, i);
      await barrier(m1.c);
      await barrier(m2.c);
      const m1Got = payloadsOf(m1.c);
      assert.equal(m1Got.length, 1, 'm1 has one message in flight (Receive Maximum 1), the others it was given queue');
      const before = publishesOf(m2.c);
      await ackAll(m2.c, before);
      await drop(e.broker, m1.c, 'm1');
      const all = await receive(m2.c, 6);
      await ackAll(m2.c, all.slice(before.length));
      assert.deepEqual(payloadsOf(m2.c).sort(), ['m1', 'm2', 'm3', 'm4', 'm5', 'm6'], 'each message reached m2 once');
      const back = await connect(e.broker, 5, persistent(5, 'm1'));
      assert.equal(back.ack.sessionPresent, true);
      await barrier(back.c);
      assert.deepEqual(payloadsOf(back.c), [], 'nothing is left for m1: it all went to m2');
      await nothingOwed(e, 'after the group acknowledged everything');
    });

    test('[MQTT-4.8.2-4] shared subscription: a QoS 2 message in flight stays with its member and is completed when it reconnects', async (t) => {
      const e = await env(t);
      const m1 = await connect(e.broker, 5, persistent(5, 'm1'));
      await subscribe(m1.c, '$share/g/s/#', 2);
      const m2 = await connect(e.broker, 5, persistent(5, 'm2'));
      await subscribe(m2.c, '$share/g/s/#', 2);
      const pub = await connect(e.broker, 5, { clientId: 'pub' });
      await publish(pub.c, 's/x', 'first', 2, 1);
      await publish(pub.c, 's/x', 'second', 2, 2);
      await barrier(m1.c);
      await barrier(m2.c);
      const m1Had = payloadsOf(m1.c);
      const m2Had = payloadsOf(m2.c);
      assert.deepEqual([...m1Had, ...m2Had].sort(), ['first', 'second']);
      assert.equal(m1Had.length, 1);
      await ackAll(m2.c, publishesOf(m2.c));
      await drop(e.broker, m1.c, 'm1');
      await barrier(m2.c);
      assert.deepEqual(payloadsOf(m2.c), m2Had, 'the QoS 2 message was not given to m2');
      const back = await connect(e.broker, 5, persistent(5, 'm1'));
      const again = await receive(back.c, 1);
      assert.deepEqual(
        again.map((p) => [p.payload.toString(), p.dup]),
        [[m1Had[0], true]],
      );
      await ackAll(back.c, again);
      await nothingOwed(e, 'after both flows completed');
    });

    // ---- message expiry -----------------------------------------------------------------------------

    test('[MQTT-3.3.2-5] [MQTT-3.3.2-6] a message that expires while queued is not delivered; the others carry their remaining expiry', async (t) => {
      const e = await env(t);
      const first = await connect(e.broker, 5, persistent(5, 'sub'));
      await subscribe(first.c, 'x/#', 2);
      await leave(first.c);
      const pub = await connect(e.broker, 5, { clientId: 'pub' });
      await publish(pub.c, 'x/1', 'short', 1, 1, { properties: { messageExpiryInterval: 10 } });
      await publish(pub.c, 'x/2', 'long', 2, 2, { properties: { messageExpiryInterval: 100 } });
      await publish(pub.c, 'x/3', 'never', 1, 3);
      e.clock.advance(30_000);
      const { c } = await connect(e.broker, 5, persistent(5, 'sub'));
      const got = await receive(c, 2);
      await ackAll(c, got);
      assert.deepEqual(
        got.map((p) => [p.payload.toString(), p.properties?.messageExpiryInterval]),
        [
          ['long', 70],
          ['never', undefined],
        ],
      );
      assert.deepEqual(payloadsOf(c), ['long', 'never']);
      await nothingOwed(e, 'the expired message left the store too');
    });

    test('QoS 1 PUBACK with No matching subscribers (0x10) for a message no session takes', async (t) => {
      const e = await env(t);
      const pub = await connect(e.broker, 5, { clientId: 'pub' });
      pub.c.send(publishPacket('nobody/here', 'x', 1, 1));
      const ack = await pub.c.expect(PacketType.Puback);
      assert.equal(ack.reasonCode, ReasonCode.NoMatchingSubscribers);
      await nothingOwed(e, 'for a message nobody takes');
    });
  });
}
