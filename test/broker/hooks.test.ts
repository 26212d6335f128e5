import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { test } from 'node:test';
import { Broker } from '../../src/broker/broker.js';
import type {
  AuthenticateEvent,
  BrokerHooks,
  ConnectEvent,
  ConnectRefusedEvent,
  DeliverEvent,
  DisconnectEvent,
  HookAnswer,
  PublishEvent,
  SubscribeEvent,
} from '../../src/broker/hooks.js';
import { HookRunner } from '../../src/broker/hooks.js';
import type { Logger } from '../../src/broker/logger.js';
import type { BrokerOptions } from '../../src/broker/options.js';
import { PacketType, type ProtocolVersion, type PublishPacket, type QoS, ReasonCode } from '../../src/protocol/index.js';
import { memoryClient } from '../helpers/broker-harness.js';
import { FakeClock } from '../helpers/fake-clock.js';
import type { PacketClient } from '../helpers/packet-client.js';

// ---- helpers ----------------------------------------------------------------------------------------

interface LogEntry {
  readonly level: string;
  readonly message: string;
}

function recordingLogger(): { logger: Logger; entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const at =
    (level: string) =>
    (message: string): void => {
      entries.push({ level, message });
    };
  return { logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }, entries };
}

interface Setup {
  readonly broker: Broker;
  readonly clock: FakeClock;
  readonly log: LogEntry[];
}

async function withHooks(hooks: readonly BrokerHooks[], options: BrokerOptions, run: (s: Setup) => Promise<void>): Promise<void> {
  const clock = new FakeClock();
  const { logger, entries } = recordingLogger();
  const broker = new Broker({ sysInterval: 0, ...options, hooks, clock, logger });
  try {
    await run({ broker, clock, log: entries });
  } finally {
    await broker.close();
  }
}

async function connected(broker: Broker, clientId: string, version: ProtocolVersion = 5, clean = true): Promise<PacketClient> {
  const c = memoryClient(broker, version);
  const ack = await c.connect({ clientId, clean, ...(version === 5 && !clean ? { properties: { sessionExpiryInterval: 60 } } : {}) });
  assert.equal(ack.reasonCode, 0);
  return c;
}

async function subscribe(c: PacketClient, topicFilter: string, qos: QoS = 1, packetId = 1): Promise<number> {
  c.send({
    type: PacketType.Subscribe,
    packetId,
    subscriptions: [{ topicFilter, qos, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
  });
  const ack = await c.expect(PacketType.Suback, 2000, (p) => p.packetId === packetId);
  return ack.reasonCodes[0] as number;
}

function publishPacket(topic: string, payload: string, qos: QoS = 1, packetId = 1): PublishPacket {
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

function payloads(c: PacketClient): string[] {
  return c.received.filter((p): p is PublishPacket => p.type === PacketType.Publish).map((p) => p.payload.toString());
}

async function settle(...clients: PacketClient[]): Promise<void> {
  for (const c of clients) {
    c.send({ type: PacketType.Pingreq });
    await c.expect(PacketType.Pingresp);
  }
}

async function waitFor(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 1));
  }
}

/** A promise a test settles by hand. */
function gate<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const never = (): Promise<HookAnswer> => new Promise<HookAnswer>(() => undefined);

/** The five ways a deciding hook can answer, and the broker's verdict each one leads to by default. */
type Behaviour = 'allow' | 'deny' | 'defer' | 'throw' | 'reject' | 'timeout';
const behaviours: readonly Behaviour[] = ['allow', 'deny', 'defer', 'throw', 'reject', 'timeout'];

function answer(b: Behaviour): () => HookAnswer | Promise<HookAnswer> {
  switch (b) {
    case 'allow':
    case 'deny':
    case 'defer':
      return () => b;
    case 'throw':
      return () => {
        throw new Error('hook bug');
      };
    case 'reject':
      return () => Promise.reject(new Error('backend down'));
    case 'timeout':
      return never;
  }
}

/** Lets a hook that never answers time out: waits until it was asked, then moves the fake clock. */
async function expireIfNeeded(b: Behaviour, asked: () => boolean, clock: FakeClock, ms = 5000): Promise<void> {
  if (b !== 'timeout') return;
  await waitFor(asked);
  clock.advance(ms - 1);
  await new Promise((r) => setImmediate(r));
  clock.advance(1);
}

// ---- authenticate -------------------------------------------------------------------------------------

