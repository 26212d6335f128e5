/**
 * Does a lifecycle point with no hook cost anything? The broker's publish path, in process, measured with
 * (a) no hooks, (b) hooks that only have unrelated points, (c) an authorizePublish hook that allows.
 *
 * One publisher and one subscriber talk to a Broker through in-memory streams (no sockets, so the numbers
 * are the broker's own work: framing, decoding, the hook check, routing, encoding, batching). The
 * publisher writes pre-encoded QoS 0 PUBLISH packets in batches and keeps a bounded number in flight; the
 * subscriber counts bytes, so measuring adds no parsing. Rounds interleave the variants (a b c, b c a,
 * c a b, ...), each on a fresh broker after a warm-up, after one discarded pass of all three (JIT); the
 * table shows medians.
 *
 *   npm run bench:hooks                               # build, run, print the table
 *   node dist/bench/hooks/run.js --rounds 9 --messages 400000 --write    # also update bench/RESULTS.md
 */
import { Buffer } from 'node:buffer';
import { readFileSync, writeFileSync } from 'node:fs';
import { Duplex } from 'node:stream';
import { parseArgs } from 'node:util';
import { Broker } from '../../src/broker/broker.js';
import type { BrokerHooks } from '../../src/broker/hooks.js';
import { encodePacket, Framer, type Packet, PacketType } from '../../src/protocol/index.js';
import { describeMachine, loadAverage } from '../codec/env.js';

interface Variant {
  readonly id: string;
  readonly label: string;
  readonly hooks: () => readonly BrokerHooks[];
}

const VARIANTS: readonly Variant[] = [
  { id: 'a', label: '(a) no hooks', hooks: () => [] },
  {
    id: 'b',
    label: '(b) hooks on unrelated points only (onConnect, onSessionExpired, authenticate)',
    hooks: () => [{ name: 'unrelated', onConnect: () => undefined, onSessionExpired: () => undefined, authenticate: () => 'defer' }],
  },
  { id: 'c', label: '(c) authorizePublish that allows', hooks: () => [{ name: 'acl', authorizePublish: () => 'allow' }] },
];

const TOPIC = 'bench/hooks/t';

/** Two connected in-memory streams; chunks are handed over as they are (no copy). */
function pair(): [Duplex, Duplex] {
  const sides: Duplex[] = [];
  const make = (peer: () => Duplex) =>
    new Duplex({
      read() {
        // The peer pushes.
      },
      write(chunk: Buffer, _encoding, callback) {
        peer().push(chunk);
        callback();
      },
      final(callback) {
        peer().push(null);
        callback();
      },
    });
  sides.push(
    make(() => sides[1] as Duplex),
    make(() => sides[0] as Duplex),
  );
  return [sides[0] as Duplex, sides[1] as Duplex];
}

/** Connects a client over a fresh stream pair and resolves once the server answered `until`. */
function handshake(broker: Broker, clientId: string, after: Packet | undefined, until: PacketType): Promise<Duplex> {
  const [server, client] = pair();
  broker.handle(server, { remoteAddress: '127.0.0.1', transport: 'memory' });
  const framer = new Framer({ protocolVersion: 5 });
  return new Promise((resolve) => {
    const onData = (chunk: Buffer) =>
      framer.push(chunk, (p) => {
        if (p.type === PacketType.Connack && after !== undefined) client.write(encodePacket(after, 5));
        if (p.type === until) {
          client.off('data', onData);
          resolve(client);
        }
      });
    client.on('data', onData);
    client.write(encodePacket({ type: PacketType.Connect, protocolVersion: 5, clientId, clean: true, keepAlive: 0 }, 5));
  });
}

interface Run {
  /** Messages a second of wall-clock time. */
  readonly wall: number;
  /**
   * Messages per second of this process's CPU time (user + system). On a shared machine the wall clock
   * also counts time the process waited for a CPU; CPU time does not, so it is the steadier measure.
   */
  readonly cpu: number;
}

