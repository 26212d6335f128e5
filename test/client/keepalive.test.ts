/**
 * Keep alive with a FakeClock: the client's timers run only when the test moves time, while the bytes go
 * over real loopback TCP to a scripted server. After each step of fake time the test waits until every
 * packet the client wrote has reached the server (and every answer has come back), so timing is exact.
 */
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import type { ClientOptions } from '../../src/client/options.js';
import { PacketType, type ProtocolVersion } from '../../src/protocol/index.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { connectedClient, type Tracked, tick } from './helpers/clients.js';
import { type FakeServer, type FakeServerOptions, fakeServer } from './helpers/fake-server.js';

interface Rig {
  readonly clock: FakeClock;
  readonly server: FakeServer;
  readonly c: Tracked;
  /** Fake time at which the client connected. */
  readonly t0: number;
  /** Fake times (relative to t0) at which the client wrote each PINGREQ. */
  readonly pings: number[];
  /** Whether the server answers PINGREQ. */
  readonly answers: boolean;
  /** Fake time (relative to t0) of the first 'close' event, if any. */
  closedAt: number | undefined;
  /** Moves fake time by `ms` in steps, letting the I/O each step caused complete. */
  advance(ms: number, step?: number): Promise<void>;
}

async function rig(t: TestContext, version: ProtocolVersion, options: ClientOptions, server: FakeServerOptions = {}): Promise<Rig> {
  const clock = new FakeClock();
  const s = await fakeServer(t, server);
  const c = await connectedClient(t, s.url, { protocolVersion: version, reconnect: { initial: 1000, jitter: 0 }, clock, ...options });
  const t0 = clock.now();
  const r: Rig = {
    clock,
    server: s,
    c,
    t0,
    pings: [],
    answers: server.answerPings !== false,
    closedAt: undefined,
    async advance(ms: number, step = 250) {
      for (let done = 0; done < ms; done += step) {
        clock.advance(Math.min(step, ms - done));
        await tick();
        await settle(r);
      }
    },
  };
  c.client.on('packetsend', (p) => {
    if (p.type === PacketType.Pingreq) r.pings.push(clock.now() - t0);
  });
  c.client.on('close', () => {
    r.closedAt ??= clock.now() - t0;
  });
  return r;
}

/** Waits until the server has read every PINGREQ the client wrote, and the client every PINGRESP sent. */
async function settle(r: Rig): Promise<void> {
  const conn = r.server.connections.at(-1);
  if (conn === undefined || conn.closed) return;
  const pingreqs = () => r.server.connections.reduce((n, c) => n + c.received.filter((p) => p.type === PacketType.Pingreq).length, 0);
  await r.server.waitFor(() => conn.closed || pingreqs() >= r.pings.length, 'the PINGREQ to reach the server');
  if (!r.answers) return;
  const pingresps = () => r.c.received.filter((p) => p.type === PacketType.Pingresp).length;
  await r.server.waitFor(() => conn.closed || pingresps() >= pingreqs(), 'the PINGRESP to reach the client');
}

async function idlePings(t: TestContext, version: ProtocolVersion): Promise<void> {
  const r = await rig(t, version, { keepAlive: 10 });
  await r.advance(9_000);
  assert.equal(r.pings.length, 1, `pings at ${r.pings.join(', ')} ms`);
  assert.ok((r.pings[0] ?? 0) > 0 && (r.pings[0] ?? 0) <= 10_000);
  await r.advance(51_000);
  assert.ok(r.pings.length >= 6, `pings at ${r.pings.join(', ')} ms`);
  const gaps = r.pings.map((p, i) => p - (i === 0 ? 0 : (r.pings[i - 1] ?? 0)));
  assert.ok(
    gaps.every((g) => g <= 10_000),
    `no gap above the Keep Alive: ${gaps.join(', ')}`,
  );
  assert.equal(r.closedAt, undefined, 'answered pings keep the connection');
  assert.equal(r.server.connections.length, 1);
}

test('[MQTT-3.1.2-20/5.0] v5: idle for the Keep Alive period, the client sends PINGREQ within the period, again and again', (t) =>
  idlePings(t, 5));
