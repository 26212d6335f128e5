import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { BenchResult } from '../../src/loadgen/index.js';
import { describeMachine, loadAverage } from '../codec/env.js';
import {
  CLIENT_CPU,
  cpuBusyTicks,
  findMosquitto,
  killAll,
  MOSQUITTO_SETTINGS,
  mosquittoVersion,
  processCpuNanos,
  spawnPinned,
  startMosquitto,
} from './processes.js';

/**
 * Is `mozzie bench` the bottleneck? Runs the load generator (pinned to CPU 1) against Mosquitto (pinned to
 * CPU 0) in several scenarios and samples, over three seconds in the middle of each measured stretch, the
 * CPU of Mosquitto, of the generator and of everything else on the two CPUs. The generator is not the
 * limit when Mosquitto's core is saturated while the generator's is not.
 *
 *   node dist/bench/client/generator.js [--duration S] [--scenario NAME]... [--plain] [--json]
 */

interface Scenario {
  readonly name: string;
  readonly args: readonly string[];
}

const SCENARIOS: readonly Scenario[] = [
  { name: 'pub qos0 c10', args: ['pub', '-c', '10', '-q', '0'] },
  { name: 'pub qos1 c10', args: ['pub', '-c', '10', '-q', '1'] },
  { name: 'pubsub qos0 c10', args: ['pubsub', '-c', '10', '-q', '0'] },
  { name: 'pubsub qos1 c10', args: ['pubsub', '-c', '10', '-q', '1'] },
  { name: 'pubsub qos2 c10', args: ['pubsub', '-c', '10', '-q', '2'] },
  { name: 'fan-out qos0 c10 (1 topic, x10)', args: ['pubsub', '-c', '10', '-q', '0', '-t', 'bench/fan'] },
  { name: 'conn churn c50', args: ['conn', '-c', '50', '--churn'] },
];

const FOREIGN_LIMIT = 15;

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

interface Sample {
  readonly scenario: string;
  readonly result: BenchResult;
  readonly mosquittoCpu: number;
  readonly generatorCpu: number;
  readonly foreignCpu: number;
}

async function runScenario(s: Scenario, port: number, brokerPid: number, duration: number): Promise<Sample> {
  const args = [...s.args, '-h', '127.0.0.1', '-p', String(port), '-d', String(duration), '--warmup', '1', '--json'];
  const child = spawnPinned(CLIENT_CPU, [process.execPath, MAIN, 'bench', ...args]);
  const pid = child.pid ?? 0;
  let stdout = '';
  let stderr = '';
  let lines = 0;
  let first: { t: number; broker: number; gen: number; busy: number[] } | undefined;
  let window: { mosquitto: number; generator: number; foreign: number } | undefined;
  const snap = () => ({ t: performance.now(), broker: processCpuNanos(brokerPid), gen: processCpuNanos(pid), busy: cpuBusyTicks() });
  child.stdout?.on('data', (c: Buffer) => {
    stdout += c.toString();
  });
  child.stderr?.on('data', (c: Buffer) => {
    stderr += c.toString();
    // Progress lines of the measured stretch (not the warm-up): sample between the 1st and the 4th.
    const measured = stderr.split('\n').filter((l) => /^\s+\d+s /.test(l)).length;
    if (measured === lines) return;
    lines = measured;
    if (lines === 1) first = snap();
    if (lines === 4 && first !== undefined) {
      const last = snap();
      const ms = last.t - first.t;
      const broker = (last.broker - first.broker) / 1e6;
      const gen = (last.gen - first.gen) / 1e6;
      const busy = ((last.busy[0] ?? 0) - (first.busy[0] ?? 0) + (last.busy[1] ?? 0) - (first.busy[1] ?? 0)) * 10;
      window = { mosquitto: (broker / ms) * 100, generator: (gen / ms) * 100, foreign: (Math.max(0, busy - broker - gen) / ms) * 100 };
    }
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  if (code !== 0) throw new Error(`${s.name}: mozzie bench exited ${String(code)}: ${stderr.slice(-2000)}`);
  if (window === undefined) throw new Error(`${s.name}: too short to sample (use --duration 5 or more)`);
  return {
    scenario: s.name,
    result: JSON.parse(stdout) as BenchResult,
    mosquittoCpu: window.mosquitto,
    generatorCpu: window.generator,
    foreignCpu: window.foreign,
  };
}

function rate(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)} M/s` : `${(n / 1e3).toFixed(1)} k/s`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '6' },
      scenario: { type: 'string', multiple: true },
      json: { type: 'boolean' },
      plain: { type: 'boolean' },
    },
  });
  const duration = Number(values.duration);
  const chosen = values.scenario === undefined ? SCENARIOS : SCENARIOS.filter((s) => values.scenario?.some((f) => s.name.includes(f)));
  const machine = describeMachine();
  const path = findMosquitto();
  const samples: Sample[] = [];
  // --plain: only `listener` and `allow_anonymous true`, Mosquitto's defaults for everything else.
  const settings = values.plain === true ? ['allow_anonymous true'] : MOSQUITTO_SETTINGS;
  const broker = await startMosquitto(path, settings);
  try {
    for (const s of chosen) {
      process.stderr.write(`${s.name}...\n`);
      // Other processes on the two CPUs distort both sides: measure again (at most three times).
      let sample = await runScenario(s, broker.port, broker.pid, duration);
      for (let again = 0; again < 3 && sample.foreignCpu > FOREIGN_LIMIT; again++) {
        process.stderr.write(`  other processes used ${sample.foreignCpu.toFixed(0)}% of a core; measuring again\n`);
        sample = await runScenario(s, broker.port, broker.pid, duration);
      }
      samples.push(sample);
    }
  } finally {
    await broker.stop();
    killAll();
  }
  if (values.json === true) {
    process.stdout.write(`${JSON.stringify({ machine, samples }, null, 2)}\n`);
    return;
  }
  const out: string[] = [];
  out.push(
    `- ${machine.nproc} CPUs, ${machine.cpuModel}, Node ${machine.node}, Mosquitto ${mosquittoVersion(path)} (${settings.join(', ')})`,
  );
  out.push(
    `- Load average ${machine.loadAverageAtStart} at start, ${loadAverage()} at end; CPU sampled over 3 s inside each measured stretch`,
  );
  out.push('');
  out.push('| Scenario | Sent | Received | Latency p50 / p99 | Mosquitto CPU (core 0) | Generator CPU (core 1) | Other processes |');
  out.push('|---|---:|---:|---:|---:|---:|---:|');
  for (const x of samples) {
    const r = x.result;
    const sent = r.mode === 'conn' ? `${rate(r.connectsPerSecond)} connects` : r.publishers > 0 ? rate(r.sentPerSecond) : '-';
    const received = r.subscribers > 0 ? rate(r.receivedPerSecond) : '-';
    const l = r.latency;
    const latency = l.p50 === null || l.p99 === null ? '-' : `${l.p50.toPrecision(3)} / ${l.p99.toPrecision(3)} ms`;
    out.push(
      `| ${x.scenario} | ${sent} | ${received} | ${latency} | ${x.mosquittoCpu.toFixed(0)}% | ${x.generatorCpu.toFixed(0)}% | ${x.foreignCpu.toFixed(0)}% |`,
    );
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

main().catch((err: unknown) => {
  killAll();
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
