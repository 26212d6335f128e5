import { Buffer } from 'node:buffer';
import { encodePacket, PacketType, type ProtocolVersion, type QoS, reasonCodeName } from '../protocol/index.js';
import { type Connection, type ConnectionHandler, hex } from './connection.js';
import { makePayload, type PublishTemplate, publishTemplate, repeat } from './packets.js';
import { epochNow, type Stats } from './stats.js';
import type { TopicPattern } from './topics.js';

/** Bytes per write when a publisher may send as much as it likes: about what a socket read takes. */
const BATCH_BYTES = 16 * 1024;

/**
 * End-to-end flow control for pubsub without a rate: at most `budget` messages (deliveries, with fan-out)
 * may be on their way from the publishers to the subscribers. Without it, "as fast as possible" only fills
 * socket buffers, and latency measures the buffers. Deliveries the broker dropped would stop the flow:
 * after a second without any delivery, what is outstanding is written off as lost.
 */
export class DeliveryWindow {
  readonly budget: number;
  private readonly fanout: number;
  private readonly stats: Stats;
  /** Deliveries written off as lost. */
  lost = 0;
  private lastDelivered = -1;
  private lastChange = 0;

  constructor(budget: number, fanout: number, stats: Stats) {
    this.budget = budget;
    this.fanout = fanout;
    this.stats = stats;
  }

  /**
   * Messages that may be published now. Room is handed out a quarter of the budget at a time: refilling
   * after every delivery would make a small write (and, on loopback, the whole TCP send path) per read.
   */
  room(): number {
    const outstanding = this.stats.sentTotal * this.fanout - this.stats.deliveredTotal - this.lost;
    const free = this.budget - outstanding;
    return free * 4 < this.budget ? 0 : Math.floor(free / this.fanout);
  }

  /** Called every few milliseconds: writes off deliveries that stopped coming. */
  check(now: number): void {
    const delivered = this.stats.deliveredTotal;
    if (delivered !== this.lastDelivered) {
      this.lastDelivered = delivered;
      this.lastChange = now;
      return;
    }
    const outstanding = this.stats.sentTotal * this.fanout - delivered - this.lost;
    if (outstanding > 0 && now - this.lastChange >= 1000) {
      this.lost += outstanding;
      this.lastChange = now;
    }
  }
}

/** When publishers may send: as fast as they can, or on a schedule of messages per second. */
export class Schedule {
  /** Messages per second per publisher; 0 means no limit. */
  readonly perClient: number;
  private readonly clients: number;
  /** Seconds since sending started, advanced by the runner's ticker. */
  elapsed = 0;
  stopped = false;
  /** pubsub without a rate: the end-to-end window. */
  deliveries: DeliveryWindow | undefined;

  constructor(totalRate: number, clients: number) {
    this.perClient = totalRate / clients;
    this.clients = clients;
  }

  /** Messages publisher `index` may still send now, having sent `sent`. Publishers are staggered. */
  due(index: number, sent: number): number {
    if (this.stopped) return 0;
    if (this.deliveries !== undefined) return this.deliveries.room();
    if (this.perClient === 0) return Number.POSITIVE_INFINITY;
    return Math.floor(this.perClient * this.elapsed + index / this.clients) - sent;
  }
}

export interface PublisherSetup {
  readonly index: number;
  readonly topic: TopicPattern;
  readonly qos: QoS;
  readonly payloadBytes: number;
  readonly version: ProtocolVersion;
  /** QoS 1/2 messages in flight at most. */
  readonly window: number;
  /** Record publish-to-acknowledgement latency (pub mode without subscribers). */
  readonly ackLatency: boolean;
  readonly stats: Stats;
  readonly schedule: Schedule;
  /** Asks the runner to call pump() again soon (the publisher could send more than it did). */
  readonly wake: () => void;
  /** Called when the connection is lost. */
  readonly onLost: (publisher: Publisher, reason: string) => void;
}

