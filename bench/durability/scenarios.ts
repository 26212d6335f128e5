import { Buffer } from 'node:buffer';
import { encodePublish, pubacks } from '../broker/client.js';
import { cpuBetween, type Snapshot, sleep, snapshot } from '../broker/measure.js';
import { type DurableConn, openAll } from './client.js';
import { type LoadRequest, type LoadResult, OFFLINE_MESSAGES, PAIRS, PAYLOAD_BYTES, WINDOW } from './spec.js';

/**
 * The QoS 1 scenarios, as run by the load generator. Subscribers hold persistent sessions (Clean Session
 * 0), so the broker must keep every message owed to them: with Mozzie's store, each delivery is written
 * before the publisher gets its PUBACK and removed when the subscriber acknowledges it.
 */

const PAYLOAD = Buffer.alloc(PAYLOAD_BYTES, 0x64);
const topic = (scenario: string, i: number): string => `dur/${scenario}/${i}`;

/**
 * Acknowledgements and new PUBLISH packets are written once per event-loop turn per connection, however
 * many reads they came from, so the load generator makes few syscalls (as in bench/broker's c1).
 */
class Batcher {
  private readonly dirty: DurableConn[] = [];
  private scheduled = false;
  /** Per connection: Packet Identifiers to acknowledge (subscribers) or to publish again (publishers). */
  readonly due: number[][];

  constructor(
    count: number,
    private readonly write: (c: DurableConn, ids: number[]) => void,
  ) {
    this.due = Array.from({ length: count }, () => []);
  }

  add(c: DurableConn, id: number): void {
    const due = this.due[c.index] as number[];
    if (due.length === 0) {
      this.dirty.push(c);
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(this.flush);
      }
    }
    due.push(id);
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    for (const c of this.dirty) {
      const due = this.due[c.index] as number[];
      if (due.length > 0 && !c.closed) this.write(c, due);
      due.length = 0;
    }
    this.dirty.length = 0;
  };
}

/** packets[pair][id]: the pair's PUBLISH with Packet Identifier id (1..WINDOW), encoded once. */
function encodeWindows(scenario: string): Buffer[][] {
  const packets: Buffer[][] = [];
  for (let i = 0; i < PAIRS; i++) {
    const row: Buffer[] = [Buffer.alloc(0)];
    for (let id = 1; id <= WINDOW; id++) row.push(encodePublish(topic(scenario, i), PAYLOAD, 1, false, id));
    packets.push(row);
  }
  return packets;
}

function publishIds(c: DurableConn, row: readonly Buffer[], ids: readonly number[]): void {
  c.write(ids.length === 1 ? (row[ids[0] as number] as Buffer) : Buffer.concat(ids.map((id) => row[id] as Buffer)));
  c.sent += ids.length;
}

const subscriberAcks = (): Batcher => new Batcher(PAIRS, (c, ids) => c.write(pubacks(ids)));

/** Persistent subscribers, one per pair, each subscribed at QoS 1 to its pair's topic. */
async function openSubscribers(req: LoadRequest, scenario: string, acks: Batcher): Promise<DurableConn[]> {
  const subs = await openAll(PAIRS, 20, (i) => ({
    port: req.port,
    clientId: `dur-${scenario}-sub-${i}`,
    clean: false,
    onPublish: (c, id) => acks.add(c, id),
  }));
  await Promise.all(subs.map((s) => s.subscribe([topic(scenario, s.index)], 1)));
  return subs;
}

/**
 * a) Pairs with the subscriber online: each publisher keeps WINDOW messages unacknowledged and sends a
 * new one per PUBACK; each subscriber acknowledges every PUBLISH. Counted: PUBACKs the publishers get.
 */
export async function online(req: LoadRequest): Promise<LoadResult> {
  const packets = encodeWindows('a');
  const subs = await openSubscribers(req, 'a', subscriberAcks());
  let running = true;
  const republish = new Batcher(PAIRS, (c, ids) => {
    if (running) publishIds(c, packets[c.index] as Buffer[], ids);
  });
  let acked = 0;
  const pubs = await openAll(PAIRS, 20, (i) => ({
    port: req.port,
    clientId: `dur-a-pub-${i}`,
    clean: true,
    onPuback: (c, id) => {
      acked++;
      republish.add(c, id);
    },
  }));
  for (const p of pubs)
    publishIds(
      p,
      packets[p.index] as Buffer[],
      Array.from({ length: WINDOW }, (_, k) => k + 1),
    );
  const delivered = () => subs.reduce((n, s) => n + s.received, 0);
  await sleep(req.warmupMs);
  const a0 = acked;
  const n0 = delivered();
  const s0 = snapshot(req.brokerPid);
  await sleep(req.durationMs);
  const a1 = acked;
  const n1 = delivered();
  const steady = phase(s0, snapshot(req.brokerPid), a1 - a0);
  running = false;
  for (const c of [...pubs, ...subs]) c.destroy();
  return {
    metrics: { acked: steady.rate, delivered: (steady.rate * (n1 - n0)) / Math.max(1, a1 - a0) },
    cpu: { steady: steady.cpu },
    foreignCpu: [steady.foreign[0] ?? 0, steady.foreign[1] ?? 0],
    notes: [],
  };
}

