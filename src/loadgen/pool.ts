import type { ConnackPacket } from '../protocol/index.js';
import { Connection, type ConnectionHandler, type Endpoint } from './connection.js';
import { BenchError } from './errors.js';
import type { BenchOptions } from './options.js';
import type { RunContext } from './run-context.js';

export function endpointOf(options: BenchOptions): Endpoint {
  return {
    host: options.host,
    port: options.port,
    version: options.version,
    ...(options.username === undefined ? {} : { username: options.username }),
    ...(options.password === undefined ? {} : { password: options.password }),
    keepAlive: options.keepAlive,
    connectTimeoutMs: 10_000,
  };
}

/** Handshakes in progress at once while a pool opens. */
export const OPEN_CONCURRENCY = 64;

/**
 * Opens `count` connections, at most `concurrency` handshakes at a time, each with the handler `make`
 * returns. The first failure stops new attempts; once those in progress have settled, the connections
 * already open are closed and the failure is thrown.
 */
export async function openPool<H extends ConnectionHandler>(
  count: number,
  make: (index: number) => { handler: H; clientId: string },
  endpoint: Endpoint,
  context: RunContext,
  onOpen: (handler: H, conn: Connection, connack: ConnackPacket) => void,
  concurrency = OPEN_CONCURRENCY,
): Promise<Connection[]> {
  const conns: Connection[] = [];
  let next = 0;
  let failure: unknown;
  const worker = async (): Promise<void> => {
    while (next < count && failure === undefined) {
      const index = next++;
      const { handler, clientId } = make(index);
      try {
        const { conn, connack } = await Connection.open(endpoint, index, clientId, context, handler);
        conns.push(conn);
        onOpen(handler, conn, connack);
      } catch (err) {
        failure ??= err;
      }
    }
  };
  const workers: Promise<void>[] = [];
  for (let w = 0; w < Math.min(concurrency, count); w++) workers.push(worker());
  await Promise.all(workers);
  if (failure !== undefined) {
    for (const c of conns) c.destroy();
    if (conns.length === 0 || !(failure instanceof Error)) throw failure;
    throw new BenchError(`${failure.message} (${conns.length} of ${count} connections had opened.)`, { cause: failure });
  }
  return conns;
}
