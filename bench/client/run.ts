import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { describeMachine, loadAverage } from '../codec/env.js';
import {
  CLIENT_CPU,
  findMosquitto,
  killAll,
  MOSQUITTO_SETTINGS,
  mosquittoVersion,
  type RunningBroker,
  spawnPinned,
  startMosquitto,
  startSink,
} from './processes.js';
import { type ClientBenchReport, type Round, summarize, textReport } from './report.js';
import { writeResultsSection } from './results.js';
import { LIBRARIES, type Library, TARGETS, type Target, WORKLOADS, type WorkerRequest, type WorkerResult, type Workload } from './spec.js';

/**
 * Client benchmark: Mozzie's client library against MQTT.js, publishing to Mosquitto, in one run.
 * Usage (after `npx tsc -p .`):
 *
 *   node dist/bench/client/run.js [--rounds N] [--quick] [--json] [--results] [--target mosquitto|sink]
 *
 * Each measurement is a fresh worker process (worker.ts) pinned to CPU 1; the broker (Mosquitto, then the
 * null broker of sink.ts, which only acknowledges) runs pinned to CPU 0.
 * Rounds interleave the libraries (ours first in odd rounds, theirs first in even ones); the report gives
 * medians and the median of per-round ratios. A measurement during which other processes used more than
 * --foreign-limit % of a core on the two CPUs is repeated (at most three times).
 */

const USAGE =
  'usage: node dist/bench/client/run.js [--rounds N] [--quick] [--json] [--results [--results-file PATH]] [--workload qos0|qos1]... [--target mosquitto|sink]... [--version 4|5] [--foreign-limit PCT]';

