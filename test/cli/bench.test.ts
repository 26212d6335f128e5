/**
 * `mozzie bench`, spawned as a user runs it, for a second or two against a Mozzie broker in this process:
 * every mode produces sensible counts, QoS 1 delivers what was sent, --json has the documented shape, the
 * text summary and the progress lines show, and mistakes (bad flags, no broker) get plain messages.
 */
import assert from 'node:assert/strict';
import { createServer as createNetServer } from 'node:net';
import { describe, type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { BenchResult } from '../../src/loadgen/index.js';
import { createConsoleLogger } from '../../src/server/logger.js';
import { createServer, type MozzieServer } from '../../src/server/server.js';
import { type Spawned, spawnTracked } from '../helpers/child.js';

// Compiled to dist/test/cli/: the CLI is dist/src/cli/main.js.
const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

function bench(t: TestContext, args: readonly string[]): Spawned {
  return spawnTracked(t, process.execPath, [MAIN, 'bench', ...args], { env: { ...process.env, NO_COLOR: '1' }, lifetimeMs: 14_000 });
}

async function run(t: TestContext, args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = bench(t, args);
  const exit = await p.exit(12_000);
  return { code: exit.code, stdout: p.stdout, stderr: p.stderr };
}

/** Runs with --json and returns the parsed summary (exit 0 asserted). */
async function runJson(t: TestContext, args: readonly string[]): Promise<BenchResult> {
  const r = await run(t, [...args, '--json']);
  assert.equal(r.code, 0, `exit code\n${r.stdout}\n${r.stderr}`);
  return JSON.parse(r.stdout) as BenchResult;
}

/** A port nothing listens on (bound to 0, then released). */
async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  assert.ok(typeof address === 'object' && address !== null);
  return address.port;
}

function assertLatency(r: BenchResult, kind: BenchResult['latency']['kind']): void {
  const l = r.latency;
  assert.equal(l.kind, kind);
  assert.ok(l.samples > 0, 'latency samples');
  assert.ok(l.p50 !== null && l.p90 !== null && l.p99 !== null && l.max !== null, 'percentiles present');
  assert.ok(l.p50 >= 0 && l.p50 <= l.p90 && l.p90 <= l.p99 && l.p99 <= l.max, `ordered percentiles ${JSON.stringify(l)}`);
}

