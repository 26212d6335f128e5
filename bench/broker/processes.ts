import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sleep } from './measure.js';
import type { BrokerName, LoadRequest, LoadResult } from './spec.js';

/**
 * Child processes of the benchmark: brokers pinned to CPU 0, load generators pinned to CPU 1, each with
 * its file-descriptor limit raised to the hard limit. Every child is tracked so that the end of the run,
 * an error or Ctrl-C kills whatever is left.
 */

export const BROKER_CPU = 0;
export const LOADGEN_CPU = 1;

const here = fileURLToPath(new URL('.', import.meta.url));
const live = new Set<ChildProcess>();
const tempDirs = new Set<string>();

/**
 * Brokers and load generators run at this nice level, the same for all: on a machine shared with other
 * work (test suites of other sessions) they keep most of their CPU, which the contention check verifies.
 */
export const NICE = -20;

/**
 * bash raises the fd limit, then execs taskset, which execs nice, which execs the command: the child's pid
 * is the command's. Without root, nice cannot go below 0 and the command runs at the normal priority.
 */
function spawnPinned(cpu: number, argv: readonly string[]): ChildProcess {
  const script = `ulimit -n "$(ulimit -Hn)"; if [ "$(id -u)" = 0 ]; then exec taskset -c ${cpu} nice -n ${NICE} "$@"; else exec taskset -c ${cpu} "$@"; fi`;
  const child = spawn('bash', ['-c', script, 'bash', ...argv], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

/** Kills every child still running and removes temporary files (synchronous: safe in 'exit'). */
export function killAll(): void {
  for (const child of live) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  live.clear();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

/** Pins the calling process (the orchestrator) to the load generator's CPU, away from the brokers. */
export function pinSelf(cpu: number): void {
  execFileSync('taskset', ['-p', '-c', `${cpu}`, `${process.pid}`], { stdio: 'ignore' });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export interface RunningBroker {
  readonly name: BrokerName;
  readonly pid: number;
  readonly port: number;
  stop(): Promise<void>;
}

export interface BrokerOptions {
  /** Run Mozzie under --cpu-prof, writing the profile into this folder with this file name. */
  readonly cpuProfile?: { readonly dir: string; readonly name: string };
}

/** Mosquitto configured so that its own default limits do not cap the comparison. */
function mosquittoConfig(port: number): string {
  return [
    `listener ${port} 127.0.0.1`,
    'allow_anonymous true',
    // Default 1000 (QoS 0 included in 2.0): raised so no message is dropped for queue length.
    'max_queued_messages 1000000',
    'max_queued_bytes 0',
    // Default 20: raised to Mozzie's default maxInflight.
    'max_inflight_messages 100',
    'max_connections -1',
    'set_tcp_nodelay true',
    'persistence false',
    'sys_interval 0',
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    '',
  ].join('\n');
}

function brokerArgv(name: BrokerName, port: number, options: BrokerOptions): string[] {
  switch (name) {
    case 'mozzie': {
      const prof = options.cpuProfile;
      const flags = prof === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', prof.dir, '--cpu-prof-name', prof.name];
      return [process.execPath, ...flags, join(here, 'servers', 'mozzie.js'), '--port', `${port}`];
    }
    case 'aedes':
      return [process.execPath, join(here, 'servers', 'aedes.js'), '--port', `${port}`];
    case 'mosquitto': {
      const dir = mkdtempSync(join(tmpdir(), 'mozzie-bench-mosquitto-'));
      tempDirs.add(dir);
      const file = join(dir, 'mosquitto.conf');
      writeFileSync(file, mosquittoConfig(port));
      return ['mosquitto', '-c', file];
    }
    default:
      return exhaustive(name);
  }
}

function exhaustive(value: never): never {
  throw new Error(`unknown broker ${String(value)}`);
}

/** Starts a broker on a fresh port and waits until it accepts TCP connections. */
export async function startBroker(name: BrokerName, options: BrokerOptions = {}): Promise<RunningBroker> {
  const port = await freePort();
  const child = spawnPinned(BROKER_CPU, brokerArgv(name, port, options));
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 15_000;
  while (!(await canConnect(port))) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${name} exited at start:\n${output}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${name} did not listen on ${port} within 15 s:\n${output}`);
    }
    await sleep(50);
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${name}: no pid`);
  return {
    name,
    pid,
    port,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(killer);
      }
    },
  };
}

/** Runs one measurement in a fresh load-generator process on the other CPU. */
export async function runLoad(req: LoadRequest, timeoutMs: number): Promise<LoadResult> {
  const child = spawnPinned(LOADGEN_CPU, [process.execPath, join(here, 'loadgen.js'), JSON.stringify(req)]);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => {
    stdout += c.toString();
  });
  child.stderr?.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-4000);
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(timer);
  const line = stdout.split('\n').find((l) => l.startsWith('RESULT '));
  if (code !== 0 || line === undefined) throw new Error(`load generator failed (exit ${String(code)}): ${stderr.trim()}`);
  return JSON.parse(line.slice('RESULT '.length)) as LoadResult;
}
