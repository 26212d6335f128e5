import { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { createSecureContext, connect as tlsConnect } from 'node:tls';

/**
 * TLS handshake load: `concurrency` loops, each opening a new TLS connection (full handshake, no session
 * resumption), sending an MQTT 3.1.1 CONNECT, waiting for CONNACK, sending DISCONNECT and closing, then
 * starting over. Counts completed CONNACKs in the measured window after a warm-up. Prints
 * `MEASURE` when the window opens (so the caller can read the broker's CPU time) and `RESULT {json}`.
 */

export interface TlsLoadRequest {
  readonly port: number;
  readonly ca: string;
  /** Client certificate and key (mutual TLS). */
  readonly cert?: string;
  readonly key?: string;
  readonly concurrency: number;
  readonly warmupMs: number;
  readonly durationMs: number;
}

export interface TlsLoadResult {
  /** Completed handshakes + CONNACKs per second in the window. */
  readonly rate: number;
  readonly completed: number;
  readonly seconds: number;
  /** Milliseconds from dialing to CONNACK. */
  readonly p50: number;
  readonly p99: number;
  readonly errors: number;
  readonly firstError: string | undefined;
  readonly resumed: number;
  readonly protocol: string;
  readonly cipher: string;
}

const DISCONNECT = Buffer.from([0xe0, 0x00]);

/** MQTT 3.1.1 CONNECT, clean session, keep alive 60, the given client id. */
function connectPacket(clientId: string): Buffer {
  const id = Buffer.from(clientId);
  const variable = Buffer.from([0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x3c]);
  const payload = Buffer.concat([Buffer.from([id.length >> 8, id.length & 0xff]), id]);
  const remaining = variable.length + payload.length;
  return Buffer.concat([Buffer.from([0x10, remaining]), variable, payload]);
}

async function main(): Promise<void> {
  const req = JSON.parse(process.argv[2] ?? '{}') as TlsLoadRequest;
  const ca = readFileSync(req.ca);
  const cert = req.cert === undefined ? undefined : readFileSync(req.cert);
  const key = req.key === undefined ? undefined : readFileSync(req.key);
  // One context for every connection: passing `ca` to each connect would parse the PEM every time,
  // making the load generator, not the broker, the bottleneck.
  const secureContext = createSecureContext({ ca, ...(cert === undefined || key === undefined ? {} : { cert, key }) });
  let measuring = false;
  let stopped = false;
  let completed = 0;
  let errors = 0;
  let resumed = 0;
  let firstError: string | undefined;
  let protocol = '';
  let cipher = '';
  const latencies: number[] = [];
  let sequence = 0;

  const once = () =>
    new Promise<void>((resolve) => {
      const started = performance.now();
      const socket = tlsConnect({ host: '127.0.0.1', port: req.port, servername: 'localhost', secureContext });
      socket.setNoDelay(true);
      let received = Buffer.alloc(0);
      let done = false;
      const finish = (error?: string) => {
        if (done) return;
        done = true;
        if (error !== undefined) {
          errors++;
          firstError ??= error;
          socket.destroy();
        }
        resolve();
      };
      socket.once('secureConnect', () => {
        if (socket.isSessionReused()) resumed++;
        protocol = socket.getProtocol() ?? '';
        cipher = socket.getCipher().name;
        socket.write(connectPacket(`tls-bench-${process.pid}-${sequence++}`));
      });
      socket.on('data', (chunk: Buffer) => {
        received = Buffer.concat([received, chunk]);
        if (received.length < 4) return;
        if (received[0] !== 0x20 || received[3] !== 0x00) {
          finish(`unexpected reply ${received.subarray(0, 4).toString('hex')}`);
          return;
        }
        if (measuring) {
          completed++;
          latencies.push(performance.now() - started);
        }
        socket.end(DISCONNECT);
      });
      socket.on('error', (err) => finish(err.message));
      socket.on('close', () => finish());
    });

  const loop = async () => {
    while (!stopped) await once();
  };
  const loops = Array.from({ length: req.concurrency }, loop);
  await new Promise((r) => setTimeout(r, req.warmupMs));
  measuring = true;
  process.stdout.write('MEASURE\n');
  const start = performance.now();
  await new Promise((r) => setTimeout(r, req.durationMs));
  measuring = false;
  const seconds = (performance.now() - start) / 1000;
  stopped = true;
  await Promise.all(loops);
  latencies.sort((a, b) => a - b);
  const pick = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN;
  const result: TlsLoadResult = {
    rate: completed / seconds,
    completed,
    seconds,
    p50: pick(0.5),
    p99: pick(0.99),
    errors,
    firstError,
    resumed,
    protocol,
    cipher,
  };
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
}

await main();
