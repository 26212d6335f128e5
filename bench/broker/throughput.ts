import { Buffer } from 'node:buffer';
import { Conn, Counter, encodePublish, noop, openMany, pubacks, publishPacketId, repeat } from './client.js';
import { type Batch, PairFlood, SharedWindowFlood } from './flood.js';
import { measureRate } from './measure.js';
import type { LoadRequest, LoadResult } from './spec.js';

/** Scenarios a, b and c: steady QoS 0 / QoS 1 throughput, counted at the subscribers. */

/** Writes of about this many bytes per publisher call: what a busy client's socket hands a broker. */
const BATCH_BYTES = 4096;
/** Outstanding bytes towards one subscriber: well under every broker's outbound high-water mark. */
const WINDOW_BYTES = 512 * 1024;

export const PAYLOAD_16 = Buffer.alloc(16, 0x61);
const PAYLOAD_1K = Buffer.alloc(1024, 0x62);

function lossNote(lost: number, expected: number): string[] {
  return lost > 0 ? [`lost ${lost} of ${expected} (${((lost / Math.max(1, expected)) * 100).toFixed(2)}%)`] : [];
}

/** a) 100 publishers, each on its own topic, one subscriber to `bench/a/+`. */
export async function fanIn(req: LoadRequest, payloadBytes: 16 | 1024): Promise<LoadResult> {
  const payload = payloadBytes === 16 ? PAYLOAD_16 : PAYLOAD_1K;
  const counter = new Counter();
  let pump: () => void = noop;
  const sub = await Conn.open({ port: req.port, clientId: 'a-sub', counter, afterData: () => pump() });
  await sub.subscribe(['bench/a/+'], 0);
  const pubs = await openMany(100, 20, (i) => ({ port: req.port, clientId: `a-pub-${i}`, onDrain: () => pump() }));
  const batches = pubs.map((_, i): Batch[] => {
    const packet = encodePublish(`bench/a/${i}`, payload, 0);
    const n = Math.max(1, Math.floor(BATCH_BYTES / packet.length));
    return [{ buf: repeat(packet, n), messages: n, deliveries: n }];
  });
  const packetBytes = (batches[0]?.[0]?.buf.length ?? 1) / (batches[0]?.[0]?.messages ?? 1);
  const window = Math.min(20_000, Math.floor(WINDOW_BYTES / packetBytes));
  const flood = new SharedWindowFlood(pubs, batches, window, counter);
  pump = flood.pump;
  flood.pump();
  const r = await measureRate(() => counter.received, req.brokerPid, req.warmupMs, req.durationMs);
  flood.stop();
  for (const c of [sub, ...pubs]) c.destroy();
  return {
    metrics: { delivered: r.rate },
    loadgenCpu: r.loadgenCpu,
    brokerCpu: r.brokerCpu,
    foreignCpu: r.foreignCpu,
    notes: [`window ${window} msgs`, ...lossNote(flood.lost, flood.expected)],
  };
}

/** b) one publisher, 1,000 subscribers of its topic. */
export async function fanOut(req: LoadRequest): Promise<LoadResult> {
  const subscribers = 1000;
  const counter = new Counter();
  let pump: () => void = noop;
  const subs = await openMany(subscribers, 50, (i) => ({ port: req.port, clientId: `b-sub-${i}`, counter, afterData: () => pump() }));
  await Promise.all(subs.map((s) => s.subscribe(['bench/b'], 0)));
  const pub = await Conn.open({ port: req.port, clientId: 'b-pub', onDrain: () => pump() });
  const perBatch = 10;
  const batch: Batch = {
    buf: repeat(encodePublish('bench/b', PAYLOAD_16, 0), perBatch),
    messages: perBatch,
    deliveries: perBatch * subscribers,
  };
  // 100 messages outstanding per subscriber.
  const flood = new SharedWindowFlood([pub], [[batch]], 100 * subscribers, counter);
  pump = flood.pump;
  flood.pump();
  const r = await measureRate(() => counter.received, req.brokerPid, req.warmupMs, req.durationMs);
  flood.stop();
  for (const c of [pub, ...subs]) c.destroy();
  return {
    metrics: { delivered: r.rate, published: r.rate / subscribers },
    loadgenCpu: r.loadgenCpu,
    brokerCpu: r.brokerCpu,
    foreignCpu: r.foreignCpu,
    notes: lossNote(flood.lost, flood.expected),
  };
}

async function openPairs(req: LoadRequest, pairs: number, qos: 0 | 1, hooks: PairHooks): Promise<{ pubs: Conn[]; subs: Conn[] }> {
  const subs = await openMany(pairs, 50, (i) => ({
    port: req.port,
    clientId: `c-sub-${i}`,
    counter: hooks.counter,
    afterData: hooks.subAfterData,
    ...(hooks.onPublish === undefined ? {} : { onPublish: hooks.onPublish }),
  }));
  subs.forEach((s, i) => {
    s.index = i;
  });
  await Promise.all(subs.map((s, i) => s.subscribe([`bench/c/${i}`], qos)));
  const pubs = await openMany(pairs, 50, (i) => ({
    port: req.port,
    clientId: `c-pub-${i}`,
    onDrain: hooks.pubDrain,
    ...(hooks.pubAfterData === undefined ? {} : { afterData: hooks.pubAfterData }),
    ...(hooks.onPuback === undefined ? {} : { onPuback: hooks.onPuback }),
  }));
  pubs.forEach((p, i) => {
    p.index = i;
  });
  return { pubs, subs };
}

