import { Connection, type ConnectionHandler } from './connection.js';
import type { BenchOptions } from './options.js';
import { endpointOf } from './pool.js';
import type { BenchResult } from './result.js';
import { RunContext } from './run-context.js';
import { Timeline, type TimelineControl } from './timeline.js';

/**
 * conn: opens `clients` connections (at `rate` per second, or with `window` handshakes in flight) and holds
 * them for the duration, measuring CONNECT-to-CONNACK time; with churn, each connection disconnects after
 * its CONNACK and connects again, so the run measures sustained connections per second.
 */
export async function runConnections(options: BenchOptions, control: TimelineControl): Promise<BenchResult> {
  const timeline = new Timeline(options, control);
  const stats = timeline.stats;
  const endpoint = endpointOf(options);
  const context = new RunContext(stats);
  const open = new Set<Connection>();
  /** Slots waiting for a (re)connect, in order. */
  const queue: number[] = [];
  let inFlight = 0;
  let launched = 0;
  let running = true;
  let startedAt = 0;
  let lastConnectAt = 0;

  const handler: ConnectionHandler = {
    onAck: () => undefined,
    afterRead: () => undefined,
    onDrain: () => undefined,
    onClose: (conn, reason) => {
      if (!open.delete(conn)) return;
      if (reason !== undefined) {
        stats.connectionErrors++;
        stats.noteError('connection', reason);
      }
      if (running && options.churn) queue.push(conn.index);
    },
  };

  const launch = (slot: number): void => {
    inFlight++;
    launched++;
    const started = performance.now();
    Connection.open(endpoint, slot, `${options.clientIdPrefix}-c${slot}`, context, handler).then(
      ({ conn }) => {
        inFlight--;
        const now = performance.now();
        stats.connects++;
        stats.interval.record((now - started) * 1000);
        lastConnectAt = now;
        open.add(conn);
        if (!running) conn.close();
        else if (options.churn) conn.close();
      },
      (err: unknown) => {
        inFlight--;
        stats.connectionErrors++;
        stats.noteError('connect', err instanceof Error ? err.message : String(err));
        // A churning slot tries again later; a held one stays empty.
        if (running && options.churn) setTimeout(() => queue.push(slot), 100);
      },
    );
  };

  // One connection first: a broker that is not there fails here, with a plain message and no run.
  const probe = await Connection.open(endpoint, 0, `${options.clientIdPrefix}-c0`, context, handler);
  probe.conn.close();
  for (let i = 0; i < options.clients; i++) queue.push(i);

  let launchedAtStart = 0;
  const pace = (elapsed: number): void => {
    // With a rate: launches are due at rate x elapsed; without: keep `window` handshakes in flight.
    let allowed = options.rate > 0 ? Math.floor(options.rate * elapsed) + 1 - (launched - launchedAtStart) : options.window - inFlight;
    while (allowed > 0 && queue.length > 0) {
      launch(queue.shift() as number);
      allowed--;
    }
  };
  const measured = await timeline.run(
    {
      connections: () => open.size,
      start: () => {
        startedAt = performance.now();
        launchedAtStart = launched;
        pace(0);
      },
      tick: pace,
      stopSending: () => {
        running = false;
      },
      drained: () => inFlight === 0,
      keepAlive: () => {
        for (const c of open) c.ping();
      },
    },
    options.churn ? options.warmupSeconds : 0,
  );
  const openAtEnd = open.size;
  for (const c of open) c.close();

  const result = timeline.result({
    publishers: 0,
    subscribers: 0,
    window: null,
    expected: null,
    latencyKind: 'connect',
    connectionsOpen: openAtEnd,
    measured,
  });
  if (options.churn || lastConnectAt <= startedAt) return result;
  // Held connections: the rate is over the time it took to open them, not over the whole hold.
  return { ...result, connectsPerSecond: result.connects / ((lastConnectAt - startedAt) / 1000) };
}