for (const b of behaviours) {
  // allowAnonymous false: defer falls to the broker default, which refuses a client without credentials.
  const admitted = b === 'allow';
  test(`[MQTT-3.1.4-2/5.0] [MQTT-3.2.2-7/5.0] authenticate ${b}: ${admitted ? 'CONNACK 0x00' : 'CONNACK 0x87 and close'}`, async () => {
    let asked = 0;
    const fn = answer(b);
    const hook: BrokerHooks = {
      name: 'auth',
      authenticate: () => {
        asked++;
        return fn();
      },
    };
    await withHooks([hook], { allowAnonymous: false }, async ({ broker, clock, log }) => {
      const c = memoryClient(broker, 5);
      c.send({ type: PacketType.Connect, protocolVersion: 5, clientId: `auth-${b}`, clean: true, keepAlive: 0 });
      await expireIfNeeded(b, () => asked > 0, clock);
      const ack = await c.expect(PacketType.Connack);
      assert.equal(asked, 1);
      if (admitted) {
        assert.equal(ack.reasonCode, 0);
        assert.equal(broker.isConnected(`auth-${b}`), true);
      } else {
        assert.equal(ack.reasonCode, ReasonCode.NotAuthorized);
        await c.waitClosed();
        assert.equal(broker.sessions.size, 0);
      }
      const failed = b === 'throw' || b === 'reject' || b === 'timeout';
      assert.equal(
        log.some((e) => e.level === 'error' && e.message.includes('auth authenticate failed; answering deny')),
        failed,
      );
    });
  });
}

test('[MQTT-3.1.4-2/5.0] authenticate defer with allowAnonymous true: the broker default admits', async () => {
  await withHooks([{ authenticate: () => 'defer' }], { allowAnonymous: true }, async ({ broker }) => {
    const c = await connected(broker, 'deferred');
    c.end();
  });
});

test('[MQTT-3.2.2-5/3.1.1] authenticate deny, throw and timeout refuse a 3.1.1 client with return code 5', async () => {
  for (const b of ['deny', 'throw', 'timeout'] as const) {
    let asked = false;
    const fn = answer(b);
    await withHooks(
      [
        {
          authenticate: () => {
            asked = true;
            return fn();
          },
        },
      ],
      { allowAnonymous: false },
      async ({ broker, clock }) => {
        const c = memoryClient(broker, 4);
        c.send({ type: PacketType.Connect, protocolVersion: 4, clientId: 'v4', clean: true, keepAlive: 0 });
        await expireIfNeeded(b, () => asked, clock);
        assert.equal((await c.expect(PacketType.Connack)).reasonCode, 5);
        await c.waitClosed();
      },
    );
  }
});

test('authenticate: hookTimeout is configurable; nothing is decided a millisecond before it', async () => {
  let asked = false;
  const hook: BrokerHooks = {
    authenticate: () => {
      asked = true;
      return never();
    },
  };
  await withHooks([hook], { allowAnonymous: true, hookTimeout: 250 }, async ({ broker, clock }) => {
    const c = memoryClient(broker, 5);
    c.send({ type: PacketType.Connect, protocolVersion: 5, clientId: 'slow', clean: true, keepAlive: 0 });
    await waitFor(() => asked);
    clock.advance(249);
    assert.equal(await c.expectNone(PacketType.Connack, 30), true);
    clock.advance(1);
    assert.equal((await c.expect(PacketType.Connack)).reasonCode, ReasonCode.NotAuthorized);
  });
});

test('hookFailure allow: a deciding hook that throws or times out admits (fail open), and is still logged', async () => {
  for (const b of ['throw', 'reject', 'timeout'] as const) {
    let asked = false;
    const fn = answer(b);
    const hook: BrokerHooks = {
      name: 'flaky',
      authenticate: () => {
        asked = true;
        return fn();
      },
    };
    await withHooks([hook], { allowAnonymous: false, hookFailure: 'allow', hookTimeout: 100 }, async ({ broker, clock, log }) => {
      const c = memoryClient(broker, 5);
      c.send({ type: PacketType.Connect, protocolVersion: 5, clientId: `open-${b}`, clean: true, keepAlive: 0 });
      await expireIfNeeded(b, () => asked, clock, 100);
      assert.equal((await c.expect(PacketType.Connack)).reasonCode, 0, b);
      assert.ok(log.some((e) => e.level === 'error' && e.message.includes('flaky authenticate failed; answering allow')));
      c.end();
    });
  }
});

