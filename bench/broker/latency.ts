import { Buffer } from 'node:buffer';
import { performance } from 'node:perf_hooks';
import { Conn, encodePublish, publishPayloadStart, repeat } from './client.js';
import { cpuBetween, quantile, sleep, snapshot } from './measure.js';
import type { LoadRequest, LoadResult } from './spec.js';
import { PAYLOAD_16 } from './throughput.js';

const RATE = 20_000;
/** Most messages one timer tick may send after a stall, so a hiccup does not turn into a burst. */
const MAX_BURST = 200;

/**
 * d) End-to-end latency at a fixed 20,000 msg/s, QoS 0, one publisher and one subscriber. Each payload
 * carries performance.now() at the moment of the write; the subscriber subtracts it on arrival (same
 * process, same clock). A 1 ms timer sends whatever the schedule says is due.
 */
export async function latency(req: LoadRequest): Promise<LoadResult> {
  const capacity = Math.ceil((RATE * (req.durationMs + 1000)) / 1000);
  const samples = new Float64Array(capacity);
  let sampleCount = 0;
  let windowStart = Number.POSITIVE_INFINITY;
  let windowEnd = Number.POSITIVE_INFINITY;
  let sentInWindow = 0;
  const sub = await Conn.open({
    port: req.port,
    clientId: 'd-sub',
    onPublish: (_c, buf, first, bodyStart) => {
      const now = performance.now();
      const sentAt = buf.readDoubleLE(publishPayloadStart(buf, first, bodyStart));
      if (sentAt >= windowStart && sentAt < windowEnd && sampleCount < capacity) samples[sampleCount++] = now - sentAt;
    },
  });
  await sub.subscribe(['bench/d'], 0);
  const pub = await Conn.open({ port: req.port, clientId: 'd-pub' });
  const packet = encodePublish('bench/d', PAYLOAD_16, 0);
  const stamp = packet.length - PAYLOAD_16.length;
  const template = repeat(packet, MAX_BURST);
  const started = performance.now();
  let sent = 0;
  const tick = (): void => {
    const now = performance.now();
    const due = Math.floor(((now - started) * RATE) / 1000);
    const n = Math.min(MAX_BURST, due - sent);
    if (n <= 0) return;
    // A fresh buffer per write: the socket may hold on to it until the kernel takes it.
    const view = Buffer.allocUnsafe(n * packet.length);
    template.copy(view, 0, 0, n * packet.length);
    for (let i = 0; i < n; i++) view.writeDoubleLE(now, i * packet.length + stamp);
    pub.write(view);
    if (now >= windowStart && now < windowEnd) sentInWindow += n;
    // Messages a tick could not send (MAX_BURST) are skipped, not owed.
    sent = Math.max(sent + n, due - MAX_BURST);
  };
  const timer = setInterval(tick, 1);
  await sleep(req.warmupMs);
  windowStart = performance.now();
  const s0 = snapshot(req.brokerPid);
  await sleep(req.durationMs);
  windowEnd = performance.now();
  const s1 = snapshot(req.brokerPid);
  const cpu = cpuBetween(s0, s1);
  // Late arrivals of the window still count.
  await sleep(500);
  clearInterval(timer);
  pub.destroy();
  sub.destroy();
  const sorted = samples.subarray(0, sampleCount).sort();
  const lost = sentInWindow - sampleCount;
  return {
    metrics: {
      p50: quantile(sorted, 0.5),
      p90: quantile(sorted, 0.9),
      p99: quantile(sorted, 0.99),
      p999: quantile(sorted, 0.999),
      max: sorted.length > 0 ? (sorted[sorted.length - 1] as number) : Number.NaN,
      rate: sentInWindow / cpu.seconds,
    },
    loadgenCpu: cpu.loadgenCpu,
    brokerCpu: cpu.brokerCpu,
    foreignCpu: cpu.foreignCpu,
    notes: [`${sampleCount} samples at ${(sentInWindow / cpu.seconds).toFixed(0)} msg/s`, ...(lost > 0 ? [`lost ${lost}`] : [])],
  };
}
