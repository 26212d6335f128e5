import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { processRssBytes, sleep } from '../broker/measure.js';
import { freePort } from '../broker/processes.js';
import { DurableConn } from './client.js';
import { BROKER_CPU, canConnect, mozzieCliPath, spawnPinned, tempDir } from './processes.js';
import { clientIdOf, retainedTopicOf, type SeedCounts, seedDataDir } from './seed.js';

/**
 * Start-up with a large store: a data directory of 100,000 sessions (two subscriptions each) and
 * 1,000,000 retained messages is written once, then `mozzie broker --data-dir DIR` is started on it
 * (pinned to the broker CPU) and timed until it accepts a TCP connection and answers an MQTT CONNECT.
 * After that a stored session must come back with Session Present and a retained message must be
 * delivered, so a fast start cannot come from skipping work.
 */

export interface StartupRound {
  /** Process spawn to the first accepted TCP connection, ms. */
  readonly listenMs: number;
  /** Process spawn to the first CONNACK, ms. */
  readonly connackMs: number;
  /** The broker's own "store loaded" time (store read + state rebuilt), ms. */
  readonly loadMs: number;
  readonly rssBytes: number;
  readonly peakRssBytes: number;
  readonly sessions: number;
  readonly retained: number;
  readonly checks: readonly string[];
}

export interface StartupResult {
  readonly counts: SeedCounts;
  readonly seedMs: number;
  readonly dbBytes: number;
  /** The same broker on an empty data directory, for reference. */
  readonly empty: StartupRound;
  readonly rounds: readonly StartupRound[];
}

function peakRss(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(status);
    return m?.[1] === undefined ? Number.NaN : Number(m[1]) * 1024;
  } catch {
    return Number.NaN;
  }
}

/** Starts the broker on `dataDir`, times it, checks it, stops it. */
async function startOnce(dataDir: string, check: boolean): Promise<StartupRound> {
  const port = await freePort();
  const began = performance.now();
  const child = spawnPinned(BROKER_CPU, [
    process.execPath,
    mozzieCliPath(),
    'broker',
    '--port',
    `${port}`,
    '--data-dir',
    dataDir,
    '--log-json',
  ]);
  let output = '';
  child.stderr?.on('data', (c: Buffer) => {
    output = (output + c.toString()).slice(-20_000);
  });
  child.stdout?.on('data', (c: Buffer) => {
    output = (output + c.toString()).slice(-20_000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    const deadline = began + 120_000;
    while (!(await canConnect(port))) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`mozzie exited at start:\n${output}`);
      if (performance.now() > deadline) throw new Error(`mozzie did not listen within 120 s:\n${output}`);
      await sleep(5);
    }
    const listenMs = performance.now() - began;
    const probe = await DurableConn.open({ port, clientId: 'startup-probe', clean: true });
    const connackMs = performance.now() - began;
    probe.destroy();
    const pid = child.pid ?? 0;
    const rssBytes = processRssBytes(pid);
    const peakRssBytes = peakRss(pid);
    const loaded = /"msg":"store loaded"[^\n]*|store loaded[^\n]*/.exec(output)?.[0] ?? '';
    const field = (name: string): number => Number(new RegExp(`"${name}":(\\d+)`).exec(loaded)?.[1] ?? Number.NaN);
    const checks: string[] = [];
    if (check) checks.push(...(await verify(port)));
    return {
      listenMs,
      connackMs,
      loadMs: field('ms'),
      rssBytes,
      peakRssBytes,
      sessions: field('sessions'),
      retained: field('retained'),
      checks,
    };
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
    }
  }
}

/** A stored session resumes and a retained message is delivered: the state was really loaded. */
async function verify(port: number): Promise<string[]> {
  const problems: string[] = [];
  let got = 0;
  const id = clientIdOf(42_424);
  const c = await DurableConn.open({ port, clientId: id, clean: false, onPublish: () => undefined });
  if (!c.sessionPresent) problems.push(`${id}: no Session Present`);
  const before = c.received;
  await c.subscribe([retainedTopicOf(777_777)], 0);
  for (let i = 0; i < 100 && c.received === before; i++) await sleep(10);
  got = c.received - before;
  if (got !== 1) problems.push(`retained ${retainedTopicOf(777_777)}: ${got} messages`);
  await c.disconnect();
  return problems.length === 0 ? ['session resumed and retained message delivered'] : problems;
}

export async function startup(counts: SeedCounts, rounds: number, log: (line: string) => void): Promise<StartupResult> {
  const dir = tempDir('mozzie-bench-startup-');
  const dataDir = join(dir, 'data');
  log(
    `start-up: writing ${counts.sessions.toLocaleString('en-US')} sessions and ${counts.retained.toLocaleString('en-US')} retained messages`,
  );
  const s0 = performance.now();
  seedDataDir(dataDir, counts);
  const seedMs = performance.now() - s0;
  const dbBytes = statSync(join(dataDir, 'mozzie.db')).size;
  log(`start-up: seeded in ${(seedMs / 1000).toFixed(1)} s, ${(dbBytes / 2 ** 20).toFixed(0)} MiB`);
  const empty = await startOnce(join(dir, 'empty'), false);
  log(`start-up: empty data dir ready after ${empty.connackMs.toFixed(0)} ms`);
  const results: StartupRound[] = [];
  for (let r = 1; r <= rounds; r++) {
    const round = await startOnce(dataDir, r === 1);
    results.push(round);
    log(
      `start-up round ${r}: listening after ${(round.listenMs / 1000).toFixed(2)} s, CONNACK ${(round.connackMs / 1000).toFixed(2)} s (store loaded in ${round.loadMs} ms: ${round.sessions} sessions, ${round.retained} retained), RSS ${(round.rssBytes / 2 ** 20).toFixed(0)} MiB, peak ${(round.peakRssBytes / 2 ** 20).toFixed(0)} MiB${round.checks.length > 0 ? `; ${round.checks.join('; ')}` : ''}`,
    );
    await sleep(300);
  }
  return { counts, seedMs, dbBytes, empty, rounds: results };
}
