import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { describe, type TestContext, test } from 'node:test';
import type { Broker } from '../../src/broker/broker.js';
import type { BrokerOptions } from '../../src/broker/options.js';
import { PacketType, type ProtocolVersion, type PublishProperties, type QoS } from '../../src/protocol/index.js';
import { SqliteStore, type SqliteStoreOptions } from '../../src/store/sqlite/store.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { storeSuite } from './store-suite.js';
import {
  ackAll,
  assertNothingOwed,
  barrier,
  connect,
  countRows,
  drop,
  leave,
  openBroker,
  openReadOnly,
  payloadsOf,
  persistent,
  publish,
  publishesOf,
  publishPacket,
  receive,
  subscribe,
  tempDir,
} from './support.js';

storeSuite('sqlite', {
  create: (t) => new SqliteStore({ dataDir: tempDir(t) }),
  counts: async (store) => {
    if (!(store instanceof SqliteStore)) throw new Error('not a SqliteStore');
    await store.flush();
    return countRows(store.path);
  },
  gaps: {
    qos0Eviction:
      'a stored offline queue is on disk: the broker cannot find and drop its oldest QoS 0 delivery, so the QoS 1/2 message is refused instead',
  },
});

/** A broker over a SqliteStore in a directory of its own that can be stopped and started again on it. */
class Restartable {
  broker: Broker;
  store: SqliteStore;
  clock: FakeClock;

  private constructor(
    private readonly t: TestContext,
    readonly dir: string,
    private readonly options: BrokerOptions,
    private readonly storeOptions: Omit<SqliteStoreOptions, 'dataDir'>,
    started: { broker: Broker; clock: FakeClock; store: SqliteStore },
  ) {
    this.broker = started.broker;
    this.clock = started.clock;
    this.store = started.store;
  }

  static async start(
    t: TestContext,
    options: BrokerOptions = {},
    storeOptions: Omit<SqliteStoreOptions, 'dataDir'> = {},
  ): Promise<Restartable> {
    const dir = tempDir(t);
    const store = new SqliteStore({ dataDir: dir, ...storeOptions });
    const { broker, clock } = await openBroker(t, store, options);
    return new Restartable(t, dir, options, storeOptions, { broker, clock, store });
  }

  /** Stops the broker (gracefully) and starts a new one on the same directory, `laterMs` later. */
  async restart(laterMs = 0): Promise<void> {
    await this.broker.close();
    this.store = new SqliteStore({ dataDir: this.dir, ...this.storeOptions });
    this.clock = new FakeClock(this.clock.now() + laterMs);
    this.broker = (await openBroker(this.t, this.store, this.options, this.clock)).broker;
  }

  async counts() {
    await this.store.flush();
    return countRows(this.store.path);
  }
}

/** State codes of a session's stored deliveries, in order (0 queued, 1 PUBLISH sent, 2 PUBREL sent). */
function deliveryStates(path: string, clientId: string): number[] {
  const db = openReadOnly(path);
  try {
    return (db.prepare('SELECT state FROM deliveries WHERE client_id = ? ORDER BY seq').all(clientId) as { state: number }[]).map(
      (r) => r.state,
    );
  } finally {
    db.close();
  }
}

const PROPERTIES: PublishProperties = {
  payloadFormatIndicator: 1,
  contentType: 'application/json',
  responseTopic: 'reply/here',
  correlationData: Buffer.from([0, 1, 2, 255]),
  userProperties: [
    ['b', '2'],
    ['a', '1'],
    ['b', '3'],
  ],
  messageExpiryInterval: 1000,
};

