import { Buffer } from 'node:buffer';
import { performance } from 'node:perf_hooks';
import { Counter, encodePublish, noop, openMany } from './client.js';
import { type Batch, SharedWindowFlood } from './flood.js';
import { cpuBetween, sleep, snapshot } from './measure.js';
import type { LoadRequest, LoadResult } from './spec.js';
import { PAYLOAD_16 } from './throughput.js';

/**
 * f) 100,000 subscriptions: 1,000 clients with 100 filters each over the topic space f/X/Y/Z
 * (X, Y < 100, Z < 10: 100,000 topics). Filters mix exact names (87%), f/X/+/Z (5%), f/X/Y/+ (6%),
 * f/X/# (1%) and f/+/Y/# (1%); no two filters of one client overlap, so each match is one delivery
 * whatever a broker's policy for overlapping subscriptions. Publishers then send to topics drawn at
 * random from the whole space (a pool of 100,000 draws), so match caches see few repeats.
 */

const CLIENTS = 1000;
const FILTERS_PER_CLIENT = 100;
const PUBLISHERS = 10;
const POOL = 100_000;
const PUBLISHES_PER_BATCH = 20;
const WINDOW = 20_000;

/** Deterministic PRNG (mulberry32) so every broker gets the same filters and topics. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A filter as the four levels of the topics it matches ('+' for any). */
type Shape = readonly [string, string, string, string];

interface Workload {
  readonly filters: readonly (readonly string[])[];
  /** Subscriptions matching each topic, by topic. */
  readonly counts: Map<string, number>;
}

function makeFilter(rand: () => number): { filter: string; shape: Shape } {
  const x = `${Math.floor(rand() * 100)}`;
  const y = `${Math.floor(rand() * 100)}`;
  const z = `${Math.floor(rand() * 10)}`;
  const r = rand();
  if (r < 0.87) return { filter: `f/${x}/${y}/${z}`, shape: [x, y, z, ''] };
  if (r < 0.92) return { filter: `f/${x}/+/${z}`, shape: [x, '+', z, ''] };
  if (r < 0.98) return { filter: `f/${x}/${y}/+`, shape: [x, y, '+', ''] };
  if (r < 0.99) return { filter: `f/${x}/#`, shape: [x, '+', '+', ''] };
  return { filter: `f/+/${y}/#`, shape: ['+', y, '+', ''] };
}

function overlaps(a: Shape, b: Shape): boolean {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i] && a[i] !== '+' && b[i] !== '+') return false;
  return true;
}

export function makeWorkload(seed = 42): Workload {
  const rand = prng(seed);
  const filters: string[][] = [];
  const counts = new Map<string, number>();
  for (let c = 0; c < CLIENTS; c++) {
    const mine: string[] = [];
    const shapes: Shape[] = [];
    while (mine.length < FILTERS_PER_CLIENT) {
      const { filter, shape } = makeFilter(rand);
      if (shapes.some((s) => overlaps(s, shape))) continue;
      shapes.push(shape);
      mine.push(filter);
      counts.set(filter, (counts.get(filter) ?? 0) + 1);
    }
    filters.push(mine);
  }
  return { filters, counts };
}

function fanout(counts: Map<string, number>, x: number, y: number, z: number): number {
  const candidates = [`f/${x}/${y}/${z}`, `f/${x}/+/${z}`, `f/${x}/${y}/+`, `f/${x}/#`, `f/+/${y}/#`];
  let n = 0;
  for (const f of candidates) n += counts.get(f) ?? 0;
  return n;
}

/** The pool of random publishes, cut into batches dealt round-robin to the publishers. */
function makeBatches(counts: Map<string, number>, seed = 7): { batches: Batch[][]; meanFanout: number } {
  const rand = prng(seed);
  const batches: Batch[][] = Array.from({ length: PUBLISHERS }, () => []);
  let total = 0;
  for (let b = 0; b < POOL / PUBLISHES_PER_BATCH; b++) {
    const packets: Buffer[] = [];
    let deliveries = 0;
    for (let k = 0; k < PUBLISHES_PER_BATCH; k++) {
      const x = Math.floor(rand() * 100);
      const y = Math.floor(rand() * 100);
      const z = Math.floor(rand() * 10);
      packets.push(encodePublish(`f/${x}/${y}/${z}`, PAYLOAD_16, 0));
      deliveries += fanout(counts, x, y, z);
    }
    total += deliveries;
    (batches[b % PUBLISHERS] as Batch[]).push({ buf: Buffer.concat(packets), messages: PUBLISHES_PER_BATCH, deliveries });
  }
  return { batches, meanFanout: total / POOL };
}

export async function wildcardRouting(req: LoadRequest): Promise<LoadResult> {
  const { filters, counts } = makeWorkload();
  const { batches, meanFanout } = makeBatches(counts);
  const counter = new Counter();
  let pump: () => void = noop;
  const subs = await openMany(CLIENTS, 50, (i) => ({ port: req.port, clientId: `f-sub-${i}`, counter, afterData: () => pump() }));
  const t0 = performance.now();
  await Promise.all(subs.map((s, i) => s.subscribe(filters[i] as readonly string[], 0)));
  const subscribeSeconds = (performance.now() - t0) / 1000;
  const pubs = await openMany(PUBLISHERS, PUBLISHERS, (i) => ({ port: req.port, clientId: `f-pub-${i}`, onDrain: () => pump() }));
  const flood = new SharedWindowFlood(pubs, batches, WINDOW, counter);
  pump = flood.pump;
  flood.pump();
  await sleep(req.warmupMs);
  const p0 = flood.published;
  const d0 = counter.received;
  const s0 = snapshot(req.brokerPid);
  await sleep(req.durationMs);
  const p1 = flood.published;
  const d1 = counter.received;
  const s1 = snapshot(req.brokerPid);
  const cpu = cpuBetween(s0, s1);
  flood.stop();
  for (const c of [...pubs, ...subs]) c.destroy();
  return {
    metrics: {
      subscribeRate: (CLIENTS * FILTERS_PER_CLIENT) / subscribeSeconds,
      matched: (p1 - p0) / cpu.seconds,
      delivered: (d1 - d0) / cpu.seconds,
    },
    loadgenCpu: cpu.loadgenCpu,
    brokerCpu: cpu.brokerCpu,
    foreignCpu: cpu.foreignCpu,
    notes: [
      `mean fan-out ${meanFanout.toFixed(1)}`,
      `subscribe ${subscribeSeconds.toFixed(2)} s`,
      ...(flood.lost > 0 ? [`lost ${flood.lost} of ${flood.expected}`] : []),
    ],
  };
}
