import { Buffer } from 'node:buffer';
import { encodePacket, PacketType, type ProtocolVersion, type PublishPacket, type PublishProperties, type QoS } from '../protocol/index.js';

/** What a PUBLISH carries from publisher to subscribers unaltered ([MQTT-3.3.2-4], [MQTT-3.3.2-15..20]). */
export type ForwardedProperties = Omit<PublishProperties, 'topicAlias' | 'subscriptionIdentifiers' | 'messageExpiryInterval'>;

/** Bytes at or below this size are copied per subscriber; larger packets share the payload bytes. */
const SHARE_PAYLOAD_ABOVE = 4096;

/**
 * An Application Message inside the broker: stored once and shared by every subscriber, its session
 * queues and the retained index. It caches the encoded PUBLISH per variant (protocol family, QoS,
 * RETAIN flag), so a message fanned out to many subscribers is encoded once per variant.
 */
export class Message {
  readonly topic: string;
  /** A view into the socket chunk it arrived in until `detach` copies it. */
  payload: Buffer;
  readonly qos: QoS;
  readonly retain: boolean;
  readonly properties: ForwardedProperties | undefined;
  /** Message Expiry Interval in seconds as received; undefined means it never expires. */
  readonly expiryInterval: number | undefined;
  readonly receivedAt: number;
  /** Client identifier of the publisher ('' for messages the broker makes), for No Local. */
  readonly origin: string;
  /** Id of its row in a durable store, once a kept delivery refers to it (0 = not stored). */
  storeId = 0;
  private owned: boolean;
  /** The first variant encoded, kept apart: most messages are only ever sent in one. */
  private firstVariant: Buffer | undefined;
  private firstIndex = -1;
  private variants: (Buffer | undefined)[] | undefined;
  private topicLength = -1;

  constructor(
    topic: string,
    payload: Buffer,
    qos: QoS,
    retain: boolean,
    properties: ForwardedProperties | undefined,
    expiryInterval: number | undefined,
    receivedAt: number,
    origin: string,
    owned = false,
  ) {
    this.topic = topic;
    this.payload = payload;
    this.qos = qos;
    this.retain = retain;
    this.properties = properties;
    this.expiryInterval = expiryInterval;
    this.receivedAt = receivedAt;
    this.origin = origin;
    this.owned = owned;
  }

  /**
   * Copies the payload out of the socket chunk it points into. Called before the message is kept beyond
   * the current turn (retained, queued), so a small message cannot pin a large chunk in memory.
   */
  detach(): this {
    if (!this.owned) {
      this.payload = Buffer.from(this.payload);
      this.owned = true;
      // Cached encodings hold their own copy of the payload; nothing else to do.
    }
    return this;
  }

  /** Milliseconds since the epoch after which the message is expired; Infinity if never. */
  get expiresAt(): number {
    return this.expiryInterval === undefined ? Number.POSITIVE_INFINITY : this.receivedAt + this.expiryInterval * 1000;
  }

  isExpired(now: number): boolean {
    return this.expiryInterval !== undefined && now >= this.receivedAt + this.expiryInterval * 1000;
  }

  /**
   * The Message Expiry Interval to send: the received value minus the whole seconds the message has
   * waited in the server. [MQTT-3.3.2-6]
   */
  remainingExpiry(now: number): number | undefined {
    if (this.expiryInterval === undefined) return undefined;
    return Math.max(0, this.expiryInterval - Math.floor((now - this.receivedAt) / 1000));
  }

  /**
   * The encoded PUBLISH for a protocol family, QoS and RETAIN flag, with Packet Identifier 0 as a
   * placeholder when qos > 0 (patch it with `withPacketId`). Cached while the expiry it carries is current.
   */
  encoded(version: ProtocolVersion, qos: QoS, retain: boolean, now: number): Buffer {
    const v5 = version === 5;
    const expiry = v5 ? this.remainingExpiry(now) : undefined;
    const cacheable = expiry === this.expiryInterval;
    const index = (v5 ? 6 : 0) + qos * 2 + (retain ? 1 : 0);
    if (cacheable) {
      if (index === this.firstIndex && this.firstVariant !== undefined) return this.firstVariant;
      const hit = this.variants?.[index];
      if (hit !== undefined) return hit;
    }
    const buf = encodePacket(this.packet(version, qos, retain, false, qos > 0 ? 0xffff : undefined, expiry, undefined, undefined), version);
    if (qos > 0) patchPacketId(buf, this.packetIdOffset(buf), 0);
    if (cacheable) {
      if (this.firstIndex < 0) {
        // No 12-slot array for the common single-variant message: one allocation less per message.
        this.firstIndex = index;
        this.firstVariant = buf;
      } else {
        if (this.variants === undefined) this.variants = new Array<Buffer | undefined>(12).fill(undefined);
        this.variants[index] = buf;
      }
    }
    return buf;
  }