/** Publishes `count` messages through a connected pair and resolves with the rate the subscriber saw. */
function pump(pub: Duplex, sub: Duplex, batch: Buffer, perBatch: number, outSize: number, count: number): Promise<Run> {
  const window = perBatch * 16;
  let sent = 0;
  let bytes = 0;
  return new Promise((resolve) => {
    const start = process.hrtime.bigint();
    const cpuStart = process.cpuUsage();
    const fill = (): void => {
      while (sent < count && sent - bytes / outSize < window) {
        pub.write(batch);
        sent += perBatch;
      }
    };
    const onData = (chunk: Buffer): void => {
      bytes += chunk.length;
      if (bytes >= count * outSize) {
        sub.off('data', onData);
        const seconds = Number(process.hrtime.bigint() - start) / 1e9;
        const cpu = process.cpuUsage(cpuStart);
        resolve({ wall: count / seconds, cpu: count / ((cpu.user + cpu.system) / 1e6) });
        return;
      }
      fill();
    };
    sub.on('data', onData);
    fill();
  });
}

async function measure(variant: Variant, messages: number, warmup: number, payloadSize: number): Promise<Run> {
  const broker = new Broker({ sysInterval: 0, hooks: variant.hooks() });
  try {
    const sub = await handshake(
      broker,
      'sub',
      {
        type: PacketType.Subscribe,
        packetId: 1,
        subscriptions: [{ topicFilter: 'bench/#', qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
      },
      PacketType.Suback,
    );
    const pub = await handshake(broker, 'pub', undefined, PacketType.Connack);
    const payload = Buffer.alloc(payloadSize, 0x61);
    const one = encodePacket({ type: PacketType.Publish, topic: TOPIC, payload, qos: 0, retain: false, dup: false }, 5);
    const perBatch = 256;
    const batch = Buffer.concat(Array.from({ length: perBatch }, () => one));
    // What the subscriber gets is the same packet (no properties, no alias): checked once here.
    const outSize = one.length;
    await checkOutgoing(pub, sub, one);
    const warm = Math.ceil(warmup / perBatch) * perBatch;
    const measured = Math.ceil(messages / perBatch) * perBatch;
    await pump(pub, sub, batch, perBatch, outSize, warm);
    const run = await pump(pub, sub, batch, perBatch, outSize, measured);
    const m = broker.metrics;
    if (m.publishReceived !== 1 + warm + measured || m.dropped !== 0)
      throw new Error(`messages lost: ${m.publishReceived} received, ${m.dropped} dropped`);
    return run;
  } finally {
    await broker.close();
  }
}

function checkOutgoing(pub: Duplex, sub: Duplex, one: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    sub.once('data', (chunk: Buffer) => {
      if (chunk.equals(one)) resolve();
      else reject(new Error(`the subscriber got ${chunk.length} bytes, not the ${one.length}-byte PUBLISH sent`));
    });
    pub.write(one);
  });
}