test('hookFailure defer: a failing hook passes to the next hook, else to the broker default', async () => {
  const next: BrokerHooks = { authenticate: (e) => (e.client.clientId === 'let-in' ? 'allow' : 'defer') };
  const broken: BrokerHooks = {
    authenticate: () => {
      throw new Error('bug');
    },
  };
  await withHooks([broken, next], { allowAnonymous: false, hookFailure: 'defer' }, async ({ broker }) => {
    const a = memoryClient(broker, 5);
    assert.equal((await a.connect({ clientId: 'let-in' })).reasonCode, 0);
    const b = memoryClient(broker, 5);
    assert.equal((await b.connect({ clientId: 'stranger' })).reasonCode, ReasonCode.NotAuthorized);
    a.end();
  });
});

test('a hook answering something that is not a verdict counts as a failure (deny by default)', async () => {
  const hook = { authenticate: () => 42 } as unknown as BrokerHooks;
  await withHooks([hook], { allowAnonymous: true }, async ({ broker, log }) => {
    const c = memoryClient(broker, 5);
    assert.equal((await c.connect({ clientId: 'odd' })).reasonCode, ReasonCode.NotAuthorized);
    assert.ok(log.some((e) => e.message.includes('failed')));
  });
});

test('[MQTT-3.1.4-6/5.0] while authenticate is pending, later packets wait; after a refusal they are not processed', async () => {
  const pending = gate<HookAnswer>();
  const published: string[] = [];
  const hooks: BrokerHooks[] = [
    { authenticate: (e) => (e.client.clientId === 'held' ? pending.promise : 'allow'), onPublish: (e) => void published.push(e.topic) },
  ];
  await withHooks(hooks, { allowAnonymous: true }, async ({ broker }) => {
    const s = await connected(broker, 's');
    await subscribe(s, '#', 0);
    const c = memoryClient(broker, 5);
    c.send({ type: PacketType.Connect, protocolVersion: 5, clientId: 'held', clean: true, keepAlive: 0 });
    c.send(publishPacket('after/connect', 'x', 0));
    c.send({ type: PacketType.Pingreq });
    assert.equal(await c.expectNone(PacketType.Connack, 50), true);
    assert.equal(await c.expectNone(PacketType.Pingresp, 0), true);
    pending.resolve({ verdict: 'deny', reasonCode: ReasonCode.Banned });
    assert.equal((await c.expect(PacketType.Connack)).reasonCode, ReasonCode.Banned);
    await c.waitClosed();
    await settle(s);
    assert.deepEqual(published, []);
    assert.deepEqual(payloads(s), []);
    assert.equal(
      c.received.some((p) => p.type === PacketType.Pingresp),
      false,
    );
  });
});

