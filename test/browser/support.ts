import assert from 'node:assert/strict';
import type { Duplex } from 'node:stream';
import type { Connection } from '../../src/broker/connection.js';
import type { MozzieConfigInput } from '../../src/config/index.js';
import { createConsoleLogger } from '../../src/server/logger.js';
import { createServer, type MozzieServer } from '../../src/server/server.js';
import type { Listener } from '../../src/transport/types.js';

type ListenerInput = NonNullable<MozzieConfigInput['listeners']>[number];

export interface BrowserTestBroker {
  readonly server: MozzieServer;
  readonly listeners: readonly Listener[];
  /** Drops the network connection of a client (no DISCONNECT), as a crash or a lost link would. */
  drop(clientId: string): number;
  stop(): Promise<void>;
}

/** Our broker with the given listeners (port 0) and a silent logger; it remembers connections so tests can drop them. */
export async function startBrowserTestBroker(listeners: readonly ListenerInput[]): Promise<BrowserTestBroker> {
  const server = createServer({ listeners }, { logger: createConsoleLogger({ level: 'error', format: 'text', write: () => undefined }) });
  const connections = new Set<Connection>();
  const handle = server.broker.handle.bind(server.broker);
  server.broker.handle = (stream: Duplex, info) => {
    const c = handle(stream, info);
    connections.add(c);
    stream.once('close', () => connections.delete(c));
    return c;
  };
  const started = await server.start();
  assert.equal(started.length, listeners.length);
  return {
    server,
    listeners: started,
    drop(clientId) {
      let dropped = 0;
      for (const c of connections) {
        if (c.clientId === clientId && c.state !== 'closed') {
          c.stream.destroy();
          dropped++;
        }
      }
      return dropped;
    },
    stop: () => server.stop(),
  };
}

export async function until(check: () => boolean, ms = 3000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
