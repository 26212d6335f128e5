import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

/** How a child process ended. */
export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface SpawnOptions {
  /** Written to stdin, which is then closed. Without it stdin stays open until `closeStdin()`. */
  readonly stdin?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Hard limit on the process's life: it is killed with SIGKILL after this (default 10 s). */
  readonly lifetimeMs?: number;
}

/**
 * A child process a test started, with its output collected. It is killed in the test's cleanup if still
 * running, and killed anyway once its lifetime runs out, so no test can leave one behind or hang on one.
 */
export class Spawned {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<ExitInfo>;
  private exitInfo: ExitInfo | undefined;
  private watchers: (() => void)[] = [];
  private readonly lifetime: NodeJS.Timeout;

  constructor(
    readonly command: string,
    readonly args: readonly string[],
    options: SpawnOptions = {},
  ) {
    this.child = spawn(command, [...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: options.env ?? process.env,
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    });
    this.child.stdout?.setEncoding('utf8');
    this.child.stderr?.setEncoding('utf8');
    this.child.stdout?.on('data', (s: string) => {
      this.stdout += s;
      this.notify();
    });
    this.child.stderr?.on('data', (s: string) => {
      this.stderr += s;
      this.notify();
    });
    // A child that exits before reading stdin makes writes fail with EPIPE: that is not the test's concern.
    this.child.stdin?.on('error', () => undefined);
    this.exited = new Promise<ExitInfo>((resolve) => {
      const done = (code: number | null, signal: NodeJS.Signals | null) => {
        this.exitInfo = { code, signal };
        clearTimeout(this.lifetime);
        this.notify();
        resolve(this.exitInfo);
      };
      this.child.once('close', done);
      this.child.once('error', (err) => {
        this.stderr += `spawn error: ${err.message}\n`;
        done(null, null);
      });
    });
    this.lifetime = setTimeout(() => this.child.kill('SIGKILL'), options.lifetimeMs ?? 10_000);
    if (options.stdin !== undefined) this.child.stdin?.end(options.stdin);
  }

  get running(): boolean {
    return this.exitInfo === undefined;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  closeStdin(): void {
    this.child.stdin?.end();
  }

  private notify(): void {
    for (const w of [...this.watchers]) w();
  }

  /**
   * Waits until `pattern` shows in stdout, stderr or either ('both'); resolves with the match. Rejects
   * when the process exits first or after `timeoutMs`, with its output in the message.
   */
  waitFor(pattern: RegExp | string, where: 'stdout' | 'stderr' | 'both' = 'both', timeoutMs = 5000): Promise<RegExpMatchArray> {
    const re = typeof pattern === 'string' ? new RegExp(pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : pattern;
    const look = (): RegExpMatchArray | null => {
      const text = where === 'stdout' ? this.stdout : where === 'stderr' ? this.stderr : `${this.stdout}\n${this.stderr}`;
      return text.match(re);
    };
    return new Promise((resolve, reject) => {
      const check = () => {
        const m = look();
        if (m !== null) {
          finish();
          resolve(m);
        } else if (this.exitInfo !== undefined) {
          finish();
          reject(new Error(`${this.describe()} exited (${this.exitLabel()}) before printing ${re}\n${this.output()}`));
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`${this.describe()} did not print ${re} within ${timeoutMs} ms\n${this.output()}`));
      }, timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        this.watchers = this.watchers.filter((w) => w !== check);
      };
      this.watchers.push(check);
      check();
    });
  }

  /** Waits for the process to exit by itself; kills it and rejects after `timeoutMs`. */
  async exit(timeoutMs = 5000): Promise<ExitInfo> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const result = await Promise.race([this.exited, timeout]);
    clearTimeout(timer);
    if (result === 'timeout') {
      await this.kill('SIGKILL');
      throw new Error(`${this.describe()} still running after ${timeoutMs} ms; killed\n${this.output()}`);
    }
    return result;
  }

  /** Sends `signal` and waits for the exit; escalates to SIGKILL after `graceMs`. Safe to call twice. */
  async kill(signal: NodeJS.Signals = 'SIGTERM', graceMs = 3000): Promise<ExitInfo> {
    if (this.exitInfo !== undefined) return this.exitInfo;
    this.child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<'grace'>((resolve) => {
      timer = setTimeout(() => resolve('grace'), graceMs);
    });
    const result = await Promise.race([this.exited, grace]);
    clearTimeout(timer);
    if (result !== 'grace') return result;
    this.child.kill('SIGKILL');
    return this.exited;
  }

  describe(): string {
    return `${this.command} ${this.args.join(' ')}`;
  }

  private exitLabel(): string {
    const e = this.exitInfo;
    if (e === undefined) return 'running';
    return e.signal === null ? `code ${e.code}` : `signal ${e.signal}`;
  }

  /** stdout and stderr, for assertion messages. */
  output(): string {
    return `--- stdout ---\n${this.stdout}--- stderr ---\n${this.stderr}`;
  }
}

/** Starts a process that is killed (SIGKILL) in the test's cleanup if it is still running then. */
export function spawnTracked(t: TestContext, command: string, args: readonly string[], options: SpawnOptions = {}): Spawned {
  // Without a working directory of its own, a process runs in a fresh temporary one: nothing a test
  // starts (a broker's ./mozzie-data, say) lands in the repository or meets another test's files.
  const scratch = options.cwd === undefined ? mkdtempSync(join(tmpdir(), 'mozzie-child-')) : undefined;
  const p = new Spawned(command, args, scratch === undefined ? options : { ...options, cwd: scratch });
  t.after(async () => {
    await p.kill('SIGKILL', 2000);
    if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
  });
  return p;
}

/** Polls `condition` every few milliseconds until it holds; rejects after `timeoutMs` with `what`. */
export async function waitUntil(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
