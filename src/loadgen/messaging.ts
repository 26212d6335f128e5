import type { Connection, ConnectionHandler } from './connection.js';
import { BenchError } from './errors.js';
import { type BenchOptions, stamped } from './options.js';
import { endpointOf, openPool } from './pool.js';
import { DeliveryWindow, Publisher, Schedule } from './publisher.js';
import type { BenchResult, LatencyKind } from './result.js';
import { RunContext } from './run-context.js';
import { Timeline, type TimelineControl } from './timeline.js';

/** A subscriber connection: the Connection counts and acknowledges what arrives; this only hears the close. */
class Subscriber implements ConnectionHandler {
  constructor(
    private readonly onLost: (reason: string) => void,
    private readonly onDeliveries: () => void,
  ) {}
  onAck(): void {
    // Subscribers publish nothing.
  }
  afterRead(): void {
    // Deliveries free room in the end-to-end window.
    this.onDeliveries();
  }
  onDrain(): void {
    // Acknowledgements are small; nothing waits for drain.
  }
  onClose(_conn: Connection, reason: string | undefined): void {
    if (reason !== undefined) this.onLost(reason);
  }
}

/** pub, sub and pubsub: open the connections, run the load, drain, report. */
export async function runMessaging(options: BenchOptions, control: TimelineControl): Promise<BenchResult> {
  const timeline = new Timeline(options, control);
  const stats = timeline.stats;
  const endpoint = endpointOf(options);
  const context = new RunContext(stats);
  const withPublishers = options.mode !== 'sub';
  const withSubscribers = options.mode !== 'pub';
  const schedule = new Schedule(options.rate, options.clients);
  if (withPublishers && withSubscribers && options.rate === 0) {
    const fanout = options.topic.perClient ? 1 : options.clients;
    schedule.deliveries = new DeliveryWindow(options.window * options.clients * fanout, fanout, stats);
  }
  const publishers: Publisher[] = [];
  const conns: Connection[] = [];
  let loopQueued = false;
  let first = 0;
  const loop = (): void => {
    loopQueued = false;
    let more = false;
    // Start with another publisher each turn, so that a shared window is shared fairly.
    const n = publishers.length;
    first = first + 1 >= n ? 0 : first + 1;
    for (let k = 0; k < n; k++) if ((publishers[(first + k) % n] as Publisher).pump(1)) more = true;
    if (more && !schedule.stopped) wake();
  };
  const wake = (): void => {
    if (loopQueued || schedule.stopped) return;
    loopQueued = true;
    setImmediate(loop);
  };
  let liveSubscribers = 0;
  const lost = (role: 'publisher' | 'subscriber', reason: string): void => {
    stats.connectionErrors++;
    stats.noteError('connection', reason);
    if (role === 'subscriber') liveSubscribers--;
    const remaining = role === 'publisher' ? publishers.filter((p) => !p.lost).length : liveSubscribers;
    if (remaining === 0) timeline.stop(`every ${role} connection was lost: ${reason}`);
  };

  try {
    if (withSubscribers) {
      const subs = await openPool(
        options.clients,
        (i) => ({
          handler: new Subscriber(
            (reason) => lost('subscriber', reason),
            () => {
              if (schedule.deliveries !== undefined) wake();
            },
          ),
          clientId: `${options.clientIdPrefix}-s${i}`,
        }),
        endpoint,
        context,
        () => undefined,
      );
      conns.push(...subs);
      liveSubscribers = subs.length;
      await Promise.all(subs.map((c) => c.subscribe(options.topic.filter(c.index), options.qos)));
    }
    if (withPublishers) {
      for (let i = 0; i < options.clients; i++) {
        publishers.push(
          new Publisher({
            index: i,
            topic: options.topic,
            qos: options.qos,
            payloadBytes: options.payloadBytes,
            version: options.version,
            window: options.window,
            ackLatency: !withSubscribers,
            stats,
            schedule,
            onLost: (_p, reason) => lost('publisher', reason),
            wake,
          }),
        );
      }
      const pubs = await openPool(
        options.clients,
        (i) => ({ handler: publishers[i] as Publisher, clientId: `${options.clientIdPrefix}-p${i}` }),
        endpoint,
        context,
        (publisher, conn) => publisher.attach(conn),
      );
      conns.push(...pubs);
      checkServerLimits(options, pubs[0], publishers[0]);
    }
  } catch (err) {
    for (const c of conns) c.destroy();
    throw err;
  }

  const latencyKind: LatencyKind = !stamped(options)
    ? 'none'
    : withSubscribers
      ? 'end-to-end'
      : options.qos > 0
        ? 'publish-to-ack'
        : 'none';
  const measured = await timeline.run({
    connections: () => conns.length - stats.connectionErrors,
    start: () => {
      for (const p of publishers) p.pump(4);
      wake();
    },
    tick: (elapsed) => {
      schedule.elapsed = elapsed;
      if (schedule.deliveries !== undefined) {
        schedule.deliveries.check(elapsed * 1000);
        wake();
      }
      if (schedule.perClient > 0) for (const p of publishers) p.pump(4);
    },
    stopSending: () => {
      schedule.stopped = true;
    },
    drained: (quietMs) => {
      // sub: messages from other publishers keep coming; the count stops with the clock.
      if (!withPublishers) return true;
      const inflight = publishers.reduce((n, p) => n + (p.lost ? 0 : p.inflight), 0);
      const expected = expectedDeliveries(options, stats.sent);
      const arrived = !withSubscribers || (expected !== null && stats.received >= expected) || quietMs >= 1000;
      return inflight === 0 && arrived;
    },
    keepAlive: () => {
      for (const c of conns) c.ping();
    },
  });
  for (const c of conns) c.close();

  const window = withPublishers && options.qos > 0 ? Math.min(...publishers.map((p) => p.effectiveWindow)) : null;
  return timeline.result({
    publishers: withPublishers ? options.clients : 0,
    subscribers: withSubscribers ? options.clients : 0,
    window,
    expected: withPublishers && withSubscribers ? expectedDeliveries(options, stats.sent) : null,
    latencyKind,
    connectionsOpen: conns.filter((c) => !c.closed).length,
    measured,
  });
}

/** pubsub: each message reaches one subscriber when topics differ per client (%i), every one otherwise. */
function expectedDeliveries(options: BenchOptions, sent: number): number | null {
  if (options.mode !== 'pubsub') return null;
  return sent * (options.topic.perClient ? 1 : options.clients);
}

/** The broker's CONNACK limits that rule the run out. */
function checkServerLimits(options: BenchOptions, conn: Connection | undefined, publisher: Publisher | undefined): void {
  if (conn === undefined || publisher === undefined) return;
  if (options.qos > conn.serverMaximumQoS) {
    throw new BenchError(
      `the broker at ${conn.where} accepts QoS up to ${conn.serverMaximumQoS} (Maximum QoS in its CONNACK); use -q ${conn.serverMaximumQoS}.`,
    );
  }
  if (publisher.packetBytes > conn.serverMaximumPacketSize) {
    throw new BenchError(
      `a PUBLISH of ${publisher.packetBytes} bytes exceeds the broker's Maximum Packet Size of ${conn.serverMaximumPacketSize}; use a smaller -s.`,
    );
  }
}