interface PairHooks {
  readonly counter: Counter;
  readonly subAfterData: (c: Conn) => void;
  readonly pubDrain: (c: Conn) => void;
  readonly onPublish?: (c: Conn, buf: Buffer, first: number, bodyStart: number, end: number) => void;
  readonly pubAfterData?: (c: Conn) => void;
  readonly onPuback?: (c: Conn, packetId: number) => void;
}

const PAIRS = 500;

/** c) 500 publisher/subscriber pairs at QoS 0, each pair with its own topic and a window of 64. */
export async function pairsQos0(req: LoadRequest): Promise<LoadResult> {
  const counter = new Counter();
  let activity: (c: Conn) => void = noop;
  const { pubs, subs } = await openPairs(req, PAIRS, 0, {
    counter,
    subAfterData: (c) => activity(c),
    pubDrain: (c) => activity(c),
  });
  const batches = pubs.map(
    (_, i): Batch => ({ buf: repeat(encodePublish(`bench/c/${i}`, PAYLOAD_16, 0), 16), messages: 16, deliveries: 16 }),
  );
  const flood = new PairFlood(pubs, subs, batches, 64);
  activity = flood.onActivity;
  flood.start();
  const r = await measureRate(() => counter.received, req.brokerPid, req.warmupMs, req.durationMs);
  flood.stop();
  const sent = pubs.reduce((n, p) => n + p.sent, 0);
  for (const c of [...pubs, ...subs]) c.destroy();
  return {
    metrics: { delivered: r.rate },
    loadgenCpu: r.loadgenCpu,
    brokerCpu: r.brokerCpu,
    foreignCpu: r.foreignCpu,
    notes: lossNote(flood.lost, sent),
  };
}

/**
 * c) 500 pairs at QoS 1: each publisher keeps 32 PUBLISH unacknowledged (a new one per PUBACK), each
 * subscriber acknowledges every PUBLISH it gets, batched per socket read.
 */
export async function pairsQos1(req: LoadRequest): Promise<LoadResult> {
  const inflight = 32;
  const counter = new Counter();
  // packets[pair][id]: the pair's PUBLISH with Packet Identifier id (1..inflight), encoded once.
  const packets: Buffer[][] = [];
  for (let i = 0; i < PAIRS; i++) {
    const row: Buffer[] = [Buffer.alloc(0)];
    for (let id = 1; id <= inflight; id++) row.push(encodePublish(`bench/c/${i}`, PAYLOAD_16, 1, false, id));
    packets.push(row);
  }
  const acksDue: number[][] = Array.from({ length: PAIRS }, () => []);
  const resendDue: number[][] = Array.from({ length: PAIRS }, () => []);
  let running = true;
  // Acks and new PUBLISH packets are written once per event-loop turn per connection, however many
  // reads they came from (as a broker batches its output), to keep the load generator's syscalls down.
  const dirty: Conn[] = [];
  let flushScheduled = false;
  const flush = (): void => {
    flushScheduled = false;
    for (const c of dirty) {
      const i = c.index;
      if (c.clientId.startsWith('c-sub-')) {
        const due = acksDue[i] as number[];
        if (due.length > 0) c.write(pubacks(due));
        due.length = 0;
      } else {
        const due = resendDue[i] as number[];
        if (due.length > 0 && running) {
          const row = packets[i] as Buffer[];
          c.write(due.length === 1 ? (row[due[0] as number] as Buffer) : Buffer.concat(due.map((id) => row[id] as Buffer)));
          c.sent += due.length;
        }
        due.length = 0;
      }
    }
    dirty.length = 0;
  };
  const markDirty = (c: Conn): void => {
    dirty.push(c);
    if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(flush);
    }
  };
  const { pubs, subs } = await openPairs(req, PAIRS, 1, {
    counter,
    onPublish: (c, buf, _first, bodyStart) => {
      const due = acksDue[c.index] as number[];
      if (due.length === 0) markDirty(c);
      due.push(publishPacketId(buf, bodyStart));
    },
    subAfterData: noop,
    onPuback: (c, id) => {
      const due = resendDue[c.index] as number[];
      if (due.length === 0) markDirty(c);
      due.push(id);
    },
    pubDrain: noop,
  });
  for (const p of pubs) {
    const row = packets[p.index] as Buffer[];
    p.write(Buffer.concat(row.slice(1)));
    p.sent += inflight;
  }
  const r = await measureRate(() => counter.received, req.brokerPid, req.warmupMs, req.durationMs);
  running = false;
  for (const c of [...pubs, ...subs]) c.destroy();
  return {
    metrics: { delivered: r.rate },
    loadgenCpu: r.loadgenCpu,
    brokerCpu: r.brokerCpu,
    foreignCpu: r.foreignCpu,
    notes: [`window ${inflight} per publisher`],
  };
}
