import type { Buffer } from 'node:buffer';
import { PacketType, type QoS, ReasonCode } from '../protocol/index.js';
import type { Timer } from './clock.js';
import type { Connection } from './connection.js';
import { type Message, withPacketId } from './message.js';
import { Delivery, Inflight, type SubscriptionEntry } from './session.js';

/** Retained messages owed to a new subscription, fed as the socket drains. */
interface RetainedFeed {
  readonly messages: Iterator<Message>;
  readonly entry: SubscriptionEntry;
  peeked: Message | undefined;
}

/**
 * The sending side of a connection: write batching, flow control and the delivery of messages.
 *
 * - Packets are collected and written once per event-loop turn (the broker schedules the flush).
 * - QoS 1/2 messages go out while fewer than min(client Receive Maximum, maxInflight) are unacknowledged
 *   ([MQTT-3.3.4-9]) and the socket is not congested; otherwise they wait in the session queue, in order.
 * - QoS 0 messages for a congested socket are dropped and counted; a socket congested for longer than
 *   slowConsumerTimeout gets its client disconnected.
 * - A message larger than the client's Maximum Packet Size is not sent, as if delivered. [MQTT-3.1.2-25]
 */
export class Outbound {
  private chunks: Buffer[] = [];
  private bytes = 0;
  private scheduled = false;
  private slowTimer: Timer | undefined;
  private aliases: Map<string, number> | undefined;
  private nextAlias = 1;
  private feeds: RetainedFeed[] = [];

  constructor(private readonly c: Connection) {}

  push(buf: Buffer): void {
    this.chunks.push(buf);
    this.bytes += buf.length;
    this.schedule();
  }

  private schedule(): void {
    if (!this.scheduled) {
      this.scheduled = true;
      this.c.broker.scheduleFlush(this);
    }
  }

  /** Writes everything collected this turn. */
  flush(): void {
    this.scheduled = false;
    // The batch may already be written (deliverQos0 hands an oversized one over early).
    if (this.bytes > 0) this.writeBatch();
    if (this.slowTimer === undefined && this.congested) this.startSlowTimer();
    // A stream that took the batch without asking for 'drain' (it may complete writes synchronously) will
    // send no 'drain': go on with what the queue and retained feeds hold, one batch per turn.
    const stream = this.c.stream;
    if (stream.writable && !stream.writableNeedDrain) this.pump();
  }

  /** Hands the batch collected so far to the stream. */
  private writeBatch(): void {
    const chunks = this.chunks;
    const bytes = this.bytes;
    this.chunks = [];
    this.bytes = 0;
    this.c.writeNow(chunks, bytes);
  }

  /**
   * True when more than the high-water mark waits to be written. The mark is at least the stream's own:
   * below that the stream never asks for 'drain', and the queue and retained feeds waiting for one would
   * stall for good.
   */
  get congested(): boolean {
    const stream = this.c.stream;
    const mark = Math.max(this.c.broker.settings.limits.outboundHighWaterMark, stream.writableHighWaterMark);
    return this.bytes + stream.writableLength > mark;
  }

  private startSlowTimer(): void {
    const limits = this.c.broker.settings.limits;
    this.c.broker.metrics.limitHit('outboundHighWaterMark');
    this.slowTimer = this.c.broker.clock.setTimer(() => {
      this.slowTimer = undefined;
      if (this.congested) {
        this.c.abort(ReasonCode.QuotaExceeded, 'slow-consumer', `socket congested for ${limits.slowConsumerTimeout} ms`);
      }
    }, limits.slowConsumerTimeout);
  }

  drained(): void {
    if (!this.congested) {
      this.slowTimer?.cancel();
      this.slowTimer = undefined;
    }
    this.pump();
  }

  closed(): void {
    this.slowTimer?.cancel();
    this.slowTimer = undefined;
    this.feeds = [];
    this.chunks = [];
    this.bytes = 0;
  }

  private get window(): number {
    return Math.min(this.c.clientReceiveMaximum, this.c.broker.settings.limits.maxInflight);
  }

  // ---- delivery ---------------------------------------------------------------------------------