function options() {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string' },
      quick: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      results: { type: 'boolean', default: false },
      'results-file': { type: 'string' },
      workload: { type: 'string', multiple: true },
      target: { type: 'string', multiple: true },
      version: { type: 'string', default: '5' },
      'foreign-limit': { type: 'string', default: '15' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const rounds = values.rounds === undefined ? (values.quick ? 3 : 7) : Number.parseInt(values.rounds, 10);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds must be a positive integer\n${USAGE}`);
  const workloads = (values.workload ?? WORKLOADS) as Workload[];
  for (const w of workloads) if (!WORKLOADS.includes(w)) throw new Error(`unknown --workload ${w}\n${USAGE}`);
  const targets = (values.target ?? TARGETS) as Target[];
  for (const t of targets) if (!TARGETS.includes(t)) throw new Error(`unknown --target ${t}\n${USAGE}`);
  const version = Number(values.version);
  if (version !== 4 && version !== 5) throw new Error(`--version must be 4 or 5\n${USAGE}`);
  const foreignLimit = Number(values['foreign-limit']);
  return {
    rounds,
    workloads,
    targets,
    json: values.json,
    results: values.results,
    resultsFile: values['results-file'],
    foreignLimit,
    version: version as 4 | 5,
    messages: values.quick ? { qos0: 100_000, qos1: 30_000 } : { qos0: 300_000, qos1: 100_000 },
  };
}

const WORKER = fileURLToPath(new URL('./worker.js', import.meta.url));
const PAYLOAD_BYTES = 64;
const BATCH = 1000;
const WINDOW = 100;
const WARMUP: Readonly<Record<Workload, number>> = { qos0: 50_000, qos1: 20_000 };

async function measureOnce(req: WorkerRequest): Promise<WorkerResult> {
  const child = spawnPinned(CLIENT_CPU, [process.execPath, '--expose-gc', WORKER, JSON.stringify(req)]);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => {
    stdout += c.toString();
  });
  child.stderr?.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-4000);
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(timer);
  const line = stdout.split('\n').find((l) => l.startsWith('RESULT '));
  if (code !== 0 || line === undefined)
    throw new Error(`${req.library} ${req.workload} worker failed (exit ${String(code)}): ${stderr.trim()}`);
  return JSON.parse(line.slice('RESULT '.length)) as WorkerResult;
}

/** Measures; again (at most three times) while other processes took more than `limit` % of a core. */
async function measure(req: WorkerRequest, limit: number, log: (s: string) => void): Promise<{ result: WorkerResult; redone: number }> {
  let redone = 0;
  for (;;) {
    const result = await measureOnce(req);
    if (result.foreignCpuPercent <= limit || redone >= 3) return { result, redone };
    redone++;
    log(`  ${req.library} ${req.workload}: other processes used ${result.foreignCpuPercent.toFixed(0)}% of a core; measuring again`);
  }
}

/** One round of one workload: both libraries, in the round's order. */
async function runRound(
  target: Target,
  round: number,
  workload: Workload,
  broker: RunningBroker,
  opts: ReturnType<typeof options>,
  log: (line: string) => void,
): Promise<Round> {
  const order: Library[] = round % 2 === 1 ? [...LIBRARIES] : [...LIBRARIES].reverse();
  const got = new Map<Library, WorkerResult>();
  let redone = 0;
  for (const library of order) {
    const req: WorkerRequest = {
      library,
      workload,
      port: broker.port,
      brokerPid: broker.pid,
      version: opts.version,
      payloadBytes: PAYLOAD_BYTES,
      warmupMessages: WARMUP[workload],
      messages: opts.messages[workload],
      batch: BATCH,
      window: WINDOW,
    };
    const m = await measure(req, opts.foreignLimit, log);
    got.set(library, m.result);
    redone += m.redone;
  }
  const mozzie = got.get('mozzie') as WorkerResult;
  const mqttjs = got.get('mqttjs') as WorkerResult;
  log(
    `${target} round ${round} ${workload}: mozzie ${(mozzie.rate / 1000).toFixed(1)}k/s, mqttjs ${(mqttjs.rate / 1000).toFixed(1)}k/s, ratio ${(mozzie.rate / mqttjs.rate).toFixed(2)}`,
  );
  return { target, round, workload, mozzie, mqttjs, redone };
}

function mqttjsVersion(): string {
  const require = createRequire(import.meta.url);
  const path = require.resolve('mqtt/package.json');
  return (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version;
}

async function main(): Promise<void> {
  const opts = options();
  const started = performance.now();
  const machine = describeMachine();
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const mosquittoPath = findMosquitto();
  const rounds: Round[] = [];
  try {
    for (const target of opts.targets) {
      const broker: RunningBroker = target === 'mosquitto' ? await startMosquitto(mosquittoPath) : await startSink();
      try {
        log(`${target} on port ${broker.port} (pid ${broker.pid}), ${opts.rounds} rounds`);
        for (let round = 1; round <= opts.rounds; round++) {
          for (const workload of opts.workloads) {
            rounds.push(await runRound(target, round, workload, broker, opts, log));
          }
        }
      } finally {
        await broker.stop();
      }
    }
  } finally {
    killAll();
  }
  const report: ClientBenchReport = {
    machine,
    mosquitto: { version: mosquittoVersion(mosquittoPath), settings: MOSQUITTO_SETTINGS },
    mqttjsVersion: mqttjsVersion(),
    settings: {
      version: opts.version,
      payloadBytes: PAYLOAD_BYTES,
      warmupMessages: WARMUP,
      messages: opts.messages,
      batch: BATCH,
      window: WINDOW,
      rounds: opts.rounds,
      foreignCpuLimit: opts.foreignLimit,
    },
    workloads: opts.targets.flatMap((t) => opts.workloads.map((w) => summarize(t, w, rounds))),
    rounds,
    loadAverageAtEnd: loadAverage(),
    durationSeconds: (performance.now() - started) / 1000,
  };
  const text = textReport(report);
  process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : text);
  if (opts.results) {
    const path = opts.resultsFile === undefined ? writeResultsSection(text) : writeResultsSection(text, opts.resultsFile);
    log(`results written to ${path} (section "Client")`);
  }
}

process.on('SIGINT', () => {
  killAll();
  process.exit(130);
});

main().catch((err: unknown) => {
  killAll();
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
