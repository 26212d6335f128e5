import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sleep } from '../broker/measure.js';
import { BROKER_CPU, freePort, LOADGEN_CPU, NICE } from '../broker/processes.js';
import type { LoadRequest, LoadResult, Setup } from './spec.js';

/**
 * Child processes of the durability benchmark: brokers pinned to CPU 0 (each with its state in a fresh
 * temporary directory), load generators pinned to CPU 1. Every child and directory is tracked, so the
 * end of the run, an error or Ctrl-C removes whatever is left.
 */

const here = fileURLToPath(new URL('.', import.meta.url));
/** The `mozzie` command as built (dist/src/cli/main.js), or another build's (--mozzie-cli) to compare. */
let mozzieCli = join(here, '..', '..', 'src', 'cli', 'main.js');

export function useMozzieCli(path: string): void {
  mozzieCli = path;
}

export function mozzieCliPath(): string {
  return mozzieCli;
}

const live = new Set<ChildProcess>();
const tempDirs = new Set<string>();

/** Same recipe as bench/broker: raise the fd limit, pin with taskset, renice when root. */
export function spawnPinned(cpu: number, argv: readonly string[]): ChildProcess {
  const script = `ulimit -n "$(ulimit -Hn)"; if [ "$(id -u)" = 0 ]; then exec taskset -c ${cpu} nice -n ${NICE} "$@"; else exec taskset -c ${cpu} "$@"; fi`;
  const child = spawn('bash', ['-c', script, 'bash', ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

/** Kills every child still running and removes the temporary directories (synchronous: safe in 'exit'). */
export function killAll(): void {
  for (const child of live) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  live.clear();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * Mosquitto with `persistence true` (state in the run's temporary directory; autosave_interval and
 * autosave_on_changes left at their defaults), its queue and in-flight limits raised as for Mozzie.
 */
function mosquittoConfig(port: number, dir: string): string {
  return [
    `listener ${port} 127.0.0.1`,
    'allow_anonymous true',
    'persistence true',
    `persistence_location ${dir}/`,
    'max_queued_messages 1000000',
    'max_queued_bytes 0',
    'max_inflight_messages 100',
    'max_connections -1',
    'set_tcp_nodelay true',
    'sys_interval 0',
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    '',
  ].join('\n');
}

/** `mozzie broker` as a user runs it, with a config file for what has no flag (sync, queue limit, $SYS). */
function mozzieConfig(port: number, dir: string, setup: Setup): string {
  const store =
    setup === 'mozzie-memory'
      ? { type: 'memory' }
      : { type: 'sqlite', dataDir: join(dir, 'data'), sync: setup === 'mozzie-full' ? 'full' : 'normal' };
  return JSON.stringify({
    listeners: [{ type: 'tcp', host: '127.0.0.1', port }],
    store,
    limits: { maxQueuedMessages: 1_000_000 },
    sys: { interval: 0 },
    log: { level: 'warn' },
  });
}

export interface BrokerOptions {
  /** Run Mozzie under --cpu-prof, writing the profile into this folder with this file name. */
  readonly cpuProfile?: { readonly dir: string; readonly name: string };
}

function brokerArgv(setup: Setup, port: number, dir: string, options: BrokerOptions): string[] {
  if (setup === 'mosquitto') {
    // Started as root, Mosquitto drops to its own user: it must be able to write its state here.
    chmodSync(dir, 0o777);
    const file = join(dir, 'mosquitto.conf');
    writeFileSync(file, mosquittoConfig(port, dir));
    return ['mosquitto', '-c', file];
  }
  const file = join(dir, 'mozzie.json');
  writeFileSync(file, mozzieConfig(port, dir, setup));
  const prof = options.cpuProfile;
  const flags = prof === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', prof.dir, '--cpu-prof-name', prof.name];
  return [process.execPath, ...flags, mozzieCli, 'broker', '--config', file];
}

export interface RunningBroker {
  readonly pid: number;
  readonly port: number;
  stop(): Promise<void>;
}

/** Starts a broker in a fresh state directory and waits until it accepts TCP connections. */
export async function startBroker(setup: Setup, options: BrokerOptions = {}): Promise<RunningBroker> {
  const port = await freePort();
  const dir = tempDir(`mozzie-bench-durability-${setup}-`);
  const child = spawnPinned(BROKER_CPU, brokerArgv(setup, port, dir, options));
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 15_000;
  while (!(await canConnect(port))) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${setup} exited at start:\n${output}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${setup} did not listen on ${port} within 15 s:\n${output}`);
    }
    await sleep(50);
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${setup}: no pid`);
  return {
    pid,
    port,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(killer);
      }
      removeDir(dir);
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

export { BROKER_CPU, LOADGEN_CPU };
