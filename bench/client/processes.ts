import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Child processes of the client benchmark: Mosquitto pinned to CPU 0, measured processes pinned to CPU 1,
 * both at the same raised priority when running as root (other work on a shared machine then takes less
 * of their CPU; the foreign-CPU check below catches what it still takes). Every child is tracked so that
 * the end of the run, an error or Ctrl-C kills whatever is left.
 */

export const BROKER_CPU = 0;
export const CLIENT_CPU = 1;
const NICE = -10;

const live = new Set<ChildProcess>();
const tempDirs = new Set<string>();

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** argv run pinned to `cpu` (and at NICE when root), as a direct child (exec: its pid is the command's). */
export function pinnedArgv(cpu: number, argv: readonly string[]): string[] {
  return isRoot() ? ['taskset', '-c', `${cpu}`, 'nice', '-n', `${NICE}`, ...argv] : ['taskset', '-c', `${cpu}`, ...argv];
}

export function spawnPinned(cpu: number, argv: readonly string[]): ChildProcess {
  const [command, ...args] = pinnedArgv(cpu, argv);
  const child = spawn(command as string, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

export function killAll(): void {
  for (const child of live) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  live.clear();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
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

export function findMosquitto(): string {
  for (const path of ['/usr/sbin/mosquitto', '/usr/local/sbin/mosquitto', '/usr/bin/mosquitto']) if (existsSync(path)) return path;
  throw new Error('mosquitto not found (Debian: apt-get install mosquitto)');
}

export function mosquittoVersion(path: string): string {
  try {
    const out = execFileSync(path, ['-h'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return /mosquitto version (\S+)/.exec(out)?.[1] ?? 'unknown';
  } catch (err) {
    // `mosquitto -h` exits 3 after printing its usage.
    const out = String((err as { stdout?: unknown }).stdout ?? '');
    return /mosquitto version (\S+)/.exec(out)?.[1] ?? 'unknown';
  }
}

/**
 * The Mosquitto configuration: the listener and anonymous access, plus two settings without which the
 * broker, not the client, sets the QoS 1 rate for both libraries alike:
 * - set_tcp_nodelay: otherwise Nagle holds each PUBACK until the previous one is acknowledged, and a
 *   window of PUBACKs waits on delayed ACKs (about 2,000 msg/s for either client);
 * - max_inflight_messages: MQTT 5 clients are told it as Receive Maximum (default 20). Mozzie's client
 *   honours that and MQTT.js does not, so it is raised above the window both use.
 */
export const MOSQUITTO_SETTINGS = ['allow_anonymous true', 'set_tcp_nodelay true', 'max_inflight_messages 1000', 'persistence false'];

export interface RunningBroker {
  readonly pid: number;
  readonly port: number;
  stop(): Promise<void>;
}

/** Starts Mosquitto on a free port with `listener PORT 127.0.0.1` and `settings` (default MOSQUITTO_SETTINGS). */
export async function startMosquitto(path: string, settings: readonly string[] = MOSQUITTO_SETTINGS): Promise<RunningBroker> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'mozzie-bench-client-'));
  tempDirs.add(dir);
  const file = join(dir, 'mosquitto.conf');
  writeFileSync(file, [`listener ${port} 127.0.0.1`, ...settings, 'log_dest stderr', 'log_type error', ''].join('\n'));
  const child = spawnPinned(BROKER_CPU, [path, '-c', file]);
  let output = '';
  child.stderr?.on('data', (c: Buffer) => {
    output = (output + c.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 10_000;
  while (!(await canConnect(port))) {
    if (child.exitCode !== null) throw new Error(`mosquitto exited at start:\n${output}`);
    if (Date.now() > deadline) throw new Error(`mosquitto did not listen on ${port} within 10 s:\n${output}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error('mosquitto: no pid');
  return {
    pid,
    port,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}

/** The null broker (sink.ts), pinned like Mosquitto. */
export async function startSink(): Promise<RunningBroker> {
  const port = await freePort();
  const script = fileURLToPath(new URL('./sink.js', import.meta.url));
  const child = spawnPinned(BROKER_CPU, [process.execPath, script, String(port)]);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 10_000;
  while (!(await canConnect(port))) {
    if (child.exitCode !== null) throw new Error('the null broker exited at start');
    if (Date.now() > deadline) throw new Error(`the null broker did not listen on ${port} within 10 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error('null broker: no pid');
  return {
    pid,
    port,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}

/** Busy time (user, nice, system, irq, softirq) of each CPU in clock ticks, from /proc/stat. */
export function cpuBusyTicks(): number[] {
  try {
    return readFileSync('/proc/stat', 'utf8')
      .split('\n')
      .filter((l) => /^cpu\d+ /.test(l))
      .map((l) => {
        const f = l.trim().split(/\s+/).slice(1).map(Number);
        return (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0);
      });
  } catch {
    return [];
  }
}

/** Nanoseconds the process has run on a CPU (/proc/PID/schedstat), or -1. */
export function processCpuNanos(pid: number): number {
  if (pid <= 0) return -1;
  try {
    return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]);
  } catch {
    return -1;
  }
}
