import { Buffer } from 'node:buffer';
import { connect, type Socket } from 'node:net';
import { encodePacket, PacketType } from '../../src/protocol/index.js';
import { cpuBetween, processRssBytes, sleep, snapshot } from './measure.js';
import type { LoadRequest, LoadResult } from './spec.js';

const CONNECTIONS = 10_000;
/** CONNECT handshakes in progress at once. */
const CONCURRENCY = 500;
/** Time for the broker to settle (and a Node broker to collect garbage) before RSS is read. */
const SETTLE_MS = 1500;

/**
 * e) 10,000 idle connections (Keep Alive 60 s, clean session, no subscriptions): how fast they are
 * accepted (TCP connect + CONNECT/CONNACK, 500 at a time) and what they cost the broker in resident
 * memory (VmRSS after minus VmRSS before, over the connection count).
 */
/** CONNACK of 3.1.1 accepting the connection. */
function accepted(buf: Uint8Array, bytes: number): boolean {
  return bytes >= 4 && buf[0] === 0x20 && buf[1] === 0x02 && buf[3] === 0x00;
}

const SCRATCH = Buffer.allocUnsafe(64 * 1024);

/**
 * Opens `count` connections, `concurrency` handshakes at a time, with as little load-generator work per
 * connection as Node allows (no stream reads, no promise per connection), so that the broker's accept
 * rate is what is measured.
 */
export function openIdle(port: number, count: number, concurrency: number, prefix = 'e-'): Promise<Socket[]> {
  return new Promise((resolve, reject) => {
    const sockets: Socket[] = [];
    let started = 0;
    let done = 0;
    let failed = false;
    const start = (): void => {
      const i = started++;
      const packet = encodePacket({ type: PacketType.Connect, protocolVersion: 4, clientId: `${prefix}${i}`, clean: true, keepAlive: 60 });
      let answered = false;
      const socket = connect({
        host: '127.0.0.1',
        port,
        noDelay: true,
        onread: {
          buffer: SCRATCH,
          callback: (bytes, buf) => {
            if (answered) return true;
            answered = true;
            if (!accepted(buf, bytes)) {
              fail(new Error(`${prefix}${i}: CONNECT refused`));
              return true;
            }
            sockets.push(socket);
            if (++done === count) resolve(sockets);
            else if (started < count) start();
            return true;
          },
        },
      });
      socket.on('error', (err) => {
        if (!answered) fail(err);
      });
      socket.write(packet);
    };
    const fail = (err: Error): void => {
      if (failed) return;
      failed = true;
      for (const s of sockets) s.destroy();
      reject(err);
    };
    for (let k = 0; k < Math.min(concurrency, count); k++) start();
  });
}

export async function idleConnections(req: LoadRequest): Promise<LoadResult> {
  await sleep(500);
  const rssBefore = processRssBytes(req.brokerPid);
  const s0 = snapshot(req.brokerPid);
  const conns = await openIdle(req.port, CONNECTIONS, CONCURRENCY);
  const s1 = snapshot(req.brokerPid);
  const cpu = cpuBetween(s0, s1);
  await sleep(SETTLE_MS);
  const rssAfter = processRssBytes(req.brokerPid);
  const open = conns.filter((c) => !c.destroyed && c.readyState === 'open').length;
  for (const c of conns) c.destroy();
  return {
    metrics: {
      connRate: CONNECTIONS / cpu.seconds,
      connPerCpuSecond: CONNECTIONS / ((cpu.brokerCpu / 100) * cpu.seconds),
      bytesPerConn: (rssAfter - rssBefore) / CONNECTIONS,
      rssBeforeMiB: rssBefore / 2 ** 20,
      rssAfterMiB: rssAfter / 2 ** 20,
    },
    loadgenCpu: cpu.loadgenCpu,
    brokerCpu: cpu.brokerCpu,
    foreignCpu: cpu.foreignCpu,
    notes: [
      `RSS ${(rssBefore / 2 ** 20).toFixed(1)} -> ${(rssAfter / 2 ** 20).toFixed(1)} MiB`,
      ...(open < CONNECTIONS ? [`only ${open} still open`] : []),
    ],
  };
}