/**
 * Publishes on one connection with as little work per message as possible. The PUBLISH is encoded once
 * and copied into each write (as many messages as fit in ~16 KiB), then only its send-time stamp and
 * Packet Identifier are patched. QoS 1/2 identifiers live in a ring indexed by identifier, so an
 * acknowledgement is matched with one array read, and a slot still in flight is never reused.
 */
export class Publisher implements ConnectionHandler {
  conn: Connection | undefined;
  readonly index: number;
  /** Messages written since the start (warm-up included): the schedule counts these. */
  sequence = 0;
  inflight = 0;
  lost = false;
  private readonly setup: PublisherSetup;
  private readonly stats: Stats;
  private readonly qos: QoS;
  private window: number;
  private refillAt: number;
  private readonly template: PublishTemplate;
  private readonly batch: Buffer;
  private readonly maxBatch: number;
  /** %n topics: the payload is stamped, then each message is encoded on its own. */
  private readonly payload: Buffer;
  private readonly ringIds: Int32Array;
  private readonly ringTimes: Float64Array;
  private readonly ringStage: Uint8Array;
  private readonly mask: number;
  private nextId = 1;

  constructor(setup: PublisherSetup) {
    this.setup = setup;
    this.index = setup.index;
    this.stats = setup.stats;
    this.qos = setup.qos;
    this.payload = makePayload(setup.payloadBytes);
    this.template = publishTemplate(setup.topic.topic(setup.index, 0), this.payload, setup.qos, setup.version);
    this.maxBatch = Math.max(1, Math.floor(BATCH_BYTES / this.template.packet.length));
    this.batch = setup.topic.perMessage ? this.template.packet : repeat(this.template.packet, this.maxBatch);
    this.window = setup.window;
    this.refillAt = refillThreshold(this.window, setup.schedule);
    let size = 2;
    while (size < this.window * 2) size *= 2;
    this.ringIds = new Int32Array(size).fill(-1);
    this.ringTimes = new Float64Array(size);
    this.ringStage = new Uint8Array(size);
    this.mask = size - 1;
  }

  /** The encoded size of one PUBLISH (fixed topic; with %n, of the first message). */
  get packetBytes(): number {
    return this.template.packet.length;
  }

  /** Takes the connection once its CONNACK came; the broker's Receive Maximum may shrink the window. */
  attach(conn: Connection): void {
    this.conn = conn;
    conn.handler = this;
    if (this.qos > 0 && conn.serverReceiveMaximum < this.window) {
      this.window = conn.serverReceiveMaximum;
      this.refillAt = refillThreshold(this.window, this.setup.schedule);
    }
  }

  get effectiveWindow(): number {
    return this.window;
  }

  /**
   * Sends what the schedule allows, within the window, until the socket pushes back or `maxWrites`
   * writes were made. Returns whether it could send more right now (the caller may come back).
   */
  pump(maxWrites: number): boolean {
    const conn = this.conn;
    if (conn === undefined || conn.blocked || this.lost) return false;
    let due = this.setup.schedule.due(this.index, this.sequence);
    for (let w = 0; w < maxWrites && due > 0; w++) {
      let n = Math.min(due, this.maxBatch);
      if (this.qos > 0) {
        const room = this.window - this.inflight;
        // Refill in chunks: one write per quarter window, not one per acknowledgement.
        if (room < n && room < this.refillAt) return false;
        if (room < n) n = room;
      }
      if (!conn.write(this.setup.topic.perMessage ? this.encodeEach(n) : this.fill(n))) return false;
      due -= n;
    }
    return due > 0;
  }

  /** n copies of the template with stamps and identifiers patched in. */
  private fill(n: number): Buffer {
    const t = this.template;
    const size = t.packet.length;
    const out = Buffer.allocUnsafe(n * size);
    this.batch.copy(out, 0, 0, n * size);
    const now = epochNow();
    if (t.stampOffset >= 0) for (let i = 0, o = t.stampOffset + 4; i < n; i++, o += size) out.writeDoubleLE(now, o);
    if (this.qos > 0) {
      for (let i = 0, o = t.idOffset; i < n; i++, o += size) {
        const id = this.take(now);
        out[o] = id >>> 8;
        out[o + 1] = id & 0xff;
      }
    }
    this.sequence += n;
    this.stats.sent += n;
    this.stats.sentTotal += n;
    return out;
  }

