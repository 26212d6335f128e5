import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import type { ClientInfo, ConnectRefusedEvent } from '../../src/broker/hooks.js';
import type { Logger } from '../../src/broker/logger.js';
import { Metrics } from '../../src/broker/metrics.js';
import { TokenBucket } from '../../src/broker/token-bucket.js';
import { validateConfig } from '../../src/config/index.js';
import { ReasonCode } from '../../src/protocol/index.js';
import { addressKey } from '../../src/server/address.js';
import { Admission, type AdmissionInput, admissionSettings } from '../../src/server/admission.js';
import { FakeClock } from '../helpers/fake-clock.js';

interface Made {
  readonly admission: Admission;
  readonly clock: FakeClock;
  readonly metrics: Metrics;
  readonly logs: string[];
}

function make(input: AdmissionInput): Made {
  const clock = new FakeClock();
  const metrics = new Metrics(clock.now());
  const logs: string[] = [];
  const log =
    (level: string) =>
    (message: string, fields?: Readonly<Record<string, unknown>>): void => {
      logs.push(`${level} ${message} ${JSON.stringify(fields ?? {})}`);
    };
  const logger: Logger = { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
  return { admission: new Admission(admissionSettings(input), { clock, logger, metrics }), clock, metrics, logs };
}

function client(clientId: string, remoteAddress: string | undefined, protocolVersion: 4 | 5 = 5): ClientInfo {
  return { clientId, username: undefined, protocolVersion, remoteAddress, remotePort: 1234, transport: 'tcp' };
}

function refused(clientId: string, remoteAddress: string, reasonCode: number = ReasonCode.NotAuthorized): ConnectRefusedEvent {
  return { client: client(clientId, remoteAddress), reasonCode, reasonString: undefined };
}

function tellRefused(m: Made, event: ConnectRefusedEvent): void {
  const hook = m.admission.hooks?.onConnectRefused;
  assert.ok(hook !== undefined, 'banning on installs an onConnectRefused hook');
  void hook(event);
}

// ---- token bucket -------------------------------------------------------------------------------------

test('TokenBucket: burst at once, then the rate; a cost above the burst passes on a full bucket and leaves a debt', () => {
  const t0 = 1000;
  const b = new TokenBucket(10, 3, t0);
  assert.deepEqual([b.take(1, t0), b.take(1, t0), b.take(1, t0), b.take(1, t0)], [true, true, true, false]);
  assert.equal(b.take(1, t0 + 99), false, '0.99 of a token is not enough');
  assert.equal(b.take(1, t0 + 100), true);
  const bytes = new TokenBucket(1000, 100, t0);
  assert.equal(bytes.take(500, t0), true, 'a 500-byte message on a full 100-byte bucket');
  assert.equal(bytes.take(1, t0 + 400), false, '400 bytes of debt are paid back after 400 ms');
  assert.equal(bytes.take(1, t0 + 402), true);
  assert.equal(bytes.full(t0 + 10_000), true);
});

// ---- addresses ----------------------------------------------------------------------------------------

test('addressKey: IPv4 as is, IPv4-mapped IPv6 as IPv4, IPv6 by network prefix, other things not counted', () => {
  assert.equal(addressKey('10.1.2.3', 64), '10.1.2.3');
  assert.equal(addressKey('::ffff:10.1.2.3', 64), '10.1.2.3');
  assert.equal(addressKey('::FFFF:127.0.0.2', 64), '127.0.0.2');
  assert.equal(addressKey('2001:db8:1:2:3:4:5:6', 64), '2001:db8:1:2:0:0:0:0/64');
  assert.equal(addressKey('2001:db8:1:2::ffff', 64), '2001:db8:1:2:0:0:0:0/64');
  assert.equal(addressKey('2001:db8:1:2::1', 48), '2001:db8:1:0:0:0:0:0/48');
  assert.equal(addressKey('2001:db8:1:2ff::1', 56), '2001:db8:1:200:0:0:0:0/56');
  assert.equal(addressKey('fe80::1%eth0', 64), 'fe80:0:0:0:0:0:0:0/64');
  assert.equal(addressKey('::1', 128), '0:0:0:0:0:0:0:1');
  assert.equal(addressKey('64:ff9b::192.0.2.33', 128), '64:ff9b:0:0:0:0:c000:221');
  assert.equal(addressKey(undefined, 64), undefined);
  assert.equal(addressKey('/tmp/mqtt.sock', 64), undefined);
});

// ---- connection rate and per-address limits ------------------------------------------------------------

test('connectionRate: a token bucket per address; one address throttled, another untouched; refills with time', () => {
  const m = make({ connectionRate: 2, connectionBurst: 4 });
  const flood = Array.from({ length: 10 }, () => m.admission.admit('127.0.0.2'));
  assert.deepEqual(flood, [true, true, true, true, false, false, false, false, false, false]);
  assert.equal(m.admission.admit('127.0.0.1'), true);
  assert.equal(m.metrics.limitHits.get('connectionRate'), 6);
  m.clock.advance(499);
  assert.equal(m.admission.admit('127.0.0.2'), false);
  m.clock.advance(1);
  assert.equal(m.admission.admit('127.0.0.2'), true);
  assert.ok(m.logs.some((l) => l.startsWith('debug connection refused by admission control') && l.includes('"limit":"connectionRate"')));
  m.admission.close();
});

test('connectionRate: burst 0 means one second worth; a fractional rate admits one every 1/rate seconds', () => {
  const m = make({ connectionRate: 0.5 });
  assert.equal(m.admission.admit('10.0.0.1'), true);
  assert.equal(m.admission.admit('10.0.0.1'), false);
  m.clock.advance(1999);
  assert.equal(m.admission.admit('10.0.0.1'), false);
  m.clock.advance(1);
  assert.equal(m.admission.admit('10.0.0.1'), true);
  m.admission.close();
});

test('connectionRate: IPv6 clients share a bucket per /64; IPv4-mapped addresses count as their IPv4 address', () => {
  const m = make({ connectionRate: 1, connectionBurst: 2 });
  assert.equal(m.admission.admit('2001:db8::1'), true);
  assert.equal(m.admission.admit('2001:db8::2'), true);
  assert.equal(m.admission.admit('2001:db8::ffff:3'), false, 'same /64');
  assert.equal(m.admission.admit('2001:db8:0:1::1'), true, 'another /64');
  assert.equal(m.admission.admit('192.0.2.1'), true);
  assert.equal(m.admission.admit('::ffff:192.0.2.1'), true);
  assert.equal(m.admission.admit('::ffff:192.0.2.1'), false);
  m.admission.close();
});

test('maxConnectionsPerAddress: counted when the stream is handed over, released when it closes', async () => {
  const m = make({ maxConnectionsPerAddress: 2 });
  const streams = [new PassThrough(), new PassThrough(), new PassThrough()];
  assert.equal(m.admission.track(streams[0] as PassThrough, '10.0.0.9', true), true);
  assert.equal(m.admission.track(streams[1] as PassThrough, '10.0.0.9', true), true);
  assert.equal(m.admission.admit('10.0.0.9'), false, 'refused at accept once at the limit');
  assert.equal(m.admission.track(streams[2] as PassThrough, '10.0.0.9', true), false, 'and re-checked at hand-over');
  assert.equal(streams[2]?.destroyed, true);
  assert.equal(m.admission.admit('10.0.0.10'), true);
  assert.equal(m.admission.connectionsFrom('10.0.0.9'), 2);
  streams[0]?.destroy();
  await new Promise((r) => setImmediate(r));
  assert.equal(m.admission.connectionsFrom('10.0.0.9'), 1);
  assert.equal(m.admission.admit('10.0.0.9'), true);
  streams[1]?.destroy();
  await new Promise((r) => setImmediate(r));
  assert.equal(m.admission.connectionsFrom('10.0.0.9'), 0);
  assert.equal(m.admission.tracked, 0, 'nothing is remembered for an address with no connections');
  assert.equal(m.metrics.limitHits.get('maxConnectionsPerAddress'), 2);
  m.admission.close();
});

test('track without a prior admit (PROXY protocol): ban, limit and rate are checked at hand-over', () => {
  const m = make({ connectionRate: 1, connectionBurst: 1 });
  assert.equal(m.admission.track(new PassThrough(), '203.0.113.5', false), true);
  const second = new PassThrough();
  assert.equal(m.admission.track(second, '203.0.113.5', false), false);
  assert.equal(second.destroyed, true);
  m.admission.close();
});

test('exempt addresses and networks skip per-address limits and address bans; undefined addresses are never limited', () => {
  const m = make({ connectionRate: 1, connectionBurst: 1, exempt: ['127.0.0.0/8', '2001:db8::/32', '192.0.2.7'], ban: { failures: 1 } });
  for (let i = 0; i < 5; i++) {
    assert.equal(m.admission.admit('127.0.0.3'), true);
    assert.equal(m.admission.admit('::ffff:127.0.0.3'), true);
    assert.equal(m.admission.admit('2001:db8:5::1'), true);
    assert.equal(m.admission.admit('192.0.2.7'), true);
    assert.equal(m.admission.admit(undefined), true);
  }
  tellRefused(m, refused('', '192.0.2.7'));
  assert.equal(m.admission.refuseConnect(client('x', '192.0.2.7')), 0);
  assert.equal(m.admission.admit('192.0.2.8'), true);
  assert.equal(m.admission.admit('192.0.2.8'), false);
  m.admission.close();
});

test('config: admission settings are validated with the rest, every problem named', () => {
  const c = validateConfig({ admission: { maxConnectionsPerAddress: 10, ban: { failures: 5 } } });
  assert.equal(c.admission.maxConnectionsPerAddress, 10);
  assert.equal(c.admission.connectionRate, 0);
  assert.deepEqual(c.admission.ban, { failures: 5, window: 60_000, duration: 300_000, scope: 'both' });
  assert.throws(
    () => validateConfig({ admission: { exempt: ['10.0.0.0/33', 'nonsense'], connectionRate: -1, ban: { scope: 'everything' } } }),
    (err: Error) =>
      ['admission.exempt[0]', 'admission.exempt[1]', 'admission.connectionRate', 'admission.ban.scope'].every((k) =>
        err.message.includes(k),
      ),
  );
  const limits = validateConfig({ limits: { maxPublishRate: 0.5, maxPublishByteRate: 1024 }, hookTimeout: 100, hookFailure: 'allow' });
  assert.equal(limits.limits.maxPublishRate, 0.5);
  assert.equal(limits.hookFailure, 'allow');
});

// ---- bans ---------------------------------------------------------------------------------------------

test('bans: N failed logins from an address within the window ban it; at accept and at CONNECT (0x8A); it expires', () => {
  const m = make({ ban: { failures: 3, window: 10_000, duration: 60_000, scope: 'address' } });
  tellRefused(m, refused('a', '198.51.100.7'));
  tellRefused(m, refused('b', '198.51.100.7', ReasonCode.BadUserNameOrPassword));
  // Refusals that are not failed logins do not count.
  tellRefused(m, refused('c', '198.51.100.7', ReasonCode.QuotaExceeded));
  tellRefused(m, refused('d', '198.51.100.7', ReasonCode.ClientIdentifierNotValid));
  assert.equal(m.admission.admit('198.51.100.7'), true);
  tellRefused(m, refused('e', '198.51.100.7'));
  assert.equal(m.metrics.bans, 1);
  assert.ok(m.logs.some((l) => l.startsWith('info banned address after 3 failed CONNECTs')));
  assert.equal(m.admission.admit('198.51.100.7'), false);
  assert.equal(m.admission.admit('198.51.100.8'), true);
  assert.equal(m.admission.refuseConnect(client('any', '198.51.100.7')), ReasonCode.Banned);
  assert.equal(m.admission.refuseConnect(client('a', '198.51.100.8')), 0, 'scope address: the client id is not banned');
  assert.equal(m.metrics.limitHits.get('banned'), 2);
  assert.deepEqual(
    m.admission.bans().map((b) => [b.kind, b.key]),
    [['address', '198.51.100.7']],
  );
  m.clock.advance(59_999);
  assert.equal(m.admission.admit('198.51.100.7'), false);
  m.clock.advance(1);
  assert.equal(m.admission.admit('198.51.100.7'), true);
  assert.deepEqual(m.admission.bans(), []);
  m.admission.close();
});

test('bans: failures spread over more than the window do not ban', () => {
  const m = make({ ban: { failures: 3, window: 10_000, duration: 60_000 } });
  tellRefused(m, refused('x', '198.51.100.9'));
  tellRefused(m, refused('x', '198.51.100.9'));
  m.clock.advance(10_000);
  tellRefused(m, refused('x', '198.51.100.9'));
  tellRefused(m, refused('x', '198.51.100.9'));
  assert.equal(m.metrics.bans, 0);
  assert.equal(m.admission.refuseConnect(client('x', '198.51.100.9')), 0);
  tellRefused(m, refused('x', '198.51.100.9'));
  assert.equal(m.metrics.bans, 2, 'the address and the client id');
  m.admission.close();
});

test('bans: a client id failing from many addresses is banned (0x8A) while its addresses are not', () => {
  const m = make({ ban: { failures: 3, window: 10_000, duration: 5000, scope: 'clientId' } });
  for (const address of ['10.0.0.1', '10.0.0.2', '10.0.0.3']) tellRefused(m, refused('device-7', address));
  assert.equal(m.admission.refuseConnect(client('device-7', '10.9.9.9')), ReasonCode.Banned);
  assert.equal(m.admission.refuseConnect(client('device-8', '10.0.0.1')), 0);
  assert.equal(m.admission.admit('10.0.0.1'), true);
  m.clock.advance(5000);
  assert.equal(m.admission.refuseConnect(client('device-7', '10.9.9.9')), 0);
  m.admission.close();
});

test('bans: by hand, and lifted by hand; enforced whatever ban.scope (which only says what failed logins ban)', () => {
  const m = make({ ban: { scope: 'clientId' } });
  assert.equal(m.admission.hooks, undefined, 'banning off: no hook, so onConnectRefused costs nothing');
  m.admission.ban('address', '::ffff:203.0.113.1', 1000);
  m.admission.ban('clientId', 'rogue');
  assert.equal(m.admission.admit('203.0.113.1'), false);
  assert.equal(m.admission.refuseConnect(client('rogue', undefined)), ReasonCode.Banned);
  assert.equal(m.admission.unban('clientId', 'rogue'), true);
  assert.equal(m.admission.refuseConnect(client('rogue', undefined)), 0);
  m.clock.advance(1000);
  assert.equal(m.admission.admit('203.0.113.1'), true);
  m.admission.close();
});

test('memory: idle rate buckets, stale failure counts and ended bans are swept every minute', () => {
  const m = make({ connectionRate: 10, ban: { failures: 5, window: 1000, duration: 2000 } });
  for (let i = 0; i < 1000; i++) m.admission.admit(`10.1.${i >> 8}.${i & 255}`);
  for (let i = 0; i < 100; i++) tellRefused(m, refused(`c${i}`, `10.2.0.${i}`));
  for (let i = 0; i < 5; i++) tellRefused(m, refused('bad', '10.3.0.1'));
  assert.ok(m.admission.tracked > 1000);
  m.clock.advance(60_000);
  assert.equal(m.admission.tracked, 0);
  m.admission.close();
  assert.equal(m.clock.pending, 0, 'close stops the sweep timer');
});