function median(values: readonly number[]): number {
  const s = [...values].sort((x, y) => x - y);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

function fmt(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : `${(n / 1e3).toFixed(0)} k`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '9' },
      messages: { type: 'string', default: '1000000' },
      warmup: { type: 'string', default: '100000' },
      payload: { type: 'string', default: '16' },
      write: { type: 'boolean', default: false },
    },
  });
  const rounds = Number(values.rounds);
  const messages = Number(values.messages);
  const warmup = Number(values.warmup);
  const payload = Number(values.payload);
  const machine = describeMachine();
  const started = Date.now();
  const wall = new Map<string, number[]>(VARIANTS.map((v) => [v.id, []]));
  const cpu = new Map<string, number[]>(VARIANTS.map((v) => [v.id, []]));
  // One discarded pass of every variant first, so no variant measures the JIT compiling the broker.
  for (const v of VARIANTS) await measure(v, messages, warmup, payload);
  for (let r = 0; r < rounds; r++) {
    // Rotate the order each round so drift (heat, other load) does not favour one variant.
    for (let i = 0; i < VARIANTS.length; i++) {
      const v = VARIANTS[(r + i) % VARIANTS.length] as Variant;
      const run = await measure(v, messages, warmup, payload);
      wall.get(v.id)?.push(run.wall);
      cpu.get(v.id)?.push(run.cpu);
      process.stderr.write(`round ${r + 1}/${rounds} ${v.id}: ${fmt(run.wall)} msg/s, ${fmt(run.cpu)} msg/CPU-s\n`);
    }
  }
  const of = (m: Map<string, number[]>, id: string): number[] => m.get(id) ?? [];
  const range = (xs: readonly number[]) => `${fmt(Math.min(...xs))} - ${fmt(Math.max(...xs))}`;
  // Each round measures every variant within seconds of each other: the per-round ratio cancels slow drift
  // in the machine's load, which medians of separate runs do not.
  const paired = (id: string) => {
    const base = of(cpu, 'a');
    const ratios = of(cpu, id)
      .map((x, i) => x / (base[i] as number))
      .sort((x, y) => x - y);
    const q = (f: number) => ratios[Math.min(ratios.length - 1, Math.floor(f * ratios.length))] as number;
    const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
    return `${pct(median(ratios))} (${pct(q(0.25))} - ${pct(q(0.75))})`;
  };
  const rows = VARIANTS.map(
    (v) =>
      `| ${v.label} | ${fmt(median(of(cpu, v.id)))} | ${range(of(cpu, v.id))} | ${v.id === 'a' ? '-' : paired(v.id)} | ${fmt(median(of(wall, v.id)))} | ${range(of(wall, v.id))} |`,
  );
  const table = [
    `| | |`,
    `| --- | --- |`,
    `| Date | ${machine.date.slice(0, 16).replace('T', ' ')} UTC |`,
    `| CPU | \`${machine.cpuModel}\`, \`nproc\` = ${machine.nproc}, ${machine.memoryGiB} GiB |`,
    `| Node | ${machine.node} (V8 ${machine.v8}), ${machine.platform} |`,
    `| Load | ${machine.loadAverageAtStart} at start, ${loadAverage()} at end (shared machine, nothing pinned) |`,
    `| Workload | 1 publisher -> 1 subscriber, QoS 0, ${payload}-byte payload, in-memory streams, ${messages} messages per measurement after ${warmup} warm-up, ${rounds} interleaved rounds; ${Math.round((Date.now() - started) / 1000)} s in all |`,
    '',
    '| variant | median msg per CPU-second | range | per-round ratio to (a): median (quartiles) | median msg/s (wall clock) | range |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
  ].join('\n');
  process.stdout.write(`${table}\n`);
  if (values.write) writeSection(table);
}

const HEADING = '## Hooks on the publish path (`npm run bench:hooks`)';

/** Puts the table under its own heading in bench/RESULTS.md, replacing only that section. */
function writeSection(table: string): void {
  const path = new URL('../../../bench/RESULTS.md', import.meta.url);
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    text = '# Benchmark results\n';
  }
  const intro = [
    'How it measures: [hooks/run.ts](hooks/run.ts). A point with no hook is one boolean check (`hooks.has.<point>`), so (b) should',
    'match (a) within the run-to-run spread; (c) pays for asking a hook: one promise per PUBLISH, and later packets of',
    'the connection wait for the decision in order. The machine is shared, so the first columns count messages per',
    "second of the benchmark's own CPU time, which waiting for a CPU does not inflate; the wall-clock columns show",
    'how much the load moved.',
  ].join('\n');
  const section = `${HEADING}\n\n${intro}\n\n${table}\n`;
  const start = text.indexOf(HEADING);
  if (start < 0) {
    writeFileSync(path, `${text.trimEnd()}\n\n${section}`);
    return;
  }
  const next = text.indexOf('\n## ', start + HEADING.length);
  writeFileSync(path, `${text.slice(0, start)}${section}${next < 0 ? '' : text.slice(next)}`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