describe('sqlite store: restart', () => {
  const keepsQueues = async (t: TestContext, version: ProtocolVersion) => {
    const node = await Restartable.start(t);
    const first = await connect(node.broker, version, persistent(version, 'sub'));
    await subscribe(first.c, 'a/#', 2, 1, {}, version === 5 ? 7 : undefined);
    if (version === 5) await subscribe(first.c, 'own/#', 1, 2, { noLocal: true });
    await leave(first.c);
    const pub = await connect(node.broker, 5, { clientId: 'pub' });
    for (let i = 1; i <= 20; i++) {
      await publish(pub.c, `a/${i}`, `m${i}`, i % 2 === 0 ? 2 : 1, i, i % 5 === 0 ? { properties: PROPERTIES } : {});
    }
    await node.restart(5_000);

    const { c, ack } = await connect(node.broker, version, persistent(version, 'sub'));
    assert.equal(ack.sessionPresent, true, 'the session survived the restart');
    const got = await receive(c, 20);
    await ackAll(c, got);
    assert.deepEqual(
      got.map((p) => `${p.topic} ${p.payload.toString()} q${p.qos} dup${p.dup ? 1 : 0}`),
      Array.from({ length: 20 }, (_, i) => `a/${i + 1} m${i + 1} q${(i + 1) % 2 === 0 ? 2 : 1} dup0`),
      'every queued message, in order',
    );
    if (version === 5) {
      for (const p of got) assert.deepEqual(p.properties?.subscriptionIdentifiers, [7], 'the Subscription Identifier was kept');
      const withProperties = got.filter((p) => p.properties?.contentType !== undefined);
      assert.equal(withProperties.length, 4);
      for (const p of withProperties) {
        const { subscriptionIdentifiers, messageExpiryInterval, ...rest } = p.properties ?? {};
        const { messageExpiryInterval: sent, ...expected } = PROPERTIES;
        assert.deepEqual(rest, expected, 'properties are forwarded unaltered after a restart [MQTT-3.3.2-4] [MQTT-3.1.3-10]');
        assert.equal(messageExpiryInterval, 995, 'the expiry counts the time across the restart [MQTT-3.3.2-6]');
      }
    }
    // The subscriptions are still there and still work.
    const again = await connect(node.broker, 5, { clientId: 'pub' });
    await publish(again.c, 'a/after', 'after', 1, 1);
    const after = await receive(c, 21);
    await ackAll(c, after.slice(20));
    if (version === 5) {
      await publish(c, 'own/x', 'own', 1, 50);
      await barrier(c);
    }
    assert.deepEqual(payloadsOf(c).slice(20), ['after'], 'No Local survived too');
    assertNothingOwed(await node.counts(), 'after the queue was drained');
  };

  test('[MQTT-3.1.2-5/5.0] [MQTT-4.6.0-6/5.0] [MQTT-3.3.2-4] v5: a restart keeps the session, its subscriptions and its queued messages in order, with their properties', (t) =>
    keepsQueues(t, 5));
  test('[MQTT-3.1.2-4/3.1.1] [MQTT-3.1.2-5/3.1.1] [MQTT-4.6.0-6/3.1.1] v3.1.1: a restart keeps the session, its subscriptions and its queued messages in order', (t) =>
    keepsQueues(t, 4));

  test('[MQTT-4.6.0-6/5.0] messages queued after a restart go behind those queued before it; none is overwritten', async (t) => {
    const node = await Restartable.start(t);
    const first = await connect(node.broker, 5, persistent(5, 'sub'));
    await subscribe(first.c, 'o/#', 1);
    await leave(first.c);
    const pub = await connect(node.broker, 5, { clientId: 'pub' });
    for (let i = 1; i <= 5; i++) await publish(pub.c, 'o/x', `before${i}`, 1, i);
    await node.restart(1_000);
    const again = await connect(node.broker, 5, { clientId: 'pub' });
    for (let i = 1; i <= 5; i++) await publish(again.c, 'o/x', `after${i}`, 1, i);
    await node.restart(1_000);
    const { c } = await connect(node.broker, 5, persistent(5, 'sub'));
    const got = await receive(c, 10);
    await ackAll(c, got);
    assert.deepEqual(payloadsOf(c), [1, 2, 3, 4, 5].map((i) => `before${i}`).concat([1, 2, 3, 4, 5].map((i) => `after${i}`)));
    assertNothingOwed(await node.counts());
  });

  const keepsInflight = async (t: TestContext, version: ProtocolVersion) => {
    const node = await Restartable.start(t, { limits: { maxInflight: 3 } });
    const sub = await connect(node.broker, version, persistent(version, 'sub'));
    await subscribe(sub.c, 'f/#', 2);
    const pub = await connect(node.broker, 5, { clientId: 'pub' });
    await publish(pub.c, 'f/1', 'one', 1, 1);
    await publish(pub.c, 'f/2', 'two', 2, 2);
    await publish(pub.c, 'f/3', 'three', 2, 3);
    // The window (maxInflight 3) is full: these wait in the queue.
    await publish(pub.c, 'f/4', 'four', 1, 4);
    await publish(pub.c, 'f/5', 'five', 2, 5);
    const [one, two, three] = await receive(sub.c, 3);
    assert.ok(one !== undefined && two !== undefined && three !== undefined);
    sub.c.send({ type: PacketType.Pubrec, packetId: three.packetId ?? 0, reasonCode: 0 });
    await sub.c.expect(PacketType.Pubrel, 2000, (p) => p.packetId === three.packetId);
    await barrier(sub.c);
    assert.equal(publishesOf(sub.c).length, 3);
    await node.restart(1_000);

    const { c, ack } = await connect(node.broker, version, persistent(version, 'sub'));
    assert.equal(ack.sessionPresent, true);
    await c.expect(PacketType.Pubrel, 2000, (p) => p.packetId === three.packetId);
    await barrier(c);
    const seen = c.received
      .filter((p) => p.type === PacketType.Publish || p.type === PacketType.Pubrel)
      .map((p) =>
        p.type === PacketType.Publish ? `PUBLISH ${p.payload.toString()} id ${p.packetId} dup ${p.dup}` : `PUBREL id ${p.packetId}`,
      );
    assert.deepEqual(
      seen,
      [`PUBLISH one id ${one.packetId} dup true`, `PUBLISH two id ${two.packetId} dup true`, `PUBREL id ${three.packetId}`],
      'in-flight PUBLISH packets again with DUP 1 and PUBREL again, same identifiers, nothing else while the window is full',
    );
    c.send({ type: PacketType.Puback, packetId: one.packetId ?? 0, reasonCode: 0 });
    c.send({ type: PacketType.Pubrec, packetId: two.packetId ?? 0, reasonCode: 0 });
    await c.expect(PacketType.Pubrel, 2000, (p) => p.packetId === two.packetId);
    c.send({ type: PacketType.Pubcomp, packetId: two.packetId ?? 0, reasonCode: 0 });
    c.send({ type: PacketType.Pubcomp, packetId: three.packetId ?? 0, reasonCode: 0 });
    const rest = await receive(c, 4);
    const queued = rest.slice(2);
    assert.deepEqual(
      queued.map((p) => [p.payload.toString(), p.dup]),
      [
        ['four', false],
        ['five', false],
      ],
      'then the queued messages, in order',
    );
    await ackAll(c, queued);
    assertNothingOwed(await node.counts(), 'after every flow completed');
  };

  test('[MQTT-4.4.0-1/5.0] [MQTT-4.3.3-6] [MQTT-3.3.1-1/5.0] v5: a restart keeps in-flight messages: PUBLISH again with DUP 1, PUBREL again, then the queue', (t) =>
    keepsInflight(t, 5));
  test('[MQTT-4.4.0-1/3.1.1] [MQTT-3.3.1-1/3.1.1] v3.1.1: a restart keeps in-flight messages: PUBLISH again with DUP 1, PUBREL again, then the queue', (t) =>
    keepsInflight(t, 4));

  test('[MQTT-4.3.3-2/3.1.1] a restart keeps inbound QoS 2 state: a PUBLISH resent after it is acknowledged, not delivered again', async (t) => {
    const node = await Restartable.start(t);
    const watcher = await connect(node.broker, 5, persistent(5, 'watcher'));
    await subscribe(watcher.c, 'dup/#', 2);
    const pub = await connect(node.broker, 4, persistent(4, 'pub'));
    pub.c.send(publishPacket('dup/a', 'first', 2, 7));
    await pub.c.expect(PacketType.Pubrec, 2000, (p) => p.packetId === 7);
    await ackAll(watcher.c, await receive(watcher.c, 1));
    await node.restart(1_000);

    const w = await connect(node.broker, 5, persistent(5, 'watcher'));
    const { c, ack } = await connect(node.broker, 4, persistent(4, 'pub'));
    assert.equal(ack.sessionPresent, true);
    c.send(publishPacket('dup/a', 'first', 2, 7, { dup: true }));
    await c.expect(PacketType.Pubrec, 2000, (p) => p.packetId === 7);
    c.send({ type: PacketType.Pubrel, packetId: 7, reasonCode: 0 });
    await c.expect(PacketType.Pubcomp, 2000, (p) => p.packetId === 7);
    await publish(c, 'dup/a', 'second', 2, 7);
    const got = await receive(w.c, 1);
    await ackAll(w.c, got);
    assert.deepEqual(payloadsOf(w.c), ['second'], 'the resent PUBLISH was not delivered a second time');
    const counts = await node.counts();
    assert.equal(counts.inboundQos2, 0);
    assertNothingOwed(counts);
  });

  test('[MQTT-3.3.1-5/5.0] [MQTT-3.3.1-6/5.0] retained messages survive a restart as last set; expired ones do not', async (t) => {
    const node = await Restartable.start(t);
    const pub = await connect(node.broker, 5, { clientId: 'pub' });
    await publish(pub.c, 'r/1', 'one', 1, 1, { retain: true });
    await publish(pub.c, 'r/2', 'two', 1, 2, { retain: true });
    await publish(pub.c, 'r/2', 'two-b', 2, 3, { retain: true, properties: { ...PROPERTIES, messageExpiryInterval: 3600 } });
    await publish(pub.c, 'r/3', 'three', 1, 4, { retain: true });
    await publish(pub.c, 'r/3', '', 1, 5, { retain: true });
    await publish(pub.c, 'r/4', 'short-lived', 1, 6, { retain: true, properties: { messageExpiryInterval: 10 } });
    await node.restart(20_000);
    const sub = await connect(node.broker, 5, { clientId: 'sub' });
    await subscribe(sub.c, 'r/#', 2);
    const got = await receive(sub.c, 2);
    await ackAll(sub.c, got);
    await barrier(sub.c);
    const sorted = [...publishesOf(sub.c)].sort((a, b) => a.topic.localeCompare(b.topic));
    assert.deepEqual(
      sorted.map((p) => [p.topic, p.payload.toString(), p.retain, p.qos]),
      [
        ['r/1', 'one', true, 1],
        ['r/2', 'two-b', true, 2],
      ],
    );
    const { messageExpiryInterval, ...rest } = sorted[1]?.properties ?? {};
    const { messageExpiryInterval: _, ...expected } = PROPERTIES;
    assert.deepEqual(rest, expected);
    assert.equal(messageExpiryInterval, 3580);
    assert.equal((await node.counts()).retained, 2, 'the expired one left the store too');
  });

  test('[MQTT-3.1.2-8/5.0] a Will whose delay was running is published at its due time after a restart, not before', async (t) => {
    const node = await Restartable.start(t);
    const watcher = await connect(node.broker, 5, persistent(5, 'watcher'));
    await subscribe(watcher.c, 'will/#', 1);
    await leave(watcher.c);
    const will = { topic: 'will/w', payload: Buffer.from('w gone'), qos: 1 as QoS, retain: false, properties: { willDelayInterval: 30 } };
    const w = await connect(node.broker, 5, persistent(5, 'w', 300, { will }));
    await drop(node.broker, w.c, 'w');
    await node.restart(10_000);
    const back = await connect(node.broker, 5, persistent(5, 'watcher'));
    node.clock.advance(19_999);
    await barrier(back.c);
    assert.deepEqual(payloadsOf(back.c), [], 'not before it is due');
    node.clock.advance(1);
    const got = await receive(back.c, 1);
    await ackAll(back.c, got);
    assert.deepEqual(payloadsOf(back.c), ['w gone']);
    const counts = await node.counts();
    assert.equal(counts.wills, 0, 'a published Will leaves the store');
    assertNothingOwed(counts);
  });

  test('[MQTT-3.1.3-9/5.0] a Will cancelled by a reconnect before a restart is not published after it', async (t) => {
    const node = await Restartable.start(t);
    const watcher = await connect(node.broker, 5, persistent(5, 'watcher'));
    await subscribe(watcher.c, 'will/#', 1);
    const will = { topic: 'will/w', payload: Buffer.from('w gone'), qos: 1 as QoS, retain: false, properties: { willDelayInterval: 30 } };
    const w = await connect(node.broker, 5, persistent(5, 'w', 300, { will }));
    await drop(node.broker, w.c, 'w');
    const again = await connect(node.broker, 5, persistent(5, 'w', 300));
    await leave(again.c);
    await node.restart(1_000);
    const back = await connect(node.broker, 5, persistent(5, 'watcher'));
    node.clock.advance(600_000);
    await barrier(back.c);
    assert.deepEqual(payloadsOf(back.c), []);
    assert.equal((await node.counts()).wills, 0);
  });

  test('[MQTT-4.1.0-2/5.0] [MQTT-3.1.2-8/5.0] sessions that expired while the broker was down are removed at start-up and their Wills published to the sessions restored with them', async (t) => {
    const node = await Restartable.start(t);
    // The watcher's identifier sorts after the expired session's: it must still get the Will.
    const watcher = await connect(node.broker, 5, persistent(5, 'z-watcher'));
    await subscribe(watcher.c, 'will/#', 1);
    await leave(watcher.c);
    const will = { topic: 'will/a', payload: Buffer.from('a gone'), qos: 1 as QoS, retain: false, properties: { willDelayInterval: 100 } };
    const dead = await connect(node.broker, 5, persistent(5, 'a-dead', 10, { will }));
    await subscribe(dead.c, 'dead/#', 1);
    await drop(node.broker, dead.c, 'a-dead');
    const pub = await connect(node.broker, 5, { clientId: 'pub' });
    await publish(pub.c, 'dead/1', 'queued for the dead', 1, 1);
    // Connected when the broker stops: disconnected from then on, with 40 s of its 100 left after the restart.
    const live = await connect(node.broker, 5, persistent(5, 'c-live', 100));
    await subscribe(live.c, 'live/#', 1);
    await node.restart(60_000);

    assert.equal(node.broker.sessions.has('a-dead'), false, 'the expired session was not restored');
    assert.equal(node.broker.sessions.has('c-live'), true, 'a session connected at the stop is kept until it expires');
    const counts = await node.counts();
    assert.equal(counts.sessions, 2, 'the expired session left the store');
    const back = await connect(node.broker, 5, persistent(5, 'z-watcher'));
    const got = await receive(back.c, 1);
    await ackAll(back.c, got);
    assert.deepEqual(payloadsOf(back.c), ['a gone'], 'the Will of the expired session was published');
    node.clock.advance(39_999);
    assert.equal(node.broker.sessions.has('c-live'), true);
    node.clock.advance(1);
    assert.equal(node.broker.sessions.has('c-live'), false, 'its expiry counted from the stop');
    const after = await node.counts();
    assertNothingOwed(after);
    assert.deepEqual([after.sessions, after.subscriptions], [1, 1], 'only the watcher is left');
  });

  test('messages a shared subscription moved to another member survive a restart', async (t) => {
    const node = await Restartable.start(t);
    const m1 = await connect(node.broker, 5, persistent(5, 'm1', 3600, { properties: { receiveMaximum: 1 } }));
    await subscribe(m1.c, '$share/g/s/#', 1);
    const m2 = await connect(node.broker, 5, persistent(5, 'm2'));
    await subscribe(m2.c, '$share/g/s/#', 1);
    const pub = await connect(node.broker, 5, { clientId: 'pub' });
    for (let i = 1; i <= 6; i++) await publish(pub.c, 's/x', `m${i}`, 1, i);
    await barrier(m2.c);
    const own = publishesOf(m2.c);
    await ackAll(m2.c, own);
    await drop(node.broker, m1.c, 'm1');
    const moved = (await receive(m2.c, 6)).slice(own.length);
    assert.ok(moved.length > 0, 'm1 had messages to move');
    const mid = await node.counts();
    assert.equal(mid.dangling, 0, 'every stored delivery refers to a stored message');
    // m2 does not acknowledge the moved messages before the restart: they must come back.
    await node.restart(1_000);
    const { c } = await connect(node.broker, 5, persistent(5, 'm2'));
    const again = await receive(c, moved.length);
    // Closing m2's connection at the stop may turn its unacknowledged QoS 1 messages of the group back into
    // queued ones (to go to any member): they come back, DUP or not, with their content.
    assert.deepEqual(
      again.map((p) => p.payload.toString()),
      moved.map((p) => p.payload.toString()),
    );
    await ackAll(c, again);
    assertNothingOwed(await node.counts());
  });

  test('[MQTT-3.3.1-9/5.0] [MQTT-4.4.0-1/5.0] a retained message sent to a new subscriber survives a restart while unacknowledged', async (t) => {
    const node = await Restartable.start(t);
    const a = await connect(node.broker, 5, persistent(5, 'a'));
    await subscribe(a.c, 'rr/#', 1);
    const pub = await connect(node.broker, 5, { clientId: 'pub' });
    await publish(pub.c, 'rr/1', 'kept', 1, 1, { retain: true });
    // a completes its delivery: the message row is no longer needed for a...
    await ackAll(a.c, await receive(a.c, 1));
    // ...but the retained message is sent again, to b, who does not acknowledge it before the restart.
    const b = await connect(node.broker, 5, persistent(5, 'b'));
    await subscribe(b.c, 'rr/#', 1);
    const first = await receive(b.c, 1);
    assert.equal(first[0]?.payload.toString(), 'kept');
    assert.equal((await node.counts()).dangling, 0, 'every stored delivery refers to a stored message');
    await node.restart(1_000);
    const { c } = await connect(node.broker, 5, persistent(5, 'b'));
    const again = await receive(c, 1);
    assert.deepEqual(
      again.map((p) => [p.payload.toString(), p.dup, p.packetId]),
      [['kept', true, first[0]?.packetId]],
    );
    await ackAll(c, again);
    assertNothingOwed(await node.counts());
  });
});