/** Resolves once `done()` holds, checking every few milliseconds; rejects after `limitMs`. */
async function until(done: () => boolean, limitMs: number, what: () => string): Promise<void> {
  const deadline = performance.now() + limitMs;
  while (!done()) {
    if (performance.now() > deadline) throw new Error(`timed out: ${what()}`);
    await sleep(2);
  }
}

function phase(from: Snapshot, to: Snapshot, count: number): { rate: number; cpu: { broker: number; loadgen: number }; foreign: number[] } {
  const c = cpuBetween(from, to);
  return { rate: count / c.seconds, cpu: { broker: c.brokerCpu, loadgen: c.loadgenCpu }, foreign: [...c.foreignCpu] };
}

/**
 * b) Subscribers subscribe and go away (keeping their sessions); publishers send OFFLINE_MESSAGES each at
 * QoS 1 (window WINDOW), all queued by the broker; then the subscribers come back and take (and
 * acknowledge) everything. Both phases are timed from their first packet to their last acknowledgement.
 */
export async function offline(req: LoadRequest): Promise<LoadResult> {
  const total = PAIRS * OFFLINE_MESSAGES;
  const packets = encodeWindows('b');
  const first = await openSubscribers(req, 'b', subscriberAcks());
  await Promise.all(first.map((s) => s.disconnect()));
  // Let the broker finish closing the sessions' connections before the clock starts.
  await sleep(200);

  let acked = 0;
  const republish = new Batcher(PAIRS, (c, ids) => {
    const left = OFFLINE_MESSAGES - c.sent;
    if (left > 0) publishIds(c, packets[c.index] as Buffer[], left >= ids.length ? ids : ids.slice(0, left));
  });
  const pubs = await openAll(PAIRS, 20, (i) => ({
    port: req.port,
    clientId: `dur-b-pub-${i}`,
    clean: true,
    onPuback: (c, id) => {
      acked++;
      republish.add(c, id);
    },
  }));
  const q0 = snapshot(req.brokerPid);
  for (const p of pubs)
    publishIds(
      p,
      packets[p.index] as Buffer[],
      Array.from({ length: WINDOW }, (_, k) => k + 1),
    );
  await until(
    () => acked >= total,
    120_000,
    () => `${acked} of ${total} acknowledged`,
  );
  // cpuBetween reads this process's CPU time when called: right at the end of the phase.
  const queue = phase(q0, snapshot(req.brokerPid), total);
  for (const p of pubs) p.destroy();
  await sleep(200);

  const acks = subscriberAcks();
  const d0 = snapshot(req.brokerPid);
  const subs = await openAll(PAIRS, PAIRS, (i) => ({
    port: req.port,
    clientId: `dur-b-sub-${i}`,
    clean: false,
    onPublish: (c, id) => acks.add(c, id),
  }));
  const received = () => subs.reduce((n, s) => n + s.received, 0);
  await until(
    () => received() >= total,
    120_000,
    () => `${received()} of ${total} delivered`,
  );
  const drain = phase(d0, snapshot(req.brokerPid), total);
  const notes: string[] = [];
  const lost = subs.filter((s) => !s.sessionPresent).length;
  if (lost > 0) notes.push(`${lost} sessions not present on reconnect`);
  await sleep(50);
  const extra = received() - total;
  if (extra > 0) notes.push(`${extra} duplicates`);
  for (const s of subs) s.destroy();
  return {
    metrics: { queued: queue.rate, drained: drain.rate, queueSeconds: total / queue.rate, drainSeconds: total / drain.rate },
    cpu: { queue: queue.cpu, drain: drain.cpu },
    foreignCpu: [Math.max(queue.foreign[0] ?? 0, drain.foreign[0] ?? 0), Math.max(queue.foreign[1] ?? 0, drain.foreign[1] ?? 0)],
    notes,
  };
}