test('while authenticate is pending, a SUBSCRIBE sent right after CONNECT is answered after CONNACK, in order', async () => {
  const pending = gate<HookAnswer>();
  await withHooks([{ authenticate: () => pending.promise }], {}, async ({ broker }) => {
    const c = memoryClient(broker, 5);
    c.send({ type: PacketType.Connect, protocolVersion: 5, clientId: 'eager', clean: true, keepAlive: 0 });
    c.send({
      type: PacketType.Subscribe,
      packetId: 7,
      subscriptions: [{ topicFilter: 'a', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
    });
    assert.equal(await c.expectNone(PacketType.Connack, 30), true);
    pending.resolve('allow');
    await c.expect(PacketType.Suback);
    assert.deepEqual(
      c.received.map((p) => p.type),
      [PacketType.Connack, PacketType.Suback],
    );
  });
});

// ---- authorizePublish ---------------------------------------------------------------------------------

for (const b of behaviours) {
  const routed = b === 'allow' || b === 'defer';
  test(`[MQTT-3.3.4-1] authorizePublish ${b}: ${routed ? 'forwarded, PUBACK 0x00' : 'not forwarded, PUBACK 0x87'} (v5)`, async () => {
    let asked = 0;
    const fn = answer(b);
    const hook: BrokerHooks = {
      name: 'acl',
      authorizePublish: (e) => {
        if (!e.topic.startsWith('guarded/')) return 'allow';
        asked++;
        return fn();
      },
    };
    await withHooks([hook], {}, async ({ broker, clock }) => {
      const s = await connected(broker, 's');
      await subscribe(s, 'guarded/#', 1);
      const p = await connected(broker, 'p');
      p.send(publishPacket('guarded/t', 'm', 1, 9));
      await expireIfNeeded(b, () => asked > 0, clock);
      const ack = await p.expect(PacketType.Puback);
      assert.equal(ack.packetId, 9);
      assert.equal(ack.reasonCode, routed ? 0 : ReasonCode.NotAuthorized);
      await settle(p, s);
      assert.deepEqual(payloads(s), routed ? ['m'] : []);
      assert.equal(broker.metrics.publishRefused, routed ? 0 : 1);
      assert.equal(p.closed, false);
    });
  });
}

test('[MQTT-3.3.5-2/3.1.1] authorizePublish deny: a 3.1.1 client gets its normal PUBACK / PUBREC and the message is dropped', async () => {
  await withHooks([{ authorizePublish: () => 'deny' }], {}, async ({ broker }) => {
    const s = await connected(broker, 's', 4);
    await subscribe(s, '#', 2);
    const p = await connected(broker, 'p', 4);
    p.send(publishPacket('t', 'q1', 1, 1));
    assert.equal((await p.expect(PacketType.Puback)).packetId, 1);
    p.send(publishPacket('t', 'q2', 2, 2));
    assert.equal((await p.expect(PacketType.Pubrec)).packetId, 2);
    await settle(p, s);
    assert.deepEqual(payloads(s), []);
    assert.equal(p.closed, false);
  });
});

test('authorizePublish deny with a reason code of its own (0x97 Quota exceeded) answers it in PUBACK / PUBREC', async () => {
  await withHooks([{ authorizePublish: () => ({ verdict: 'deny', reasonCode: ReasonCode.QuotaExceeded }) }], {}, async ({ broker }) => {
    const p = await connected(broker, 'p');
    p.send(publishPacket('t', 'x', 1, 1));
    assert.equal((await p.expect(PacketType.Puback)).reasonCode, ReasonCode.QuotaExceeded);
    p.send(publishPacket('t', 'x', 2, 2));
    assert.equal((await p.expect(PacketType.Pubrec)).reasonCode, ReasonCode.QuotaExceeded);
  });
});

test('[MQTT-4.6.0-6] async authorizePublish holds later packets of the connection: forwarded and acknowledged in order', async () => {
  // Each decision takes a different time (the first the longest); order must still be PUBLISH order.
  const delays = new Map([
    ['1', 300],
    ['2', 100],
    ['3', 0],
  ]);
  const asked: string[] = [];
  let clock: FakeClock | undefined;
  const hook: BrokerHooks = {
    authorizePublish: (e) => {
      const id = e.payload.toString();
      asked.push(id);
      const ms = delays.get(id) ?? 0;
      if (ms === 0) return 'allow';
      return new Promise<HookAnswer>((resolve) => clock?.setTimer(() => resolve('allow'), ms));
    },
  };
  await withHooks([hook], {}, async (s) => {
    clock = s.clock;
    const sub = await connected(s.broker, 'sub');
    await subscribe(sub, 'o/#', 1);
    const p = await connected(s.broker, 'pub');
    p.send(publishPacket('o/t', '1', 1, 1));
    p.send(publishPacket('o/t', '2', 1, 2));
    p.send(publishPacket('o/t', '3', 1, 3));
    p.send({ type: PacketType.Pingreq });
    await waitFor(() => asked.length === 1);
    // The second PUBLISH is not even looked at while the first waits.
    assert.equal(await p.expectNone(PacketType.Puback, 20), true);
    assert.deepEqual(asked, ['1']);
    s.clock.advance(300);
    await waitFor(() => asked.length === 2);
    s.clock.advance(100);
    await p.expect(PacketType.Pingresp);
    assert.deepEqual(asked, ['1', '2', '3']);
    assert.deepEqual(
      p.received
        .filter((x) => x.type === PacketType.Puback || x.type === PacketType.Pingresp)
        .map((x) => (x.type === PacketType.Puback ? x.packetId : 'ping')),
      [1, 2, 3, 'ping'],
    );
    await settle(sub);
    assert.deepEqual(payloads(sub), ['1', '2', '3']);
  });
});

// ---- authorizeSubscribe -------------------------------------------------------------------------------

for (const b of behaviours) {
  const granted = b === 'allow' || b === 'defer';
  test(`[MQTT-3.9.3-2/5.0] authorizeSubscribe ${b}: SUBACK ${granted ? 'grants QoS 1' : '0x87'} (v5)`, async () => {
    let asked = 0;
    const fn = answer(b);
    const hook: BrokerHooks = {
      authorizeSubscribe: () => {
        asked++;
        return fn();
      },
    };
    await withHooks([hook], {}, async ({ broker, clock }) => {
      const c = await connected(broker, 'c');
      c.send({
        type: PacketType.Subscribe,
        packetId: 3,
        subscriptions: [{ topicFilter: 'x/#', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
      });
      await expireIfNeeded(b, () => asked > 0, clock);
      const ack = await c.expect(PacketType.Suback);
      assert.deepEqual(ack.reasonCodes, [granted ? 1 : ReasonCode.NotAuthorized]);
      assert.equal(broker.subscriptions.size > 0, granted);
    });
  });
}

test('[MQTT-3.9.3-2/3.1.1] authorizeSubscribe deny: a 3.1.1 client gets return code 0x80 for that filter only', async () => {
  const hook: BrokerHooks = { authorizeSubscribe: (e: SubscribeEvent) => (e.filter.startsWith('secret') ? 'deny' : 'allow') };
  await withHooks([hook], {}, async ({ broker }) => {
    const c = await connected(broker, 'c', 4);
    c.send({
      type: PacketType.Subscribe,
      packetId: 1,
      subscriptions: [
        { topicFilter: 'open/#', qos: 2, noLocal: false, retainAsPublished: false, retainHandling: 0 },
        { topicFilter: 'secret/#', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 },
      ],
    });
    assert.deepEqual((await c.expect(PacketType.Suback)).reasonCodes, [2, 0x80]);
  });
});

// ---- several hooks ------------------------------------------------------------------------------------

test('several hooks: asked in order, the first answer that is not defer wins, later hooks are not asked', async () => {
  const calls: string[] = [];
  const hook = (name: string, verdict: 'allow' | 'deny' | 'defer'): BrokerHooks => ({
    name,
    authorizePublish: () => {
      calls.push(name);
      return verdict;
    },
  });
  // Allowed with nobody subscribed: 0x10 No matching subscribers.
  const allowed = ReasonCode.NoMatchingSubscribers;
  const cases: [BrokerHooks[], number, string[]][] = [
    [[hook('a', 'defer'), hook('b', 'deny'), hook('c', 'allow')], ReasonCode.NotAuthorized, ['a', 'b']],
    [[hook('a', 'defer'), hook('b', 'allow'), hook('c', 'deny')], allowed, ['a', 'b']],
    [[hook('a', 'allow'), hook('b', 'deny')], allowed, ['a']],
    [[hook('a', 'defer'), { name: 'other', onConnect: () => undefined }, hook('c', 'defer')], allowed, ['a', 'c']],
  ];
  for (const [hooks, code, asked] of cases) {
    calls.length = 0;
    await withHooks(hooks, {}, async ({ broker }) => {
      const p = await connected(broker, 'p');
      p.send(publishPacket('t', 'x', 1, 1));
      assert.equal((await p.expect(PacketType.Puback)).reasonCode, code);
      assert.deepEqual(calls, asked);
    });
  }
});

test('several hooks: an async defer then a sync deny, and a failing first hook under hookFailure deny stops the chain', async () => {
  const calls: string[] = [];
  await withHooks(
    [
      {
        authorizeSubscribe: async (): Promise<HookAnswer> => {
          calls.push('slow-defer');
          return 'defer';
        },
      },
      {
        authorizeSubscribe: () => {
          calls.push('deny');
          return 'deny';
        },
      },
    ],
    {},
    async ({ broker }) => {
      const c = await connected(broker, 'c');
      assert.equal(await subscribe(c, 'a'), ReasonCode.NotAuthorized);
      assert.deepEqual(calls, ['slow-defer', 'deny']);
    },
  );
  calls.length = 0;
  await withHooks(
    [
      {
        authorizeSubscribe: () => {
          calls.push('broken');
          throw new Error('bug');
        },
      },
      {
        authorizeSubscribe: () => {
          calls.push('allow');
          return 'allow';
        },
      },
    ],
    {},
    async ({ broker }) => {
      const c = await connected(broker, 'c');
      assert.equal(await subscribe(c, 'a'), ReasonCode.NotAuthorized);
      assert.deepEqual(calls, ['broken']);
    },
  );
});

// ---- notifications ------------------------------------------------------------------------------------

test('onConnect: told of each accepted CONNECT with the client and Session Present', async () => {
  const events: ConnectEvent[] = [];
  await withHooks([{ onConnect: (e) => void events.push(e) }], {}, async ({ broker }) => {
    const a = await connected(broker, 'keep', 5, false);
    a.send({ type: PacketType.Disconnect, reasonCode: 0 });
    await a.waitClosed();
    const b = await connected(broker, 'keep', 5, false);
    assert.deepEqual(
      events.map((e) => [e.client.clientId, e.client.protocolVersion, e.client.transport, e.sessionPresent]),
      [
        ['keep', 5, 'memory', false],
        ['keep', 5, 'memory', true],
      ],
    );
    b.end();
  });
});

test('onPublish: told of each accepted PUBLISH after authorization, not of denied ones', async () => {
  const events: PublishEvent[] = [];
  const hooks: BrokerHooks[] = [
    { authorizePublish: (e) => (e.topic === 'no' ? 'deny' : 'defer') },
    { onPublish: (e) => void events.push(e) },
  ];
  await withHooks(hooks, {}, async ({ broker }) => {
    const p = await connected(broker, 'p');
    p.send(publishPacket('no', 'x', 1, 1));
    p.send({ ...publishPacket('yes', 'payload', 0), retain: true });
    await settle(p);
    assert.deepEqual(
      events.map((e) => [e.client.clientId, e.topic, e.payload.toString(), e.qos, e.retain]),
      [['p', 'yes', 'payload', 0, true]],
    );
  });
});

test('onDeliver: told of each delivery with the subscriber and the delivered QoS ([MQTT-3.8.4-8] minimum)', async () => {
  const events: DeliverEvent[] = [];
  await withHooks([{ onDeliver: (e) => void events.push(e) }], {}, async ({ broker }) => {
    const s0 = await connected(broker, 's0');
    await subscribe(s0, 't', 0);
    const s2 = await connected(broker, 's2');
    await subscribe(s2, 't', 2);
    const p = await connected(broker, 'p');
    p.send(publishPacket('t', 'x', 1, 1));
    await p.expect(PacketType.Puback);
    await settle(s0, s2);
    assert.deepEqual(events.map((e) => [e.client.clientId, e.topic, e.qos]).sort(), [
      ['s0', 't', 0],
      ['s2', 't', 1],
    ]);
  });
});

test('onDisconnect: told of every close with its reason', async () => {
  const events: DisconnectEvent[] = [];
  await withHooks([{ onDisconnect: (e) => void events.push(e) }], {}, async ({ broker }) => {
    const a = await connected(broker, 'polite');
    a.send({ type: PacketType.Disconnect, reasonCode: 0 });
    await a.waitClosed();
    const b = await connected(broker, 'dropped');
    b.end();
    await waitFor(() => events.length === 2);
    assert.deepEqual(
      events.map((e) => [e.client.clientId, e.reason]),
      [
        ['polite', 'client-disconnect'],
        ['dropped', 'socket-closed'],
      ],
    );
  });
});

test('onSessionExpired: told when a disconnected session expires (fake clock)', async () => {
  const expired: string[] = [];
  await withHooks([{ onSessionExpired: (e) => void expired.push(e.clientId) }], {}, async ({ broker, clock }) => {
    const c = await connected(broker, 'ephemeral', 5, false);
    c.send({ type: PacketType.Disconnect, reasonCode: 0 });
    await c.waitClosed();
    clock.advance(59_999);
    assert.deepEqual(expired, []);
    clock.advance(1);
    assert.deepEqual(expired, ['ephemeral']);
    assert.equal(broker.sessions.has('ephemeral'), false);
  });
});

test('onConnectRefused: told of every refused CONNECT with the 5.0 reason code, also for 3.1.1 clients', async () => {
  const events: ConnectRefusedEvent[] = [];
  const hooks: BrokerHooks[] = [
    { authenticate: (e: AuthenticateEvent) => (e.password?.toString() === 'right' ? 'allow' : 'deny') },
    { onConnectRefused: (e) => void events.push(e) },
  ];
  await withHooks(hooks, { allowAnonymous: false }, async ({ broker }) => {
    const v5 = memoryClient(broker, 5);
    assert.equal(
      (await v5.connect({ clientId: 'a', username: 'u', password: Buffer.from('wrong') })).reasonCode,
      ReasonCode.BadUserNameOrPassword,
    );
    const v4 = memoryClient(broker, 4);
    assert.equal((await v4.connect({ clientId: 'b' })).reasonCode, 5);
    const ok = memoryClient(broker, 5);
    assert.equal((await ok.connect({ clientId: 'c', username: 'u', password: Buffer.from('right') })).reasonCode, 0);
    assert.deepEqual(
      events.map((e) => [e.client.clientId, e.client.protocolVersion, e.reasonCode]),
      [
        ['a', 5, ReasonCode.BadUserNameOrPassword],
        ['b', 4, ReasonCode.NotAuthorized],
      ],
    );
    ok.end();
  });
});

const NOTIFY_POINTS = ['onConnect', 'onPublish', 'onDeliver', 'onDisconnect', 'onSessionExpired', 'onConnectRefused'] as const;

for (const mode of ['throw', 'reject', 'never settle'] as const) {
  test(`every notification point whose hook ${mode === 'never settle' ? 'never settles' : `${mode}s`} holds nothing up${mode === 'never settle' ? '' : ' and is logged'}`, async () => {
    const told: string[] = [];
    const bad: Record<string, unknown> = { name: 'bad' };
    for (const point of NOTIFY_POINTS) {
      bad[point] = () => {
        told.push(point);
        if (mode === 'throw') throw new Error(`${point} bug`);
        if (mode === 'reject') return Promise.reject(new Error(`${point} bug`));
        return new Promise<void>(() => undefined);
      };
    }
    const hooks = [bad as BrokerHooks];
    await withHooks(hooks, { limits: { maxClientIdLength: 10 } }, async ({ broker, log, clock }) => {
      const s = await connected(broker, 's', 5, false);
      await subscribe(s, 't', 1);
      const p = await connected(broker, 'p');
      p.send(publishPacket('t', 'x', 1, 1));
      assert.equal((await p.expect(PacketType.Puback)).reasonCode, 0);
      await settle(s);
      assert.deepEqual(payloads(s), ['x']);
      const refused = memoryClient(broker, 5);
      assert.equal((await refused.connect({ clientId: 'much-too-long' })).reasonCode, ReasonCode.ClientIdentifierNotValid);
      s.send({ type: PacketType.Disconnect, reasonCode: 0 });
      await s.waitClosed();
      await waitFor(() => told.includes('onDisconnect'));
      clock.advance(60_000);
      assert.equal(broker.sessions.has('s'), false, 'the session expired');
      assert.deepEqual([...new Set(told)].sort(), [...NOTIFY_POINTS].sort());
      if (mode !== 'never settle') {
        await waitFor(() =>
          NOTIFY_POINTS.every((point) => log.some((e) => e.level === 'warn' && e.message === `hook bad ${point} failed`)),
        );
      }
      // Notifications are not timed: a hook that never settles leaves nothing pending on the clock.
      assert.equal(clock.pending, 0);
      p.end();
    });
  });
}

// ---- cost when unused ---------------------------------------------------------------------------------

test('a point with no hook costs one check: `has` is false for it, and no event object is built', () => {
  const { logger } = recordingLogger();
  const runner = new HookRunner([{ onConnect: () => undefined }, { name: 'x' }], new FakeClock(), logger);
  assert.deepEqual(
    Object.entries(runner.has)
      .filter(([, v]) => v)
      .map(([k]) => k),
    ['onConnect'],
  );
  const none = new HookRunner([], new FakeClock(), logger);
  assert.equal(
    Object.values(none.has).some((v) => v),
    false,
  );
});

test('thenables that are not native promises count as async answers (and are timed)', async () => {
  // biome-ignore lint/suspicious/noThenProperty: a promise from another library is a thenable, which is the point here.
  const thenable = { then: (resolve: (v: HookAnswer) => void) => resolve('deny') };
  const clock = new FakeClock();
  const { logger } = recordingLogger();
  const runner = new HookRunner([{ authorizeSubscribe: () => thenable as unknown as Promise<HookAnswer> }], clock, logger, 100, 'allow');
  const decision = await runner.decide('authorizeSubscribe', {
    client: {
      clientId: 'c',
      username: undefined,
      protocolVersion: 5,
      remoteAddress: undefined,
      remotePort: undefined,
      transport: 'memory',
    },
    filter: 'a',
    qos: 0,
  });
  assert.equal(decision.verdict, 'deny');
});
