import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { describeMachine, type Machine } from '../codec/env.js';
import { cpuBusySeconds, sleep } from './measure.js';
import { BROKER_CPU, killAll, LOADGEN_CPU, pinSelf, runLoad, startBroker } from './processes.js';
import { type BrokerRuns, cpuTable, detailLines, type MetricSummary, resultsTable, type ScenarioResult, summarize } from './report.js';
import { BROKERS, type BrokerName, type LoadResult, SCENARIOS, type ScenarioSpec } from './spec.js';

/**
 * Broker benchmark: Mozzie, Mosquitto and Aedes side by side in one run. Each measurement gets a fresh
 * broker process pinned to CPU 0 and a fresh load generator pinned to CPU 1; rounds are interleaved
 * (mozzie, mosquitto, aedes, mozzie, ...) and medians compared. Usage (after `npx tsc -p .`):
 *
 *   node dist/bench/broker/run.js [--scenario a,c] [--rounds 3] [--duration 5] [--warmup 1]
 *                                 [--brokers mozzie,mosquitto] [--json FILE] [--profile DIR]
 *
 * Progress goes to stderr, the tables to stdout.
 */

const USAGE = `usage: node dist/bench/broker/run.js [--scenario a,b,c,d,e,f,g] [--rounds N] [--duration SECONDS] [--warmup SECONDS]
                                     [--brokers mozzie,mosquitto,aedes] [--json FILE] [--profile DIR]
  --scenario  letters (a = a16 + a1k, c = c0 + c1) or ids (a16, a1k, b, c0, c1, d, e, f, g); default all
  --profile   run Mozzie under node --cpu-prof, one .cpuprofile per measurement in DIR`;