describe('sqlite store: acknowledgements wait for the commit', () => {
  // A long commit window makes the gap between recording and committing visible.
  const WINDOW = 300;

  test('[MQTT-4.3.2-4] PUBACK is sent only once the message is committed', async (t) => {
    const node = await Restartable.start(t, {}, { commitWindow: WINDOW });
    const pub = await connect(node.broker, 5, { clientId: 'pub' });
    const sent = Date.now();
    pub.c.send(publishPacket('d/1', 'durable', 1, 1, { retain: true }));
    assert.equal(await pub.c.expectNone(PacketType.Puback, WINDOW / 2), true, 'no PUBACK before the commit');
    await pub.c.expect(PacketType.Puback);
    assert.ok(Date.now() - sent >= WINDOW - 20, 'the PUBACK waited for the commit window');
    assert.equal(countRows(node.store.path).retained, 1, 'what the PUBACK acknowledges is in the file');
  });

  test('[MQTT-4.3.3-8] [MQTT-4.3.3-11] PUBREC is sent once the message and the Packet Identifier are committed, PUBCOMP once its release is', async (t) => {
    const node = await Restartable.start(t, {}, { commitWindow: WINDOW });
    const sub = await connect(node.broker, 5, persistent(5, 'sub'));
    await subscribe(sub.c, 'd/#', 2);
    assert.equal(countRows(node.store.path).subscriptions, 1, 'SUBACK came after the subscription was committed');
    await leave(sub.c);
    const pub = await connect(node.broker, 5, persistent(5, 'pub'));
    pub.c.send(publishPacket('d/2', 'durable', 2, 3));
    assert.equal(await pub.c.expectNone(PacketType.Pubrec, WINDOW / 2), true, 'no PUBREC before the commit');
    await pub.c.expect(PacketType.Pubrec);
    const atPubrec = countRows(node.store.path);
    assert.deepEqual(
      [atPubrec.deliveries, atPubrec.messages, atPubrec.inboundQos2],
      [1, 1, 1],
      'queued for the offline subscriber, identifier kept',
    );
    pub.c.send({ type: PacketType.Pubrel, packetId: 3, reasonCode: 0 });
    assert.equal(await pub.c.expectNone(PacketType.Pubcomp, WINDOW / 2), true, 'no PUBCOMP before the release is committed');
    await pub.c.expect(PacketType.Pubcomp);
    assert.equal(countRows(node.store.path).inboundQos2, 0, 'the release is in the file');
  });

  test('[MQTT-3.8.4-1/3.1.1] SUBACK is sent only once the subscription is committed', async (t) => {
    const node = await Restartable.start(t, {}, { commitWindow: WINDOW });
    const sub = await connect(node.broker, 4, persistent(4, 'sub'));
    sub.c.send({
      type: PacketType.Subscribe,
      packetId: 1,
      subscriptions: [{ topicFilter: 's/#', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
    });
    assert.equal(await sub.c.expectNone(PacketType.Suback, WINDOW / 2), true, 'no SUBACK before the commit');
    await sub.c.expect(PacketType.Suback);
    assert.equal(countRows(node.store.path).subscriptions, 1);
  });

  test('[MQTT-4.3.3-10] [MQTT-4.3.3-6] nothing reaches a subscriber before the state it reflects is committed, so a crash cannot make a QoS 2 message arrive twice', async (t) => {
    const node = await Restartable.start(t, {}, { commitWindow: WINDOW });
    const sub = await connect(node.broker, 5, persistent(5, 'sub'));
    await subscribe(sub.c, 'd/#', 2);
    const pub = await connect(node.broker, 5, persistent(5, 'pub'));
    // Nothing pending: the PUBLISH opens a commit window of its own.
    await node.store.flush();
    const sent = Date.now();
    pub.c.send(publishPacket('d/3', 'once', 2, 9));
    // Were the PUBLISH sent before the Packet Identifier of the publisher was committed, a crash would let
    // the publisher's resent PUBLISH through as a new message: the subscriber would get it twice.
    const [msg] = await receive(sub.c, 1);
    assert.ok(msg !== undefined);
    assert.ok(Date.now() - sent >= WINDOW - 20, 'the PUBLISH waited for the commit');
    const atPublish = countRows(node.store.path);
    assert.equal(atPublish.inboundQos2, 1, "the publisher's Packet Identifier was committed before the message went out");
    assert.deepEqual(deliveryStates(node.store.path, 'sub'), [1], 'so was the delivery in flight');
    // The subscriber's PUBREC turns the delivery into a PUBREL: once sent, the PUBLISH must never be resent.
    sub.c.send({ type: PacketType.Pubrec, packetId: msg.packetId ?? 0, reasonCode: 0 });
    await sub.c.expect(PacketType.Pubrel);
    assert.deepEqual(deliveryStates(node.store.path, 'sub'), [2], 'PUBREL went out after its state was committed');
    sub.c.send({ type: PacketType.Pubcomp, packetId: msg.packetId ?? 0, reasonCode: 0 });
    await pub.c.expect(PacketType.Pubrec);
    await barrier(sub.c);
    assert.deepEqual(deliveryStates(node.store.path, 'sub'), []);
  });
});

describe('sqlite store: message rows', () => {
  test('messages are stored once, counted by reference and deleted with their last delivery: nothing is left after a run', async (t) => {
    const node = await Restartable.start(t, { sessions: { queueQos0WhenOffline: true } });
    const broker = (): Broker => node.broker;
    const online = await connect(broker(), 5, persistent(5, 'online'));
    await subscribe(online.c, 'm/#', 2);
    const offline = await connect(broker(), 4, persistent(4, 'offline'));
    await subscribe(offline.c, 'm/#', 2);
    await leave(offline.c);
    const discarded = await connect(broker(), 5, persistent(5, 'discarded'));
    await subscribe(discarded.c, 'm/#', 1);
    await leave(discarded.c);
    const expiring = await connect(broker(), 5, persistent(5, 'expiring', 30));
    await subscribe(expiring.c, 'm/#', 2);
    await leave(expiring.c);
    const g1 = await connect(broker(), 5, persistent(5, 'g1'));
    await subscribe(g1.c, '$share/g/m/#', 1);
    const g2 = await connect(broker(), 5, persistent(5, 'g2'));
    await subscribe(g2.c, '$share/g/m/#', 1);
    await leave(g2.c);

    const pub = await connect(broker(), 5, { clientId: 'pub' });
    for (let i = 1; i <= 30; i++) {
      await publish(pub.c, `m/${i % 3}`, Buffer.alloc(100 + i, i), (i % 3) as QoS, i, { retain: i % 10 === 0 });
    }
    const mid = await node.counts();
    assert.equal(mid.badRefs, 0, 'each message row counts the deliveries that refer to it');
    assert.equal(mid.dangling, 0);
    assert.ok(mid.messages <= 30 && mid.messages >= 20, `one row per message, shared by its deliveries (${mid.messages} rows)`);
    assert.ok(mid.deliveries > mid.messages, 'several deliveries share a row');

    // Every way a delivery ends: acknowledged, discarded by Clean Start, expired with its session.
    await ackAll(online.c, await receive(online.c, 30));
    await ackAll(g1.c, publishesOf(g1.c));
    const back = await connect(broker(), 4, persistent(4, 'offline'));
    const got = await receive(back.c, 30);
    await ackAll(back.c, got);
    await connect(broker(), 5, { clientId: 'discarded', clean: true });
    const g2Back = await connect(broker(), 5, persistent(5, 'g2'));
    await barrier(g2Back.c);
    await ackAll(g2Back.c, publishesOf(g2Back.c));
    node.clock.advance(31_000);
    assert.equal(broker().sessions.has('expiring'), false);
    const end = await node.counts();
    assertNothingOwed(end, 'after every delivery ended');
    assert.equal(end.retained, 3, 'retained messages are kept apart from message rows');
    // And a restart finds nothing owed either.
    await node.restart(1_000);
    assertNothingOwed(await node.counts(), 'after a restart');
  });
});