  /**
   * A PUBLISH that cannot be shared: with DUP set, Subscription Identifiers or a Topic Alias.
   * `topic` is the Topic Name to send ('' when an established alias stands for it).
   */
  encodeUnique(
    version: ProtocolVersion,
    qos: QoS,
    retain: boolean,
    dup: boolean,
    packetId: number | undefined,
    now: number,
    subscriptionIdentifiers: readonly number[] | undefined,
    topicAlias: number | undefined,
    topic: string = this.topic,
  ): Buffer {
    const expiry = version === 5 ? this.remainingExpiry(now) : undefined;
    const packet = this.packet(version, qos, retain, dup, packetId, expiry, subscriptionIdentifiers, topicAlias, topic);
    return encodePacket(packet, version);
  }

  /** Where the Packet Identifier sits in an encoded QoS 1/2 PUBLISH of this message. */
  packetIdOffset(encoded: Buffer): number {
    let header = 2;
    while (((encoded[header - 1] as number) & 0x80) !== 0) header++;
    if (this.topicLength < 0) this.topicLength = Buffer.byteLength(this.topic, 'utf8');
    return header + 2 + this.topicLength;
  }

  private packet(
    version: ProtocolVersion,
    qos: QoS,
    retain: boolean,
    dup: boolean,
    packetId: number | undefined,
    expiry: number | undefined,
    subscriptionIdentifiers: readonly number[] | undefined,
    topicAlias: number | undefined,
    topic: string = this.topic,
  ): PublishPacket {
    let properties: PublishProperties | undefined;
    if (
      version === 5 &&
      (this.properties !== undefined || expiry !== undefined || subscriptionIdentifiers !== undefined || topicAlias !== undefined)
    ) {
      const p: { -readonly [K in keyof PublishProperties]: PublishProperties[K] } = { ...this.properties };
      if (expiry !== undefined) p.messageExpiryInterval = expiry;
      if (subscriptionIdentifiers !== undefined && subscriptionIdentifiers.length > 0) p.subscriptionIdentifiers = subscriptionIdentifiers;
      if (topicAlias !== undefined) p.topicAlias = topicAlias;
      properties = p;
    }
    // Plain literals, not spreads: this runs once per message and spreads cost allocations and time.
    const payload = this.payload;
    const d = dup && qos > 0;
    if (qos === 0) {
      return properties === undefined
        ? { type: PacketType.Publish, topic, payload, qos, retain, dup: d }
        : { type: PacketType.Publish, topic, payload, qos, retain, dup: d, properties };
    }
    const id = packetId ?? 0xffff;
    return properties === undefined
      ? { type: PacketType.Publish, topic, payload, qos, retain, dup: d, packetId: id }
      : { type: PacketType.Publish, topic, payload, qos, retain, dup: d, packetId: id, properties };
  }
}

export function patchPacketId(buf: Buffer, offset: number, packetId: number): void {
  buf[offset] = packetId >>> 8;
  buf[offset + 1] = packetId & 0xff;
}

/**
 * Writes a shared QoS 1/2 template with this subscriber's Packet Identifier: small packets are copied
 * whole; large ones become a private head and the shared payload bytes.
 */
export function withPacketId(template: Buffer, offset: number, packetId: number, out: Buffer[]): number {
  if (template.length <= SHARE_PAYLOAD_ABOVE) {
    const copy = Buffer.allocUnsafe(template.length);
    template.copy(copy);
    patchPacketId(copy, offset, packetId);
    out.push(copy);
    return template.length;
  }
  const head = Buffer.allocUnsafe(offset + 2);
  template.copy(head, 0, 0, offset);
  patchPacketId(head, offset, packetId);
  out.push(head, template.subarray(offset + 2));
  return template.length;
}
