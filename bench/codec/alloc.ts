import { Buffer } from 'node:buffer';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { getHeapStatistics } from 'node:v8';
import { Framer } from '../../src/protocol/framer.js';
import type { Packet } from '../../src/protocol/packet.js';
import { smallPublishCase } from './cases.js';
import { checkCase } from './check.js';
import { streamOf, theirParser } from './workloads.js';

/**
 * Allocation while framing a long stream of small PUBLISH packets (QoS 0, 16-byte payload, 3.1.1).
 *
 * Method: this file runs in its own process, started with --expose-gc and a 128 MiB young generation
 * (--min/--max-semi-space-size) so that a whole measured window fits in new space without a scavenge.
 * Before each window: gc() twice; then V8's used_heap_size (all spaces) and process.memoryUsage().arrayBuffers
 * are read before and after. With no GC inside the window (checked with a PerformanceObserver on 'gc'
 * entries; a window with a GC is discarded and retried), the delta is exactly the bytes allocated on the
 * JS heap. Code is warmed first so JIT output (code space) does not land in the window.
 *
 * A baseline builds, from the same chunk, just the objects a decoded packet consists of (the packet
 * object, its topic string, its payload view). Framer minus baseline is what framing costs per packet
 * beyond the packet itself.
 */

export interface AllocationResult {
  readonly name: string;
  /** Median over the windows of heap bytes allocated per packet. */
  readonly heapBytesPerPacket: number;
  readonly minHeapBytesPerPacket: number;
  readonly maxHeapBytesPerPacket: number;
  /** ArrayBuffer backing-store bytes (outside the JS heap) allocated per packet. */
  readonly arrayBufferBytesPerPacket: number;
  readonly windows: number;
  readonly discardedWindows: number;
}

export interface AllocationReport {
  readonly packetBytes: number;
  readonly packetsPerChunk: number;
  readonly chunkBytes: number;
  readonly packetsPerWindow: number;
  readonly results: readonly AllocationResult[];
}

const WINDOWS = 7;
const CHUNKS_PER_WINDOW = 50;
const WARMUP_CHUNKS = 400;

type Step = () => void;

function runtimeGc(): () => void {
  const gc: unknown = Reflect.get(globalThis, 'gc');
  if (typeof gc !== 'function') throw new Error('run with --expose-gc (bench/codec/run.js starts this file that way)');
  return () => Reflect.apply(gc, undefined, []);
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

async function measure(name: string, step: Step, packetsPerStep: number, gc: () => void): Promise<AllocationResult> {
  const gcTimes: number[] = [];
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcTimes.push(e.startTime);
  });
  observer.observe({ entryTypes: ['gc'] });
  for (let i = 0; i < WARMUP_CHUNKS; i++) step();

  const perPacket: number[] = [];
  const external: number[] = [];
  let discarded = 0;
  const packets = packetsPerStep * CHUNKS_PER_WINDOW;
  while (perPacket.length < WINDOWS && discarded < 20) {
    gc();
    gc();
    await tick();
    const ab0 = process.memoryUsage().arrayBuffers;
    const t0 = performance.now();
    const h0 = getHeapStatistics().used_heap_size;
    for (let i = 0; i < CHUNKS_PER_WINDOW; i++) step();
    const h1 = getHeapStatistics().used_heap_size;
    const t1 = performance.now();
    const ab1 = process.memoryUsage().arrayBuffers;
    await tick();
    if (gcTimes.some((t) => t >= t0 && t <= t1)) {
      discarded++;
      continue;
    }
    perPacket.push((h1 - h0) / packets);
    external.push((ab1 - ab0) / packets);
  }
  observer.disconnect();
  if (perPacket.length === 0) throw new Error(`${name}: every window saw a GC; raise --max-semi-space-size`);
  const sorted = [...perPacket].sort((a, b) => a - b);
  return {
    name,
    heapBytesPerPacket: sorted[sorted.length >> 1] as number,
    minHeapBytesPerPacket: sorted[0] as number,
    maxHeapBytesPerPacket: sorted[sorted.length - 1] as number,
    arrayBufferBytesPerPacket: Math.max(...external),
    windows: perPacket.length,
    discardedWindows: discarded,
  };
}

/** Builds only what a decoded small PUBLISH consists of, reading the same bytes the framer reads. */
function baselineStep(chunk: Buffer, packetLength: number, topicLength: number, keep: { last: unknown }): Step {
  return () => {
    for (let pos = 0; pos < chunk.length; pos += packetLength) {
      const topicStart = pos + 4;
      const payloadStart = topicStart + topicLength;
      keep.last = {
        type: 3,
        topic: chunk.toString('latin1', topicStart, payloadStart),
        payload: chunk.subarray(payloadStart, pos + packetLength),
        qos: 0,
        retain: false,
        dup: false,
      };
    }
  };
}

export async function measureAllocation(): Promise<AllocationReport> {
  const gc = runtimeGc();
  const c = smallPublishCase();
  const { bytes } = checkCase(c);
  if (c.ours.type !== 3 || bytes.length > 129) throw new Error('the allocation case must be a small PUBLISH');
  const { chunk, count } = streamOf(bytes, 64 * 1024, 16);
  const keep: { last: unknown } = { last: undefined };
  const sink = (p: Packet): void => {
    keep.last = p;
  };
  const framer = new Framer({ protocolVersion: c.version });
  const parser = theirParser(c.version, (p) => {
    keep.last = p;
  });
  const topicLength = Buffer.byteLength(c.ours.topic);
  const results = [
    await measure('packet objects alone (baseline)', baselineStep(chunk, bytes.length, topicLength, keep), count, gc),
    await measure('mozzie Framer.push', () => framer.push(chunk, sink), count, gc),
    await measure('mqtt-packet parser.parse', () => parser.parse(chunk), count, gc),
  ];
  return {
    packetBytes: bytes.length,
    packetsPerChunk: count,
    chunkBytes: chunk.length,
    packetsPerWindow: count * CHUNKS_PER_WINDOW,
    results,
  };
}

/** Flags the allocation process needs; run.ts starts this file with them. */
export const ALLOCATION_NODE_FLAGS: readonly string[] = ['--expose-gc', '--min-semi-space-size=128', '--max-semi-space-size=128'];

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.stdout.write(`${JSON.stringify(await measureAllocation())}\n`);
}
