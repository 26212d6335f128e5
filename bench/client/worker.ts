import { Buffer } from 'node:buffer';
import { performance } from 'node:perf_hooks';
import { connectAsync as mqttjsConnect } from 'mqtt';
import { connectAsync as mozzieConnect } from '../../src/client/index.js';
import { cpuBusyTicks, processCpuNanos } from './processes.js';
import type { WorkerRequest, WorkerResult } from './spec.js';

/**
 * One measurement in its own process (started by run.ts with --expose-gc, pinned to the client CPU): connect
 * one client of the requested library to the broker, warm up, publish the measured messages, print
 * `RESULT {json}`. A fresh process per measurement keeps the two libraries' heaps, JIT state and sockets
 * apart, so the memory figures are each library's own.
 *
 * The loops are written once per library with the same shape, each in the library's cheapest idiomatic
 * form: QoS 0 publishes `batch` messages without waiting and awaits the last one (Mozzie's publish always
 * returns a promise; MQTT.js gets a callback only on the last one), QoS 1 publishes `window` messages and
 * awaits all of them. The measured stretch ends with a QoS 1 publish on the same connection: when its
 * PUBACK arrives the broker has read every message before it, so the rate is what the broker received,
 * not what sat in the client's buffers.
 */

const TOPIC = 'bench/client/publish';
const QOS0 = { qos: 0 } as const;
const QOS1 = { qos: 1 } as const;

type Gc = () => void;

function gc(): void {
  const f = (globalThis as { gc?: Gc }).gc;
  if (f === undefined) throw new Error('run the worker with --expose-gc');
  f();
  f();
}

class Memory {
  readonly rssBase: number;
  readonly heapBase: number;
  rssPeak: number;
  constructor() {
    gc();
    const m = process.memoryUsage();
    this.rssBase = m.rss;
    this.heapBase = m.heapUsed;
    this.rssPeak = m.rss;
  }
  sample(): void {
    const rss = process.memoryUsage.rss();
    if (rss > this.rssPeak) this.rssPeak = rss;
  }
}

interface Publisher {
  /** Publishes `count` messages the workload's way; samples memory now and then. */
  run(count: number, memory: Memory | undefined): Promise<void>;
  /** A QoS 1 publish: resolves at its PUBACK. */
  marker(): Promise<void>;
  end(): Promise<void>;
}

async function mozzie(req: WorkerRequest, payload: Buffer): Promise<Publisher> {
  const client = await mozzieConnect(`mqtt://127.0.0.1:${req.port}`, {
    protocolVersion: req.version,
    clientId: `bench-mozzie-${process.pid}`,
    reconnect: false,
    maxQueued: Math.max(1000, req.window),
  });
  const qos0 = async (count: number, memory: Memory | undefined): Promise<void> => {
    let sent = 0;
    let batches = 0;
    while (sent < count) {
      const n = Math.min(req.batch, count - sent);
      let last: Promise<unknown> | undefined;
      for (let i = 0; i < n; i++) last = client.publish(TOPIC, payload, QOS0);
      sent += n;
      await last;
      if (memory !== undefined && (++batches & 7) === 0) memory.sample();
    }
  };
  const qos1 = async (count: number, memory: Memory | undefined): Promise<void> => {
    let sent = 0;
    let batches = 0;
    const pending: Promise<unknown>[] = [];
    while (sent < count) {
      const n = Math.min(req.window, count - sent);
      pending.length = 0;
      for (let i = 0; i < n; i++) pending.push(client.publish(TOPIC, payload, QOS1));
      sent += n;
      await Promise.all(pending);
      if (memory !== undefined && (++batches & 7) === 0) memory.sample();
    }
  };
  return {
    run: req.workload === 'qos0' ? qos0 : qos1,
    marker: async () => {
      await client.publish(TOPIC, payload, QOS1);
    },
    end: () => client.end(),
  };
}

