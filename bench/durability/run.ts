import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { cpuBusySeconds, median, sleep } from '../broker/measure.js';
import { pinSelf } from '../broker/processes.js';
import { describeMachine, type Machine } from '../codec/env.js';
import { BROKER_CPU, killAll, LOADGEN_CPU, mozzieCliPath, runLoad, startBroker, useMozzieCli } from './processes.js';
import { cpuTable, detailLines, resultsTable, type ScenarioRuns, type SetupRuns, setupLabel, startupTable, summarize } from './report.js';
import {
  DEFAULT_SETUPS,
  type LoadResult,
  SCENARIO_IDS,
  type ScenarioId,
  type ScenarioSpec,
  SETUPS,
  type Setup,
  scenarioById,
} from './spec.js';
import { type StartupResult, startup } from './startup.js';

/**
 * Durability benchmark: QoS 1 throughput with persistent sessions, Mozzie's sqlite store (sync=full and
 * sync=normal) side by side with Mosquitto (`persistence true`) in one run, and start-up time on a large
 * store. Brokers are pinned to CPU 0 and load generators to CPU 1; rounds are interleaved and medians
 * compared. Usage (after `npx tsc -p .`):
 *
 *   node dist/bench/durability/run.js [--scenario online,offline,startup] [--setups mozzie-full,mozzie-normal,mosquitto]
 *        [--rounds 3] [--duration 5] [--warmup 1] [--startup-rounds 3] [--sessions N] [--retained N]
 *        [--json FILE] [--profile DIR]
 */

const USAGE = `usage: node dist/bench/durability/run.js [--scenario online,offline,startup] [--setups ${SETUPS.join(',')}]
        [--rounds N] [--duration SECONDS] [--warmup SECONDS] [--startup-rounds N] [--sessions N] [--retained N]
        [--json FILE] [--profile DIR] [--mozzie-cli FILE]
  --setups    default ${DEFAULT_SETUPS.join(',')} (mozzie-memory: no store, for reference)
  --profile   run Mozzie under node --cpu-prof, one .cpuprofile per measurement in DIR
  --mozzie-cli  another build's dist/src/cli/main.js (to compare builds); default this one's`;

interface Options {
  readonly scenarios: readonly ScenarioSpec[];
  readonly startup: boolean;
  readonly setups: readonly Setup[];
  readonly rounds: number;
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly startupRounds: number;
  readonly sessions: number;
  readonly retained: number;
  readonly json: string | undefined;
  readonly profile: string | undefined;
  readonly mozzieCli: string | undefined;
}

