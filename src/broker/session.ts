import type { ProtocolVersion, QoS, RetainHandling } from '../protocol/index.js';
import type { Timer } from './clock.js';
import type { Connection } from './connection.js';
import { Deque } from './deque.js';
import type { Message } from './message.js';

/** Session Expiry Interval meaning "never expires" (MQTT 5.0 section 3.1.2.11.2). */
export const NEVER_EXPIRES = 0xffff_ffff;

/** A subscription as the session keeps it. */
export interface SubscriptionEntry {
  /** The filter as subscribed, `$share/{name}/` prefix included. */
  readonly filter: string;
  /** The filter messages are matched against (without the share prefix). */
  readonly topicFilter: string;
  readonly shareName: string | undefined;
  /** The QoS granted, at most what was requested and what the server supports. */
  readonly qos: QoS;
  readonly noLocal: boolean;
  readonly retainAsPublished: boolean;
  readonly retainHandling: RetainHandling;
  readonly subscriptionIdentifier: number | undefined;
}

/** One message owed to a subscriber: what to send, at which QoS and with which RETAIN flag. */
export class Delivery {
  /** Place in the session's order in a durable store (0 = not stored). */
  seq = 0;
  constructor(
    readonly message: Message,
    readonly qos: QoS,
    readonly retain: boolean,
    readonly subscriptionIdentifiers: readonly number[] | undefined,
    /** `{shareName}/{topicFilter}` when it came through a Shared Subscription, so it can be redistributed. */
    readonly shareKey: string | undefined,
  ) {}
}

/** A QoS 1 or 2 PUBLISH sent and not yet acknowledged, or a PUBREL awaiting PUBCOMP. */
export class Inflight {
  /** 'publish': awaiting PUBACK / PUBREC; 'pubrel': PUBREC received, PUBREL sent, awaiting PUBCOMP. */
  state: 'publish' | 'pubrel' = 'publish';
  constructor(
    readonly packetId: number,
    readonly delivery: Delivery,
  ) {}
}

export interface QueueLimits {
  readonly maxQueuedMessages: number;
  readonly maxQueuedBytes: number;
}

export type EnqueueResult = 'queued' | 'dropped' | 'replaced';

/**
 * Bytes queued by all sessions together (in memory and in the store), for limits.maxQueuedBytesTotal.
 * Sessions add and subtract as their own counts change, so reading it costs nothing.
 */
export class QueueTotals {
  bytes = 0;
}

/** Will Message held for a session, published on an ungraceful close after the Will Delay Interval. */
export interface PendingWill {
  readonly message: Message;
  readonly delayInterval: number;
}

/**
 * The state of an MQTT session (MQTT 5.0 section 4.1), independent of any network connection: the
 * subscriptions, QoS 1/2 messages in flight and queued, and inbound QoS 2 packet identifiers. It does no
 * I/O; the connection that owns it at the moment sends what it says.
 */
export class Session {
  readonly clientId: string;
  protocolVersion: ProtocolVersion;
  /** Seconds the session outlives its network connection; NEVER_EXPIRES for never. */
  expiryInterval: number;
  readonly subscriptions = new Map<string, SubscriptionEntry>();
  /** Outbound QoS 1/2 in flight, in the order sent (Map keeps insertion order). */
  get inflight(): Map<number, Inflight> {
    if (this.lazyInflight === undefined) this.lazyInflight = new Map();
    return this.lazyInflight;
  }
  // The collections below are made on first use: a connected client that is only idle pays for none.
  private lazyInflight: Map<number, Inflight> | undefined;
  /** Messages owed but not yet sent: the client is offline, its Receive Maximum is reached, or its socket is full. */
  get queue(): Deque<Delivery> {
    if (this.lazyQueue === undefined) this.lazyQueue = new Deque();
    return this.lazyQueue;
  }
  private lazyQueue: Deque<Delivery> | undefined;

  /** Queued deliveries in memory, without making the queue. */
  get queueLength(): number {
    return this.lazyQueue?.length ?? 0;
  }

  /** Deliveries in flight, without making the table. */
  get inflightCount(): number {
    return this.lazyInflight?.size ?? 0;
  }
  /** The broker-wide total this session's queued bytes count towards. */
  private readonly totals: QueueTotals;
  private ownQueuedBytes = 0;
  private ownBacklogBytes = 0;

  /** Bytes (topic + payload) of the queue in memory. */
  get queuedBytes(): number {
    return this.ownQueuedBytes;
  }