  deliverQos0(message: Message, retain: boolean, subscriptionIdentifiers: readonly number[] | undefined): void {
    const metrics = this.c.broker.metrics;
    if (this.congested) {
      // A burst can fill this turn's batch past the mark while the socket takes all it is given: hand the
      // batch over now, and drop only if the socket itself is behind.
      if (this.bytes > 0) this.writeBatch();
      if (this.congested) {
        if (this.slowTimer === undefined) this.startSlowTimer();
        metrics.droppedCongested++;
        if (this.c.session !== undefined) this.c.session.dropped++;
        return;
      }
    }
    if (this.write(message, 0, retain, subscriptionIdentifiers, 0, false)) metrics.publishSent++;
    else metrics.droppedTooLarge++;
  }

  /** A QoS 1/2 delivery: sent now if the window and socket allow, else queued behind the others. */
  deliverReliable(d: Delivery): void {
    const s = this.c.session;
    if (s === undefined) return;
    if (s.queueLength > 0 || s.backlog > 0 || s.inflightCount >= this.window || this.congested) {
      this.c.broker.enqueue(s, d);
      return;
    }
    this.sendNew(d);
  }

  private sendNew(d: Delivery): void {
    const s = this.c.session;
    if (s === undefined) return;
    const broker = this.c.broker;
    // The clock is read only for messages that can expire (a read per delivery costs ~5% at 1M msg/s).
    if (d.message.expiryInterval !== undefined && d.message.isExpired(broker.clock.now())) {
      broker.metrics.droppedExpired++;
      broker.persistence.removeDelivery(s, d);
      return;
    }
    const packetId = s.allocatePacketId();
    if (packetId === undefined) {
      broker.enqueue(s, d);
      return;
    }
    if (!this.write(d.message, d.qos, d.retain, d.subscriptionIdentifiers, packetId, false)) {
      broker.metrics.droppedTooLarge++;
      broker.persistence.removeDelivery(s, d);
      return;
    }
    d.message.detach();
    s.inflight.set(packetId, new Inflight(packetId, d));
    // A kept session records what is in flight, so a restart sends it again with DUP.
    if (s.stored) broker.persistence.updateDelivery(s, d, packetId, 'publish');
    broker.metrics.publishSent++;
  }

  /**
   * Encodes a PUBLISH for this connection and queues it; false if it exceeds the client's Maximum Packet
   * Size. The shared per-message encoding is used unless DUP, Subscription Identifiers or a Topic Alias
   * make this copy unique.
   */
  private write(
    message: Message,
    qos: QoS,
    retain: boolean,
    subIds: readonly number[] | undefined,
    packetId: number,
    dup: boolean,
  ): boolean {
    const c = this.c;
    const version = c.version;
    // `now` only matters for the Message Expiry Interval; without one it is never read.
    const now = message.expiryInterval === undefined ? 0 : c.broker.clock.now();
    const max = c.clientMaximumPacketSize;
    let alias: number | undefined;
    let aliasKnown = false;
    if (version === 5 && c.clientTopicAliasMaximum > 0 && c.broker.settings.outboundTopicAliases) {
      const existing = this.aliases?.get(message.topic);
      if (existing !== undefined) {
        alias = existing;
        aliasKnown = true;
      } else {
        alias = this.nextAliasFor();
      }
    }
    const unique = dup || alias !== undefined || (version === 5 && subIds !== undefined && subIds.length > 0);
    if (!unique) {
      const template = message.encoded(version, qos, retain, now);
      if (template.length > max) return false;
      if (qos === 0) {
        this.push(template);
      } else {
        this.bytes += withPacketId(template, message.packetIdOffset(template), packetId, this.chunks);
        this.schedule();
      }
      c.broker.metrics.packetsSent++;
      return true;
    }
    const buf = message.encodeUnique(
      version,
      qos,
      retain,
      dup,
      qos > 0 ? packetId : undefined,
      now,
      subIds,
      alias,
      aliasKnown ? '' : message.topic,
    );
    if (buf.length > max) return false;
    if (alias !== undefined && !aliasKnown) this.rememberAlias(message.topic, alias);
    this.push(buf);
    c.broker.metrics.packetsSent++;
    return true;
  }

  /** The alias to give a new topic: the next free one, or the oldest one's number once all are taken. */
  private nextAliasFor(): number {
    if (this.nextAlias <= this.c.clientTopicAliasMaximum) return this.nextAlias;
    const oldest = this.aliases?.entries().next().value;
    return oldest === undefined ? 1 : oldest[1];
  }

