import type { CloseReason } from './close-reason.js';

/** Which limit stopped something; counted in `limitHits`. */
export type LimitName =
  | 'maxConnections'
  | 'maxPacketSize'
  | 'maxInflight'
  | 'maxQueuedMessages'
  | 'maxQueuedBytesTotal'
  | 'maxTopicLevels'
  | 'maxTopicLength'
  | 'maxSubscriptionsPerClient'
  | 'maxClientIdLength'
  | 'maxKeepAlive'
  | 'receiveMaximum'
  | 'outboundHighWaterMark'
  | 'clientMaximumPacketSize'
  | 'maxPublishRate'
  | 'maxPublishByteRate'
  // Admission control (server/admission.ts): refused before any MQTT or TLS work, or at CONNECT for bans.
  | 'maxConnectionsPerAddress'
  | 'connectionRate'
  | 'banned';

/**
 * Counters the broker keeps as plain numbers (cheap to bump on the hot path); `$SYS/` and the metrics
 * endpoint read them. Gauges (connected clients, sessions, subscriptions, retained) are computed on read.
 */
export class Metrics {
  readonly startedAt: number;
  connectionsAccepted = 0;
  connectsAccepted = 0;
  connectsRefused = 0;
  maxConnected = 0;
  bytesReceived = 0;
  bytesSent = 0;
  packetsReceived = 0;
  packetsSent = 0;
  publishReceived = 0;
  publishSent = 0;
  /** QoS 0 messages dropped because the subscriber's socket was congested. */
  droppedCongested = 0;
  /** Messages dropped because a session queue was full. */
  droppedQueueFull = 0;
  /** Messages not sent because they exceed the client's Maximum Packet Size. [MQTT-3.1.2-25] */
  droppedTooLarge = 0;
  /** Messages whose Message Expiry Interval passed before delivery. */
  droppedExpired = 0;
  /** Publishes refused by authorization or limits. */
  publishRefused = 0;
  willsPublished = 0;
  sessionsExpired = 0;
  /** Addresses and client identifiers banned after repeated failed CONNECTs (admission control). */
  bans = 0;
  readonly closes = new Map<CloseReason, number>();
  readonly limitHits = new Map<LimitName, number>();

  constructor(now: number) {
    this.startedAt = now;
  }

  closed(reason: CloseReason): void {
    this.closes.set(reason, (this.closes.get(reason) ?? 0) + 1);
  }

  limitHit(limit: LimitName): void {
    this.limitHits.set(limit, (this.limitHits.get(limit) ?? 0) + 1);
  }

  /** Messages dropped for any reason. */
  get dropped(): number {
    return this.droppedCongested + this.droppedQueueFull + this.droppedTooLarge + this.droppedExpired;
  }
}