function positiveInt(v: string | undefined, name: string, min = 1): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}\n${USAGE}`);
  return n;
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      scenario: { type: 'string', default: 'online,offline,startup' },
      setups: { type: 'string', default: DEFAULT_SETUPS.join(',') },
      rounds: { type: 'string', default: '3' },
      duration: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '1' },
      'startup-rounds': { type: 'string', default: '3' },
      sessions: { type: 'string', default: '100000' },
      retained: { type: 'string', default: '1000000' },
      json: { type: 'string' },
      profile: { type: 'string' },
      'mozzie-cli': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const wanted = values.scenario.split(',').map((s) => s.trim());
  for (const w of wanted) {
    if (w !== 'startup' && !SCENARIO_IDS.includes(w as ScenarioId)) throw new Error(`unknown scenario "${w}"\n${USAGE}`);
  }
  const setups = values.setups.split(',').map((s) => s.trim()) as Setup[];
  for (const s of setups) if (!SETUPS.includes(s)) throw new Error(`unknown set-up "${s}"\n${USAGE}`);
  const duration = Number(values.duration);
  const warmup = Number(values.warmup);
  if (!(duration > 0) || !(warmup >= 0)) throw new Error(`--duration must be > 0 and --warmup >= 0\n${USAGE}`);
  return {
    scenarios: SCENARIO_IDS.filter((id) => wanted.includes(id)).map(scenarioById),
    startup: wanted.includes('startup'),
    setups,
    rounds: positiveInt(values.rounds, 'rounds'),
    durationMs: duration * 1000,
    warmupMs: warmup * 1000,
    startupRounds: positiveInt(values['startup-rounds'], 'startup-rounds'),
    sessions: positiveInt(values.sessions, 'sessions', 0),
    retained: positiveInt(values.retained, 'retained', 0),
    json: values.json,
    profile: values.profile,
    mozzieCli: values['mozzie-cli'],
  };
}

function mosquittoVersion(): string {
  try {
    execFileSync('mosquitto', ['-h'], { encoding: 'utf8' });
  } catch (err) {
    // `mosquitto -h` prints its version and exits 3.
    return /mosquitto version (\S+)/.exec(String((err as { stdout?: unknown }).stdout ?? ''))?.[1] ?? 'unknown';
  }
  return 'unknown';
}

/** Busiest of the two benchmark CPUs over half a second, percent. */
async function busiestCpu(): Promise<number> {
  const a = cpuBusySeconds();
  await sleep(500);
  const b = cpuBusySeconds();
  return Math.max(((b[BROKER_CPU] ?? 0) - (a[BROKER_CPU] ?? 0)) * 200, ((b[LOADGEN_CPU] ?? 0) - (a[LOADGEN_CPU] ?? 0)) * 200);
}

/** Waits, within reason, until other work has left the benchmark's CPUs. */
async function waitForQuiet(log: (line: string) => void): Promise<void> {
  const deadline = Date.now() + 8_000;
  for (;;) {
    const busy = await busiestCpu();
    if (busy < 50) return;
    if (Date.now() > deadline) {
      log(`  other processes still use ${busy.toFixed(0)}% of a CPU; measuring anyway`);
      return;
    }
    await sleep(2000);
  }
}

/** A measurement during which other processes took more than this share of either CPU is repeated once. */
const CONTENDED_ABOVE = 20;

async function measure(opts: Options, spec: ScenarioSpec, setup: Setup, round: number, log: (l: string) => void): Promise<LoadResult> {
  for (let attempt = 0; ; attempt++) {
    await waitForQuiet(log);
    const profile =
      opts.profile !== undefined && setup !== 'mosquitto'
        ? { dir: opts.profile, name: `${setup}-${spec.id}-r${round}.cpuprofile` }
        : undefined;
    const broker = await startBroker(setup, profile === undefined ? {} : { cpuProfile: profile });
    let r: LoadResult;
    try {
      r = await runLoad(
        { scenario: spec.id, setup, port: broker.port, brokerPid: broker.pid, warmupMs: opts.warmupMs, durationMs: opts.durationMs },
        300_000,
      );
    } finally {
      await broker.stop();
    }
    const foreign = Math.max(...r.foreignCpu);
    if (foreign <= CONTENDED_ABOVE) return r;
    if (attempt >= 1) return { ...r, notes: [...r.notes, `contended: other processes used ${foreign.toFixed(0)}% of a CPU`] };
    log(`  other processes used ${foreign.toFixed(0)}% of a CPU during the measurement; repeating it`);
  }
}

function line(spec: ScenarioSpec, r: LoadResult): string {
  const m = spec.metrics.map((x) => `${x.key} ${Math.round(r.metrics[x.key] ?? Number.NaN)}`).join(', ');
  const cpu = Object.entries(r.cpu)
    .map(([p, c]) => `${p} ${c.broker.toFixed(0)}%/${c.loadgen.toFixed(0)}%`)
    .join(', ');
  return `${m} (broker/loadgen CPU ${cpu}; others ${r.foreignCpu[0].toFixed(0)}%/${r.foreignCpu[1].toFixed(0)}%)${r.notes.length > 0 ? ` [${r.notes.join('; ')}]` : ''}`;
}

async function main(): Promise<void> {
  const opts = options();
  const machine: Machine = describeMachine();
  if (opts.mozzieCli !== undefined) useMozzieCli(resolve(opts.mozzieCli));
  pinSelf(LOADGEN_CPU);
  const started = Date.now();
  const mosquitto = mosquittoVersion();
  const log = (l: string) => process.stderr.write(`${l}\n`);
  log(`machine: ${machine.nproc} CPUs, ${machine.cpuModel}, node ${machine.node}, mosquitto ${mosquitto}`);
  log(`mozzie: ${mozzieCliPath()}`);
  log(
    `brokers on CPU ${BROKER_CPU}, load generators on CPU ${LOADGEN_CPU}; ${opts.rounds} round(s), warm-up ${opts.warmupMs} ms, ${opts.durationMs} ms`,
  );

  const scenarios: ScenarioRuns[] = [];
  for (const spec of opts.scenarios) {
    const setups: SetupRuns[] = opts.setups.map((setup) => ({ setup, runs: [], errors: [] }));
    scenarios.push({ spec, setups });
    for (let round = 1; round <= opts.rounds; round++) {
      for (const s of setups) {
        try {
          const r = await measure(opts, spec, s.setup, round, log);
          s.runs.push(r);
          log(`${spec.id} round ${round} ${setupLabel(s.setup).padEnd(27)} ${line(spec, r)}`);
        } catch (err) {
          s.runs.push(undefined);
          const message = err instanceof Error ? err.message : String(err);
          s.errors.push(message);
          log(`${spec.id} round ${round} ${setupLabel(s.setup).padEnd(27)} FAILED: ${message}`);
        }
        await sleep(300);
      }
    }
  }
  let boot: StartupResult | undefined;
  if (opts.startup) boot = await startup({ sessions: opts.sessions, retained: opts.retained }, opts.startupRounds, log);

  const summaries = scenarios.flatMap(summarize);
  const seconds = (Date.now() - started) / 1000;
  const out = [
    `Machine: ${machine.nproc} CPUs (${machine.cpuModel}), ${machine.memoryGiB} GiB, ${machine.platform}, node ${machine.node}, mosquitto ${mosquitto}`,
    `Mozzie: ${mozzieCliPath()}`,
    `Brokers pinned to CPU ${BROKER_CPU}, load generators to CPU ${LOADGEN_CPU}; medians of ${opts.rounds} interleaved round(s); warm-up ${opts.warmupMs / 1000} s, measurement ${opts.durationMs / 1000} s; run took ${seconds.toFixed(0)} s`,
    '',
  ];
  if (scenarios.length > 0) {
    out.push(resultsTable(opts.setups, summaries), '', 'Broker / load generator CPU (percent of one core; medians):', '');
    out.push(cpuTable(opts.setups, scenarios), '', 'Every round (in order):', '', ...detailLines(scenarios), '');
  }
  if (boot !== undefined) {
    const ready = median(boot.rounds.map((r) => r.connackMs));
    out.push(
      `Start-up of \`mozzie broker --data-dir DIR\` on ${boot.counts.sessions.toLocaleString('en-US')} sessions (2 subscriptions each) and ${boot.counts.retained.toLocaleString('en-US')} retained messages (${(boot.dbBytes / 2 ** 20).toFixed(0)} MiB database, written in ${(boot.seedMs / 1000).toFixed(1)} s; warm page cache):`,
      '',
      startupTable(boot),
      '',
      `Goal: ready in under 10 s: ${ready < 10_000 ? 'met' : 'MISSED'} (median ${(ready / 1000).toFixed(2)} s). Checks after start: ${[...new Set(boot.rounds.flatMap((r) => r.checks))].join('; ')}`,
      '',
    );
  }
  process.stdout.write(out.join('\n'));
  if (opts.json !== undefined) {
    const report = {
      machine,
      mosquitto,
      options: { ...opts, scenarios: opts.scenarios.map((s) => s.id) },
      summaries,
      scenarios,
      startup: boot,
      seconds,
    };
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