test('[MQTT-3.1.2-23/3.1.1] v4: idle for the Keep Alive period, the client sends PINGREQ within the period, again and again', (t) =>
  idlePings(t, 4));

test('[MQTT-3.1.2-20/5.0] no PINGREQ while other packets keep going out', async (t) => {
  const r = await rig(t, 5, { keepAlive: 10 });
  for (let i = 0; i < 15; i++) {
    await r.c.client.publish('ka/busy', `${i}`, { qos: 0 });
    await r.advance(2_000);
  }
  assert.deepEqual(r.pings, []);
  await r.advance(10_000);
  assert.equal(r.pings.length, 1, 'idle again: PINGREQ');
});

test('Keep Alive 0: no PINGREQ, ever', async (t) => {
  const r = await rig(t, 5, { keepAlive: 0 });
  await r.advance(300_000, 10_000);
  assert.deepEqual(r.pings, []);
  assert.equal(r.closedAt, undefined);
});

for (const version of [4, 5] as const) {
  test(`v${version}: no PINGRESP: the connection is declared dead and dropped within 1.5 x Keep Alive, and a reconnect is scheduled`, async (t) => {
    const r = await rig(t, version, { keepAlive: 10 }, { answerPings: false });
    await r.advance(20_000);
    assert.equal(r.pings.length, 1);
    assert.ok(r.closedAt !== undefined, 'the client closed the connection');
    assert.ok(r.closedAt <= 15_000, `closed at ${r.closedAt} ms`);
    assert.ok(r.closedAt > (r.pings[0] ?? 0), 'after the unanswered PINGREQ');
    const e = r.c.errors.find((x) => x.code === 'CONNECTION_LOST');
    assert.match(e?.message ?? '', /PINGREQ/);
    assert.ok(r.c.log.includes('offline'));
    // The backoff delay (1000 ms) has passed in fake time: the client is back.
    await r.server.waitFor(() => r.server.accepted.length === 2, 'the reconnect', 3000);
    assert.ok(r.c.log.includes('reconnect 1'));
  });
}

test('reconnect waits exactly for its backoff delay (fake time)', async (t) => {
  const r = await rig(t, 5, { keepAlive: 4 }, { answerPings: false });
  // Ping at 3 s, dead at 5 s (half a period later); step finely so the close time is exact.
  await r.advance(5_000, 100);
  assert.equal(r.closedAt, 5_000);
  await r.advance(900, 100);
  await tick();
  assert.equal(r.server.connections.length, 1, 'no reconnect before 1000 ms');
  assert.equal(r.c.log.includes('reconnect 1'), false);
  await r.advance(100, 100);
  await r.server.waitFor(() => r.server.accepted.length === 2, 'the reconnect');
  assert.ok(r.c.log.includes('reconnect 1'));
});

test('[MQTT-3.2.2-21/5.0] [MQTT-3.1.2-21/5.0] Server Keep Alive replaces ours: PINGREQ and dead-connection detection follow it', async (t) => {
  const r = await rig(t, 5, { keepAlive: 60 }, { connackProperties: { serverKeepAlive: 4 }, answerPings: false });
  assert.equal(r.c.client.keepAlive, 4);
  await r.advance(4_000, 100);
  assert.equal(r.pings.length, 1, 'PINGREQ within 4 s, not 60 s');
  assert.ok((r.pings[0] ?? 0) <= 4_000);
  await r.advance(2_000, 100);
  assert.ok(r.closedAt !== undefined && r.closedAt <= 6_000, `closed at ${r.closedAt} ms (1.5 x 4 s)`);
});

test('[MQTT-3.2.2-21/5.0] Server Keep Alive 0 turns keep alive off', async (t) => {
  const r = await rig(t, 5, { keepAlive: 10 }, { connackProperties: { serverKeepAlive: 0 } });
  assert.equal(r.c.client.keepAlive, 0);
  await r.advance(120_000, 5_000);
  assert.deepEqual(r.pings, []);
});