async function mqttjs(req: WorkerRequest, payload: Buffer): Promise<Publisher> {
  const client = await mqttjsConnect(`mqtt://127.0.0.1:${req.port}`, {
    protocolVersion: req.version,
    clientId: `bench-mqttjs-${process.pid}`,
    reconnectPeriod: 0,
    keepalive: 60,
  });
  const qos0 = async (count: number, memory: Memory | undefined): Promise<void> => {
    let sent = 0;
    let batches = 0;
    while (sent < count) {
      const n = Math.min(req.batch, count - sent);
      for (let i = 0; i < n - 1; i++) client.publish(TOPIC, payload, QOS0);
      await new Promise<void>((resolve, reject) =>
        client.publish(TOPIC, payload, QOS0, (err) => (err === undefined || err === null ? resolve() : reject(err))),
      );
      sent += n;
      if (memory !== undefined && (++batches & 7) === 0) memory.sample();
    }
  };
  const qos1 = async (count: number, memory: Memory | undefined): Promise<void> => {
    let sent = 0;
    let batches = 0;
    const pending: Promise<unknown>[] = [];
    while (sent < count) {
      const n = Math.min(req.window, count - sent);
      pending.length = 0;
      for (let i = 0; i < n; i++) pending.push(client.publishAsync(TOPIC, payload, QOS1));
      sent += n;
      await Promise.all(pending);
      if (memory !== undefined && (++batches & 7) === 0) memory.sample();
    }
  };
  return {
    run: req.workload === 'qos0' ? qos0 : qos1,
    marker: async () => {
      await client.publishAsync(TOPIC, payload, QOS1);
    },
    end: () => client.endAsync(),
  };
}

async function measure(req: WorkerRequest): Promise<WorkerResult> {
  const payload = Buffer.alloc(req.payloadBytes, 0x61);
  const publisher = req.library === 'mozzie' ? await mozzie(req, payload) : await mqttjs(req, payload);
  await publisher.run(req.warmupMessages, undefined);
  await publisher.marker();
  const memory = new Memory();
  const broker0 = processCpuNanos(req.brokerPid);
  const busy0 = cpuBusyTicks();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await publisher.run(req.messages, memory);
  await publisher.marker();
  const elapsedMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const busy1 = cpuBusyTicks();
  const broker1 = processCpuNanos(req.brokerPid);
  memory.sample();
  const heapEnd = process.memoryUsage().heapUsed;
  gc();
  const heapAfterGc = process.memoryUsage().heapUsed;
  await publisher.end();
  const cpuMicros = cpu.user + cpu.system;
  const brokerMs = broker0 < 0 || broker1 < 0 ? 0 : (broker1 - broker0) / 1e6;
  // Clock ticks are 10 ms (USER_HZ 100): busy time of the two CPUs the benchmark is pinned to.
  const busyMs = ((busy1[0] ?? 0) - (busy0[0] ?? 0) + (busy1[1] ?? 0) - (busy0[1] ?? 0)) * 10;
  return {
    library: req.library,
    workload: req.workload,
    messages: req.messages,
    elapsedMs,
    rate: (req.messages / elapsedMs) * 1000,
    cpuPercent: (cpuMicros / 1000 / elapsedMs) * 100,
    cpuSystemPercent: (cpu.system / 1000 / elapsedMs) * 100,
    cpuMicrosPerMessage: cpuMicros / req.messages,
    brokerCpuPercent: broker0 < 0 || broker1 < 0 ? -1 : (brokerMs / elapsedMs) * 100,
    foreignCpuPercent: busy0.length < 2 ? -1 : (Math.max(0, busyMs - cpuMicros / 1000 - brokerMs) / elapsedMs) * 100,
    rssGrowth: memory.rssPeak - memory.rssBase,
    heapGrowth: heapEnd - memory.heapBase,
    heapRetained: heapAfterGc - memory.heapBase,
  };
}

async function main(): Promise<void> {
  const arg = process.argv[2];
  if (arg === undefined) throw new Error('usage: worker.js <WorkerRequest JSON>');
  const result = await measure(JSON.parse(arg) as WorkerRequest);
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
  process.exit(0);
}

main().catch((err: unknown) => {
  process.stderr.write(`worker: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