describe('mozzie bench', { concurrency: true }, () => {
  let server: MozzieServer;
  let target: string[];

  test.before(async () => {
    server = createServer(
      { listeners: [{ host: '127.0.0.1', port: 0 }] },
      { logger: createConsoleLogger({ level: 'error', format: 'text', write: () => undefined }) },
    );
    const [listener] = await server.start();
    assert.ok(listener !== undefined);
    target = ['-h', '127.0.0.1', '-p', String(listener.port), '--warmup', '0'];
  });
  test.after(() => server.stop());

  test('--help: modes, every option and examples, exit 0', async (t) => {
    const r = await run(t, ['--help']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Usage: mozzie bench <pub\|sub\|pubsub\|conn> \[options\]/);
    for (const flag of ['--host', '--port', '--url', '--clients', '--rate', '--qos', '--size', '--topic', '--duration', '--warmup']) {
      assert.ok(r.stdout.includes(flag), `help mentions ${flag}`);
    }
    for (const flag of ['--protocol-version', '--window', '--churn', '--json', '--quiet']) assert.ok(r.stdout.includes(flag), flag);
    assert.match(r.stdout, /^Examples:$/m);
    assert.match(r.stdout, /mozzie bench pubsub/);
  });

  test('pub at QoS 1 --json: everything sent is acknowledged, publish-to-ack latency', async (t) => {
    const r = await runJson(t, ['pub', ...target, '-c', '2', '-q', '1', '-r', '4000', '-d', '1']);
    assert.equal(r.mode, 'pub');
    assert.equal(r.publishers, 2);
    assert.equal(r.subscribers, 0);
    assert.equal(r.qos, 1);
    assert.equal(r.protocolVersion, 5);
    assert.ok(r.sent > 1000, `sent ${r.sent}`);
    assert.ok(r.sent <= 4000 * r.durationSeconds + 10, `the rate limit holds: ${r.sent} in ${r.durationSeconds} s`);
    assert.equal(r.acked, r.sent);
    assert.ok(r.window !== null && r.window > 0);
    assertLatency(r, 'publish-to-ack');
    assert.equal(r.errors.total, 0, r.errors.messages.join('; '));
    assert.ok(Number.isFinite(r.cpu.percent) && r.cpu.percent >= 0, 'generator CPU reported');
    assert.equal(r.stoppedEarly, null);
  });

  test('pubsub at QoS 1 (MQTT 3.1.1): received equals sent, end-to-end latency', async (t) => {
    const r = await runJson(t, ['pubsub', ...target, '-c', '3', '-q', '1', '-r', '3000', '-d', '1', '-V', '4', '-t', 'bench/t/%i']);
    assert.equal(r.mode, 'pubsub');
    assert.equal(r.protocolVersion, 4);
    assert.equal(r.publishers, 3);
    assert.equal(r.subscribers, 3);
    assert.ok(r.sent > 1000, `sent ${r.sent}`);
    assert.equal(r.expected, r.sent, 'one subscriber per topic');
    assert.equal(r.received, r.sent, 'QoS 1: nothing lost');
    assert.equal(r.acked, r.sent);
    assertLatency(r, 'end-to-end');
    assert.equal(r.errors.total, 0, r.errors.messages.join('; '));
  });

  test('pubsub at QoS 2 with a shared topic: every subscriber gets every message', async (t) => {
    const r = await runJson(t, ['pubsub', ...target, '-c', '2', '-q', '2', '-r', '1000', '-d', '1', '-t', 'bench/fan']);
    assert.ok(r.sent > 200, `sent ${r.sent}`);
    assert.equal(r.expected, r.sent * 2);
    assert.equal(r.received, r.sent * 2);
    assert.equal(r.acked, r.sent);
  });

  test('sub counts what another bench pub sends, with latency from the payload stamps', async (t) => {
    const sub = bench(t, ['sub', ...target, '-c', '1', '-t', 'bench/sub/+', '-d', '2', '--json']);
    // Let the subscription settle before publishing (messages before it would just be missed).
    await new Promise((resolve) => setTimeout(resolve, 400));
    const pub = await run(t, ['pub', ...target, '-c', '2', '-t', 'bench/sub/%i', '-r', '2000', '-d', '1']);
    assert.equal(pub.code, 0, pub.stderr);
    assert.equal((await sub.exit(12_000)).code, 0, sub.output());
    const r = JSON.parse(sub.stdout) as BenchResult;
    assert.equal(r.mode, 'sub');
    assert.equal(r.sent, 0);
    assert.ok(r.received > 500, `received ${r.received}`);
    assertLatency(r, 'end-to-end');
  });

  test('conn holds its connections; --churn reconnects continuously', async (t) => {
    const [hold, churn] = await Promise.all([
      runJson(t, ['conn', ...target, '-c', '20', '-d', '1']),
      runJson(t, ['conn', ...target, '-c', '4', '--churn', '-d', '1']),
    ]);
    assert.equal(hold.mode, 'conn');
    assert.equal(hold.connects, 20);
    assert.equal(hold.connectionsOpen, 20);
    assert.ok(hold.connectsPerSecond > 0);
    assertLatency(hold, 'connect');
    assert.equal(hold.latency.samples, 20);
    assert.ok(churn.connects > 20, `churn connects ${churn.connects}`);
    assert.equal(churn.errors.total, 0, churn.errors.messages.join('; '));
  });

  test('text summary on stdout and plain progress lines on stderr when not a terminal', async (t) => {
    const r = await run(t, ['pubsub', ...target, '-c', '1', '-r', '1000', '-d', '1.5']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^mozzie bench pubsub: 127\.0\.0\.1:\d+, MQTT 5\.0$/m);
    assert.match(r.stdout, /^ +total +per second$/m);
    assert.match(r.stdout, /^ {2}sent +[\d,]+ +[\d,]+$/m);
    assert.match(r.stdout, /^ {2}received +[\d,]+ +[\d,]+ +\(\d+\.\d\d% of [\d,]+ expected\)$/m);
    assert.match(r.stdout, /latency \(publish to delivery\): +p50 [\d.]+ ms +p90 [\d.]+ ms +p99 [\d.]+ ms +max [\d.]+ ms/);
    assert.match(r.stdout, /generator CPU: \d+% of one core \(user \d+%, system \d+%\)/);
    assert.match(r.stderr, /^ +1s +sent +[\d,]+\/s +recv +[\d,]+\/s +p50 .+ +p99 .+ +errors 0 +cpu +\d+%$/m);
    assert.ok(!r.stderr.includes('\r') && !r.stderr.includes('\u001b['), 'no terminal control characters in a pipe');
  });

  test('no broker: a plain "connection refused" message, exit 1', async (t) => {
    const port = await freePort();
    const r = await run(t, ['pub', '-h', '127.0.0.1', '-p', String(port), '-d', '1']);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(
      r.stderr,
      new RegExp(`^mozzie bench: cannot connect to 127\\.0\\.0\\.1:${port}: connection refused\\. Is a broker running there\\?`),
    );
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  });

  test('bad options: every problem named at once, exit 2', async (t) => {
    const [bad, mode, none, url] = await Promise.all([
      run(t, ['pub', '-q', '3', '-c', '0', '-s', 'big']),
      run(t, ['flood']),
      run(t, []),
      run(t, ['pub', '-L', 'ws://localhost:8080']),
    ]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--qos must be an integer from 0 to 2, got "3"/);
    assert.match(bad.stderr, /--clients must be an integer from 1 to/);
    assert.match(bad.stderr, /--size must be an integer from 0 to .*"big"/);
    assert.match(bad.stderr, /Run "mozzie bench --help" for the options\./);
    assert.equal(mode.code, 2);
    assert.match(mode.stderr, /unknown mode "flood": use pub, sub, pubsub, conn/);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /a mode is needed/);
    assert.equal(url.code, 2);
    assert.match(url.stderr, /only mqtt:\/\/ \(plain TCP\) is supported/);
  });
});
