import { Buffer } from 'node:buffer';
import { performance } from 'node:perf_hooks';
import { Conn, Counter, encodePublish, noop } from './client.js';
import { cpuBetween, snapshot } from './measure.js';
import type { LoadRequest, LoadResult } from './spec.js';
import { PAYLOAD_16 } from './throughput.js';

const RETAINED = 100_000;
const INFLIGHT = 200;
const TIMEOUT_MS = 90_000;

/**
 * g) 100,000 retained messages (topics r/A/B, A < 100, B < 1000, 16 B, published at QoS 1 with 200
 * unacknowledged, so every one is stored before the next step), then a new client subscribes to r/#
 * at QoS 0: the time from its SUBSCRIBE until the last retained message arrives.
 */
export async function retainedBacklog(req: LoadRequest): Promise<LoadResult> {
  const packets: Buffer[] = [];
  const idOffsets: number[] = [];
  for (let i = 0; i < RETAINED; i++) {
    const topic = `r/${i % 100}/${Math.floor(i / 100)}`;
    const p = encodePublish(topic, PAYLOAD_16, 1, true, 1);
    packets.push(p);
    idOffsets.push(p.length - PAYLOAD_16.length - 2);
  }
  let next = 0;
  let acked = 0;
  const freed: number[] = [];
  let stored: () => void = noop;
  const allStored = new Promise<void>((resolve) => {
    stored = resolve;
  });
  const sendWith = (ids: readonly number[]): Buffer[] => {
    const out: Buffer[] = [];
    for (const id of ids) {
      if (next >= RETAINED) break;
      const p = packets[next] as Buffer;
      const o = idOffsets[next] as number;
      p[o] = id >>> 8;
      p[o + 1] = id & 0xff;
      out.push(p);
      next++;
    }
    return out;
  };
  const pub = await Conn.open({
    port: req.port,
    clientId: 'g-pub',
    onPuback: (_c, id) => {
      freed.push(id);
      acked++;
    },
    afterData: (c) => {
      if (acked >= RETAINED) stored();
      if (freed.length === 0) return;
      const out = sendWith(freed);
      freed.length = 0;
      if (out.length > 0) c.write(Buffer.concat(out));
    },
  });
  const s0 = snapshot(req.brokerPid);
  pub.write(Buffer.concat(sendWith(Array.from({ length: INFLIGHT }, (_, i) => i + 1))));
  await withTimeout(allStored, TIMEOUT_MS, 'storing retained messages');
  const s1 = snapshot(req.brokerPid);
  const storeSeconds = (s1.at - s0.at) / 1000;

  const counter = new Counter();
  let done: () => void = noop;
  const allDelivered = new Promise<void>((resolve) => {
    done = resolve;
  });
  let firstAt = 0;
  const sub = await Conn.open({
    port: req.port,
    clientId: 'g-sub',
    counter,
    afterData: () => {
      if (firstAt === 0 && counter.received > 0) firstAt = performance.now();
      if (counter.received >= RETAINED) done();
    },
  });
  const s2 = snapshot(req.brokerPid);
  sub.subscribe(['r/#'], 0).catch(noop);
  let timedOut = false;
  try {
    await withTimeout(allDelivered, TIMEOUT_MS, 'delivering retained messages');
  } catch {
    timedOut = true;
  }
  const s3 = snapshot(req.brokerPid);
  const deliver = cpuBetween(s2, s3);
  pub.destroy();
  sub.destroy();
  return {
    metrics: {
      storeRate: RETAINED / storeSeconds,
      deliverSeconds: timedOut ? Number.NaN : deliver.seconds,
      deliverRate: counter.received / deliver.seconds,
      firstMs: firstAt === 0 ? Number.NaN : firstAt - s2.at,
    },
    loadgenCpu: deliver.loadgenCpu,
    brokerCpu: deliver.brokerCpu,
    foreignCpu: deliver.foreignCpu,
    notes: [
      `stored in ${storeSeconds.toFixed(2)} s`,
      `first after ${firstAt === 0 ? '-' : (firstAt - s2.at).toFixed(0)} ms`,
      ...(timedOut ? [`timed out with ${counter.received} delivered`] : []),
    ],
  };
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out ${what} after ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