  set queuedBytes(value: number) {
    this.totals.bytes += value - this.ownQueuedBytes;
    this.ownQueuedBytes = value;
  }
  /** Inbound QoS 2: Packet Identifiers whose PUBLISH was received and PUBREC sent, awaiting PUBREL. */
  get inboundQos2(): Set<number> {
    if (this.lazyInbound === undefined) this.lazyInbound = new Set();
    return this.lazyInbound;
  }
  private lazyInbound: Set<number> | undefined;
  /** The will of the last connection, while its delay runs. */
  pendingWill: PendingWill | undefined;
  willTimer: Timer | undefined;
  expiryTimer: Timer | undefined;
  /** When the last connection closed; undefined while connected. */
  disconnectedAt: number | undefined;
  /** The connection that owns the session now; undefined while the client is offline. */
  connection: Connection | undefined;
  /** Whether the durable store holds this session (it outlives its connection and the store is durable). */
  stored = false;
  /** The next `seq` for a stored delivery. */
  nextSeq = 1;
  /** Deliveries in the store not yet loaded into `queue` / `inflight` (offline queues live on disk). */
  backlog = 0;
  /**
   * Bytes (topic + payload) of the backlog, for limits.maxQueuedBytes. Counted from what this run of the
   * broker queued: a backlog restored from the store starts at 0 and so is held to the limit loosely.
   */
  get backlogBytes(): number {
    return this.ownBacklogBytes;
  }

  set backlogBytes(value: number) {
    this.totals.bytes += value - this.ownBacklogBytes;
    this.ownBacklogBytes = value;
  }
  /** The last `seq` loaded from the store. */
  loadedSeq = 0;
  /** A page of the backlog is being read. */
  loading = false;
  /** Counts messages dropped for this session because a limit was reached. */
  dropped = 0;
  private nextPacketId = 1;

  constructor(clientId: string, protocolVersion: ProtocolVersion, expiryInterval: number, totals: QueueTotals = new QueueTotals()) {
    this.totals = totals;
    this.clientId = clientId;
    this.protocolVersion = protocolVersion;
    this.expiryInterval = expiryInterval;
  }

  /**
   * A Packet Identifier not used by any outbound PUBLISH or PUBREL in flight ([MQTT-2.2.1-4]), or
   * undefined if all 65535 are.
   */
  allocatePacketId(): number | undefined {
    if (this.inflight.size >= 65_535) return undefined;
    let id = this.nextPacketId;
    while (this.inflight.has(id)) id = id === 65_535 ? 1 : id + 1;
    this.nextPacketId = id === 65_535 ? 1 : id + 1;
    return id;
  }

  /**
   * Queues a delivery within the limits. When full, a queued QoS 0 message is dropped to make room for a
   * QoS 1/2 one; otherwise the new message is dropped. QoS 1/2 messages are never evicted for others.
   */
  enqueue(delivery: Delivery, limits: QueueLimits): EnqueueResult {
    const size = delivery.message.payload.length + delivery.message.topic.length;
    if (this.queue.length < limits.maxQueuedMessages && this.queuedBytes + size <= limits.maxQueuedBytes) {
      this.queue.push(delivery);
      this.queuedBytes += size;
      return 'queued';
    }
    if (delivery.qos === 0) {
      this.dropped++;
      return 'dropped';
    }
    // Make room by dropping queued QoS 0 messages, oldest first.
    let count = this.queue.length + 1 - limits.maxQueuedMessages;
    let bytes = this.queuedBytes + size - limits.maxQueuedBytes;
    const removed = this.queue.removeWhere((d) => {
      if ((count <= 0 && bytes <= 0) || d.qos !== 0) return false;
      count--;
      bytes -= d.message.payload.length + d.message.topic.length;
      return true;
    });
    for (const d of removed) this.queuedBytes -= d.message.payload.length + d.message.topic.length;
    this.dropped += removed.length;
    if (this.queue.length < limits.maxQueuedMessages && this.queuedBytes + size <= limits.maxQueuedBytes) {
      this.queue.push(delivery);
      this.queuedBytes += size;
      return 'replaced';
    }
    this.dropped++;
    return 'dropped';
  }

  dequeue(): Delivery | undefined {
    const d = this.queue.shift();
    if (d !== undefined) this.queuedBytes -= d.message.payload.length + d.message.topic.length;
    return d;
  }

  /** Removes queued deliveries matching the predicate (e.g. a Shared Subscription's, to redistribute them). */
  takeQueued(match: (d: Delivery) => boolean): Delivery[] {
    const removed = this.queue.removeWhere(match);
    for (const d of removed) this.queuedBytes -= d.message.payload.length + d.message.topic.length;
    return removed;
  }

  /** Forgets every message owed: used when the session ends or a Clean Start discards it. */
  clearMessages(): void {
    this.lazyQueue?.clear();
    this.queuedBytes = 0;
    this.lazyInflight?.clear();
    this.lazyInbound?.clear();
  }
}