  /** %n topics: each message is encoded with its own topic. */
  private encodeEach(n: number): Buffer {
    const now = epochNow();
    if (this.template.stampOffset >= 0) this.payload.writeDoubleLE(now, 4);
    const parts: Buffer[] = [];
    for (let i = 0; i < n; i++) {
      const topic = this.setup.topic.topic(this.index, this.sequence + i);
      parts.push(
        encodePacket(
          this.qos === 0
            ? { type: PacketType.Publish, topic, payload: this.payload, qos: 0, retain: false, dup: false }
            : {
                type: PacketType.Publish,
                topic,
                payload: this.payload,
                qos: this.qos,
                retain: false,
                dup: false,
                packetId: this.take(now),
              },
          this.setup.version,
        ),
      );
    }
    this.sequence += n;
    this.stats.sent += n;
    this.stats.sentTotal += n;
    return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
  }

  /** A Packet Identifier whose ring slot is free; the window keeps at least half the slots free. */
  private take(now: number): number {
    let id = this.nextId;
    while (this.ringIds[id & this.mask] !== -1) id = id === 65_535 ? 1 : id + 1;
    const slot = id & this.mask;
    this.ringIds[slot] = id;
    this.ringTimes[slot] = now;
    this.ringStage[slot] = 0;
    this.nextId = id === 65_535 ? 1 : id + 1;
    this.inflight++;
    return id;
  }

  // ---- ConnectionHandler ------------------------------------------------------------------------

  onAck(conn: Connection, type: number, packetId: number, reasonCode: number): void {
    const slot = packetId & this.mask;
    if (this.ringIds[slot] !== packetId) return;
    if (type === PacketType.Pubrec) {
      if (this.qos !== 2 || this.ringStage[slot] !== 0) return;
      if (reasonCode >= 0x80) {
        this.complete(conn, slot, reasonCode);
        return;
      }
      // [MQTT-4.3.3-4] PUBREL with the same identifier; written with this read's other acknowledgements.
      this.ringStage[slot] = 1;
      conn.queueAck(PacketType.Pubrel, packetId);
      return;
    }
    if (type === PacketType.Puback ? this.qos === 1 : this.qos === 2 && this.ringStage[slot] === 1) this.complete(conn, slot, reasonCode);
  }

  private complete(conn: Connection, slot: number, reasonCode: number): void {
    this.ringIds[slot] = -1;
    this.inflight--;
    const sentAt = this.ringTimes[slot] as number;
    const stats = this.stats;
    // Sent during the warm-up: not counted.
    if (sentAt < stats.measureFrom) return;
    if (reasonCode >= 0x80) {
      stats.publishFailures++;
      stats.noteError(
        'publish',
        `the broker refused a publish: ${reasonCodeName(reasonCode, PacketType.Puback, conn.version)} (0x${hex(reasonCode)}).`,
      );
      return;
    }
    stats.acked++;
    if (this.setup.ackLatency) stats.interval.record((epochNow() - sentAt) * 1000);
  }

  afterRead(): void {
    if (this.pump(4)) this.setup.wake();
  }

  onDrain(): void {
    if (this.pump(4)) this.setup.wake();
  }

  onClose(_conn: Connection, reason: string | undefined): void {
    this.lost = true;
    if (reason !== undefined) this.setup.onLost(this, reason);
  }
}

/** With no schedule, QoS 1/2 refills wait for a quarter of the window to be free. */
function refillThreshold(window: number, schedule: Schedule): number {
  return schedule.perClient === 0 ? Math.max(1, Math.floor(window / 4)) : 1;
}