interface Options {
  readonly scenarios: readonly ScenarioSpec[];
  readonly brokers: readonly BrokerName[];
  readonly rounds: number;
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly json: string | undefined;
  readonly profile: string | undefined;
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      scenario: { type: 'string' },
      brokers: { type: 'string' },
      rounds: { type: 'string', default: '3' },
      duration: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '1' },
      json: { type: 'string' },
      profile: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const wanted = (values.scenario ?? 'a,b,c,d,e,f,g').split(',').map((s) => s.trim());
  const scenarios = SCENARIOS.filter((s) => wanted.includes(s.letter) || wanted.includes(s.id));
  for (const w of wanted) {
    if (!SCENARIOS.some((s) => s.letter === w || s.id === w)) throw new Error(`unknown scenario "${w}"\n${USAGE}`);
  }
  const brokers = (values.brokers ?? BROKERS.join(',')).split(',').map((s) => s.trim()) as BrokerName[];
  for (const b of brokers) if (!BROKERS.includes(b)) throw new Error(`unknown broker "${b}"\n${USAGE}`);
  const rounds = Number(values.rounds);
  const duration = Number(values.duration);
  const warmup = Number(values.warmup);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds must be a positive integer\n${USAGE}`);
  if (!(duration > 0) || !(warmup >= 0)) throw new Error(`--duration must be > 0 and --warmup >= 0\n${USAGE}`);
  return {
    scenarios,
    brokers,
    rounds,
    durationMs: duration * 1000,
    warmupMs: warmup * 1000,
    json: values.json,
    profile: values.profile,
  };
}

interface Versions {
  readonly mosquitto: string;
  readonly aedes: string;
}

function versions(): Versions {
  let mosquitto = 'unknown';
  try {
    execFileSync('mosquitto', ['-h'], { encoding: 'utf8' });
  } catch (err) {
    // `mosquitto -h` prints its version and exits 3.
    const out = String((err as { stdout?: unknown }).stdout ?? '');
    mosquitto = /mosquitto version (\S+)/.exec(out)?.[1] ?? 'unknown';
  }
  let aedes = 'unknown';
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../node_modules/aedes/package.json', import.meta.url), 'utf8')) as {
      version?: string;
    };
    aedes = pkg.version ?? 'unknown';
  } catch {
    // Not installed: the aedes runs will fail and say so.
  }
  return { mosquitto, aedes };
}

function summaryLine(r: LoadResult, spec: ScenarioSpec): string {
  const metrics = spec.metrics.map((m) => `${m.label} ${formatShort(r.metrics[m.key])}`).join(', ');
  const [f0, f1] = r.foreignCpu;
  return `${metrics} (broker CPU ${r.brokerCpu.toFixed(0)}%, loadgen CPU ${r.loadgenCpu.toFixed(0)}%, others ${f0.toFixed(0)}%/${f1.toFixed(0)}%)`;
}

function formatShort(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return '-';
  return v >= 100 ? v.toFixed(0) : v.toFixed(3);
}

async function measure(opts: Options, spec: ScenarioSpec, broker: BrokerName, round: number): Promise<LoadResult> {
  const profile =
    opts.profile !== undefined && broker === 'mozzie' ? { dir: opts.profile, name: `mozzie-${spec.id}-r${round}.cpuprofile` } : undefined;
  const running = await startBroker(broker, profile === undefined ? {} : { cpuProfile: profile });
  try {
    const timeout = spec.steady ? opts.warmupMs + opts.durationMs + 90_000 : 300_000;
    return await runLoad(
      { scenario: spec.id, broker, port: running.port, brokerPid: running.pid, warmupMs: opts.warmupMs, durationMs: opts.durationMs },
      timeout,
    );
  } finally {
    await running.stop();
  }
}

/** Busiest of CPU 0 and CPU 1 over half a second, percent. */
async function busiestCpu(): Promise<number> {
  const a = cpuBusySeconds();
  await sleep(500);
  const b = cpuBusySeconds();
  return Math.max(((b[0] ?? 0) - (a[0] ?? 0)) * 200, ((b[1] ?? 0) - (a[1] ?? 0)) * 200);
}

/**
 * Other work on this machine (a test suite, another benchmark) would skew a measurement: wait, within
 * reason, until both CPUs are nearly idle before starting one.
 */
async function waitForQuiet(log: (line: string) => void): Promise<void> {
  const deadline = Date.now() + QUIET_WAIT_MS;
  let told = false;
  for (;;) {
    const busy = await busiestCpu();
    if (busy < QUIET_BELOW) return;
    if (Date.now() > deadline) {
      log(`  other processes still use ${busy.toFixed(0)}% of a CPU; measuring anyway`);
      return;
    }
    if (!told) log(`  waiting for other processes to leave the CPUs (${busy.toFixed(0)}% busy)`);
    told = true;
    await sleep(2000);
  }
}

/** A measurement during which other processes took more than this share of either CPU is repeated. */
const CONTENDED_ABOVE = 20;
const RETRIES = 1;
const QUIET_BELOW = 50;
const QUIET_WAIT_MS = 20_000;

async function measureClean(
  opts: Options,
  spec: ScenarioSpec,
  broker: BrokerName,
  round: number,
  log: (line: string) => void,
): Promise<LoadResult> {
  for (let attempt = 0; ; attempt++) {
    await waitForQuiet(log);
    const r = await measure(opts, spec, broker, round);
    const foreign = Math.max(...r.foreignCpu);
    if (foreign <= (spec.contendedAbove ?? CONTENDED_ABOVE)) return r;
    if (attempt >= (spec.contendedAbove === undefined ? RETRIES : RETRIES + 2))
      return { ...r, notes: [...r.notes, `contended: other processes used ${foreign.toFixed(0)}% of a CPU`] };
    log(`  other processes used ${foreign.toFixed(0)}% of a CPU during the measurement; repeating it`);
  }
}

async function main(): Promise<void> {
  const opts = options();
  // Before pinning: nproc reports the CPUs this process may use.
  const machine: Machine = describeMachine();
  pinSelf(LOADGEN_CPU);
  const started = Date.now();
  const v = versions();
  const log = (line: string) => process.stderr.write(`${line}\n`);
  log(`machine: ${machine.nproc} CPUs, ${machine.cpuModel}, node ${machine.node}, mosquitto ${v.mosquitto}, aedes ${v.aedes}`);
  log(
    `brokers on CPU ${BROKER_CPU}, load generator on CPU ${LOADGEN_CPU}; ${opts.rounds} round(s), warm-up ${opts.warmupMs} ms, ${opts.durationMs} ms each`,
  );

  const results: ScenarioResult[] = [];
  for (const spec of opts.scenarios) {
    const brokers: BrokerRuns[] = opts.brokers.map((broker) => ({ broker, runs: [], errors: [] }));
    results.push({ id: spec.id, title: spec.title, brokers });
    for (let round = 1; round <= opts.rounds; round++) {
      for (const b of brokers) {
        try {
          const r = await measureClean(opts, spec, b.broker, round, log);
          b.runs.push(r);
          log(`${spec.id} round ${round} ${b.broker.padEnd(9)} ${summaryLine(r, spec)}`);
        } catch (err) {
          b.runs.push(undefined);
          const message = err instanceof Error ? err.message : String(err);
          b.errors.push(message);
          log(`${spec.id} round ${round} ${b.broker.padEnd(9)} FAILED: ${message}`);
        }
        // Let the sockets of the last measurement finish closing.
        await sleep(300);
      }
    }
  }

  const summaries: MetricSummary[] = opts.scenarios.flatMap((spec) => {
    const r = results.find((x) => x.id === spec.id);
    return r === undefined ? [] : summarize(spec, r);
  });
  const seconds = (Date.now() - started) / 1000;
  const out = [
    `Machine: ${machine.nproc} CPUs (${machine.cpuModel}), ${machine.memoryGiB} GiB, ${machine.platform}, node ${machine.node}, mosquitto ${v.mosquitto}, aedes ${v.aedes}`,
    `Brokers pinned to CPU ${BROKER_CPU}, load generator to CPU ${LOADGEN_CPU}; medians of ${opts.rounds} interleaved round(s); warm-up ${opts.warmupMs / 1000} s, measurement ${opts.durationMs / 1000} s; run took ${seconds.toFixed(0)} s`,
    '',
    resultsTable(opts.scenarios, summaries),
    '',
    'CPU use during the measurement, broker / load generator (percent of one core; medians):',
    '',
    cpuTable(opts.scenarios, results),
    '',
    'Every round (in order) and the load generator notes:',
    '',
    ...detailLines(opts.scenarios, results),
    '',
  ].join('\n');
  process.stdout.write(out);
  if (opts.json !== undefined) {
    const report = { machine, versions: v, options: { ...opts, scenarios: opts.scenarios.map((s) => s.id) }, summaries, results, seconds };
    writeFileSync(opts.json, `${JSON.stringify(report, null, 2)}\n`);
    log(`wrote ${opts.json}`);
  }
}

process.on('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    process.stderr.write(`\n${signal}: stopping brokers and load generators\n`);
    killAll();
    process.exit(130);
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  killAll();
  process.exit(1);
});