  private rememberAlias(topic: string, alias: number): void {
    if (this.aliases === undefined) this.aliases = new Map();
    if (alias === this.nextAlias) {
      this.nextAlias++;
    } else {
      for (const [t, a] of this.aliases) {
        if (a === alias) {
          this.aliases.delete(t);
          break;
        }
      }
    }
    this.aliases.set(topic, alias);
  }

  /** Sends what the session queue and retained feeds hold, as far as the window and socket allow. */
  pump(): void {
    const c = this.c;
    const s = c.session;
    if (c.state !== 'connected' || s === undefined) return;
    const broker = c.broker;
    while (!this.congested) {
      const head = s.queueLength > 0 ? s.queue.peek() : undefined;
      if (head !== undefined) {
        if (head.qos > 0 && s.inflight.size >= this.window) return;
        s.dequeue();
        if (head.message.isExpired(broker.clock.now())) {
          // The server MUST delete a message whose expiry passed before delivery started. [MQTT-3.3.2-5]
          broker.metrics.droppedExpired++;
          broker.persistence.removeDelivery(s, head);
          continue;
        }
        if (head.qos === 0) {
          this.deliverQos0(head.message, head.retain, head.subscriptionIdentifiers);
          broker.persistence.removeDelivery(s, head);
        } else {
          this.sendNew(head);
        }
        continue;
      }
      // The queue in memory is empty: older messages may still wait in the store.
      if (s.backlog > 0) {
        broker.loadBacklog(s);
        if (s.queue.length > 0) continue;
        return;
      }
      if (!this.pumpRetained()) return;
    }
  }

  /** Feeds retained messages owed to new subscriptions after their SUBACK. */
  feedRetained(messages: Iterator<Message>, entry: SubscriptionEntry): void {
    this.feeds.push({ messages, entry, peeked: undefined });
    this.pump();
  }

  private pumpRetained(): boolean {
    const feed = this.feeds[0];
    const s = this.c.session;
    if (feed === undefined || s === undefined) return false;
    let m = feed.peeked;
    if (m === undefined) {
      const next = feed.messages.next();
      if (next.done === true) {
        this.feeds.shift();
        return true;
      }
      m = next.value;
    }
    const broker = this.c.broker;
    if (m.isExpired(broker.clock.now())) {
      feed.peeked = undefined;
      broker.retained.delete(m.topic);
      return true;
    }
    const qos = Math.min(m.qos, feed.entry.qos) as QoS;
    if (qos > 0 && s.inflight.size >= this.window) {
      feed.peeked = m;
      return false;
    }
    feed.peeked = undefined;
    const id = feed.entry.subscriptionIdentifier;
    const subIds = id === undefined ? undefined : [id];
    // Retained messages sent because of a new subscription carry RETAIN 1 (3.1.1: [MQTT-3.3.1-8]; 5.0 section 3.3.1.3).
    if (qos === 0) this.deliverQos0(m, true, subIds);
    else this.sendNew(new Delivery(m, qos, true, subIds, undefined));
    return true;
  }

  /**
   * After a session resumes: unacknowledged PUBLISH packets are sent again with DUP 1 and PUBREL packets
   * again, with their original Packet Identifiers, before anything new. [MQTT-4.4.0-1] [MQTT-3.3.1-1]
   */
  resume(): void {
    const s = this.c.session;
    if (s === undefined) return;
    this.resend(s.inflight.values());
    this.pump();
  }

  /** Sends in-flight PUBLISH packets again with DUP 1, and PUBRELs again, under their identifiers. */
  resend(inflight: Iterable<Inflight>): void {
    const s = this.c.session;
    if (s === undefined) return;
    for (const f of inflight) {
      if (f.state === 'pubrel') {
        this.c.sendPacket({ type: PacketType.Pubrel, packetId: f.packetId, reasonCode: 0 });
        continue;
      }
      const d = f.delivery;
      if (!this.write(d.message, d.qos, d.retain, d.subscriptionIdentifiers, f.packetId, true)) {
        s.inflight.delete(f.packetId);
        this.c.broker.metrics.droppedTooLarge++;
        this.c.broker.persistence.removeDelivery(s, d);
      }
    }
  }
}
