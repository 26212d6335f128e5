import type { Buffer } from 'node:buffer';
import {
  type AckProperties,
  type ConnackPacket,
  encodePacket,
  isValidMqttString,
  MqttError,
  type Packet,
  PacketType,
  type ProtocolVersion,
  type PublishPacket,
  type PublishProperties,
  type QoS,
  ReasonCode,
  type SubackPacket,
  type SubscribeProperties,
  type Subscription,
  type UnsubackPacket,
  type UnsubscribeProperties,
  validateTopicFilter,
  validateTopicName,
} from '../protocol/index.js';
import { ClientError } from './errors.js';

/** What a finished publish reports: the PUBACK/PUBREC/PUBCOMP Reason Code (0 for QoS 0). */
export interface PublishResult {
  readonly reasonCode: number;
  readonly properties?: AckProperties;
}

export interface SubscribeResult {
  /** One per filter: the granted QoS (0..2) or a failure code (0x80 and above). */
  readonly reasonCodes: readonly number[];
  readonly properties?: AckProperties;
}

export interface UnsubscribeResult {
  /** 5.0: one per filter. 3.1.1 UNSUBACK carries none. */
  readonly reasonCodes: readonly number[];
  readonly properties?: AckProperties;
}

/** A message the application asked to publish. */
export interface OutgoingMessage {
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: QoS;
  readonly retain: boolean;
  readonly properties?: PublishProperties;
}

/** A QoS 1/2 publish that must survive until acknowledged, as the durable store keeps it. */
export interface StoredPublish extends OutgoingMessage {
  /** Local, monotonic: packet identifiers change when a session is lost, keys do not. */
  readonly key: number;
}

export type Token = number;

/**
 * Where the state machine's decisions go. It calls these synchronously and does no I/O itself; the
 * client wires them to the transport, the application and the store, and tests to plain arrays.
 */
export interface StateOutput {
  /** Bytes of one encoded packet, to be written in order. */
  send(bytes: Buffer, packet: Packet): void;
  /** An application message arrived (topic already resolved from any Topic Alias). */
  receive(message: PublishPacket): void;
  /** Completes the operation `token` with a result, or fails it. */
  settle(token: Token, result: PublishResult | SubscribeResult | UnsubscribeResult | undefined, error?: ClientError): void;
  /** A QoS 1/2 message was accepted and must be kept until `forget`. */
  persist(message: StoredPublish): void;
  forget(key: number): void;
}

interface Pending {
  readonly key: number;
  readonly token: Token;
  readonly message: OutgoingMessage;
  packetId: number;
  state: 'queued' | 'publish' | 'pubrel';
}

interface PendingRequest {
  readonly token: Token;
  readonly packet: Packet;
}

export interface StateOptions {
  readonly version: ProtocolVersion;
  /** Messages (QoS 1/2 and, if allowed, QoS 0) held while offline or over the server's window. */
  readonly maxQueued: number;
  /** Queue QoS 0 messages while offline (else they fail at once). */
  readonly queueQos0: boolean;
  /** Assign Topic Aliases to repeated topics when the server allows them. */
  readonly autoTopicAlias: boolean;
  /** Resend subscriptions when the server did not keep the session. */
  readonly resubscribe: boolean;
  /** Our Receive Maximum (CONNECT): unacknowledged QoS 2 messages the server may send. */
  readonly receiveMaximum: number;
  /** Our Topic Alias Maximum (CONNECT). */
  readonly topicAliasMaximum: number;
}

/**
 * The client's side of the protocol, with no I/O: packet identifiers, QoS 1/2 flows in both directions,
 * the server's Receive Maximum window, Maximum Packet Size, Topic Aliases, subscriptions to restore and
 * messages held while offline. Every input is a method call; every output goes through StateOutput.
 */
export class ClientState {
  readonly version: ProtocolVersion;
  private readonly options: StateOptions;
  private readonly out: StateOutput;
  connected = false;
  // Limits the server announced in CONNACK.
  serverReceiveMaximum = 65_535;
  serverMaximumPacketSize = Number.POSITIVE_INFINITY;
  serverTopicAliasMaximum = 0;
  serverMaximumQoS: QoS = 2;
  serverRetainAvailable = true;
  private readonly inflight = new Map<number, Pending>();
  private queue: Pending[] = [];
  private readonly requests = new Map<number, PendingRequest>();
  private readonly inboundQos2 = new Set<number>();
  /** Subscriptions to restore when the server lost the session, by filter. */
  readonly subscriptions = new Map<string, { readonly subscription: Subscription; readonly properties: SubscribeProperties | undefined }>();
  private aliasesOut = new Map<string, number>();
  private aliasesIn = new Map<number, string>();
  private nextPacketId = 1;
  private nextKey = 1;

  constructor(options: StateOptions, out: StateOutput) {
    this.version = options.version;
    this.options = options;
    this.out = out;
  }

  /** QoS 1/2 messages sent and not yet acknowledged. */
  get inflightCount(): number {
    return this.inflight.size;
  }

  /** Messages waiting for the connection or for room in the server's window. */
  get queuedCount(): number {
    return this.queue.length;
  }

  /** Operations not finished: publishes in flight or queued, subscribes and unsubscribes awaiting acks. */
  get pendingCount(): number {
    return this.inflight.size + this.queue.length + this.requests.size;
  }

  // ---- connection lifecycle ---------------------------------------------------------------------

  /**
   * The server accepted the connection. With the session present, unacknowledged PUBLISH packets are sent
   * again with DUP 1 and PUBRELs again, under their original identifiers ([MQTT-4.4.0-1], [MQTT-3.3.1-1]);
   * without it, the server forgot them, so they go again as new messages and subscriptions are restored.
   */
  connectionAccepted(connack: ConnackPacket): void {
    const p = connack.properties;
    this.serverReceiveMaximum = p?.receiveMaximum ?? 65_535;
    this.serverMaximumPacketSize = p?.maximumPacketSize ?? Number.POSITIVE_INFINITY;
    this.serverTopicAliasMaximum = p?.topicAliasMaximum ?? 0;
    this.serverMaximumQoS = (p?.maximumQoS ?? 2) as QoS;
    this.serverRetainAvailable = p?.retainAvailable ?? true;
    this.connected = true;
    this.aliasesOut = new Map();
    this.aliasesIn = new Map();
    const requests = [...this.requests.values()];
    this.requests.clear();
    if (connack.sessionPresent) {
      for (const pending of this.inflight.values()) {
        if (pending.state === 'pubrel') this.write({ type: PacketType.Pubrel, packetId: pending.packetId, reasonCode: 0 });
        else this.sendPublish(pending, true);
      }
    } else {
      // [MQTT-3.2.2-5] The session state is gone: what was in flight is sent again as new messages.
      this.inboundQos2.clear();
      const again = [...this.inflight.values()].filter((p) => p.state === 'publish');
      for (const p of this.inflight.values()) if (p.state === 'pubrel') this.finish(p, { reasonCode: 0 });
      this.inflight.clear();
      for (const p of again) {
        p.state = 'queued';
        p.packetId = 0;
      }
      this.queue = [...again, ...this.queue];
      if (this.options.resubscribe) this.restoreSubscriptions(requests);
    }
    // SUBSCRIBE / UNSUBSCRIBE not acknowledged before the connection dropped: send them again.
    for (const r of requests) this.request(r.token, r.packet);
    this.drain();
  }

  /** The network connection closed. Topic Aliases end with it ([MQTT-3.3.2-7]); everything else waits. */
  connectionLost(): void {
    this.connected = false;
  }

  /** Fails every operation still pending (the client is ending). */
  failAll(error: ClientError): void {
    for (const p of this.inflight.values()) this.out.settle(p.token, undefined, error);
    for (const p of this.queue) this.out.settle(p.token, undefined, error);
    for (const r of this.requests.values()) this.out.settle(r.token, undefined, error);
    this.inflight.clear();
    this.queue = [];
    this.requests.clear();
  }

  /** Messages loaded from a durable store at start: queued ahead of anything new. */
  restore(messages: readonly StoredPublish[], tokenFor: (key: number) => Token): void {
    for (const m of messages) {
      if (m.key >= this.nextKey) this.nextKey = m.key + 1;
      this.queue.push({ key: m.key, token: tokenFor(m.key), message: m, packetId: 0, state: 'queued' });
    }
  }

  // ---- application commands ---------------------------------------------------------------------

  publish(message: OutgoingMessage, token: Token): void {
    const problem = this.checkPublish(message);
    if (problem !== undefined) {
      this.out.settle(token, undefined, problem);
      return;
    }
    if (message.qos === 0) {
      if (this.connected && this.queue.length === 0) {
        const pending: Pending = { key: 0, token, message, packetId: 0, state: 'publish' };
        if (this.sendPublish(pending, false)) this.out.settle(token, { reasonCode: 0 });
        return;
      }
      if (!this.options.queueQos0 && !this.connected) {
        this.out.settle(
          token,
          undefined,
          new ClientError('CONNECTION_LOST', 'not connected, and QoS 0 messages are not queued while offline'),
        );
        return;
      }
    }
    if (this.queue.length >= this.options.maxQueued) {
      this.out.settle(
        token,
        undefined,
        new ClientError('OFFLINE_QUEUE_FULL', `${this.queue.length} messages are already waiting to be sent`),
      );
      return;
    }
    const pending: Pending = { key: message.qos > 0 ? this.nextKey++ : 0, token, message, packetId: 0, state: 'queued' };
    // Written out rather than `{ ...message, key }`: V8's object spread made this line cost ~1.6 µs, more
    // than the rest of a QoS 1 publish (bench/client, bench/RESULTS.md "Client").
    if (message.qos > 0) this.out.persist(storedPublish(message, pending.key));
    this.queue.push(pending);
    this.drain();
  }

  subscribe(subscriptions: readonly Subscription[], properties: SubscribeProperties | undefined, token: Token): void {
    try {
      if (subscriptions.length === 0) throw new ClientError('INVALID_ARGUMENT', 'subscribe needs at least one topic filter');
      for (const s of subscriptions) {
        if (!isValidMqttString(s.topicFilter)) throw new ClientError('INVALID_TOPIC', `topic filter "${s.topicFilter}" is not valid UTF-8`);
        validateTopicFilter(s.topicFilter, 'topic filter', this.version);
      }
    } catch (err) {
      this.out.settle(token, undefined, asClientError(err, 'INVALID_TOPIC'));
      return;
    }
    for (const s of subscriptions) this.subscriptions.set(s.topicFilter, { subscription: s, properties });
    const packet: Packet = {
      type: PacketType.Subscribe,
      packetId: 1,
      subscriptions,
      ...(properties === undefined || this.version < 5 ? {} : { properties }),
    };
    this.request(token, packet);
  }

  unsubscribe(topicFilters: readonly string[], properties: UnsubscribeProperties | undefined, token: Token): void {
    try {
      if (topicFilters.length === 0) throw new ClientError('INVALID_ARGUMENT', 'unsubscribe needs at least one topic filter');
      for (const f of topicFilters) validateTopicFilter(f, 'topic filter', this.version);
    } catch (err) {
      this.out.settle(token, undefined, asClientError(err, 'INVALID_TOPIC'));
      return;
    }
    for (const f of topicFilters) this.subscriptions.delete(f);
    const packet: Packet = {
      type: PacketType.Unsubscribe,
      packetId: 1,
      topicFilters,
      ...(properties === undefined || this.version < 5 ? {} : { properties }),
    };
    this.request(token, packet);
  }

  /** Sends a SUBSCRIBE/UNSUBSCRIBE under a fresh Packet Identifier when connected; else it waits. */
  private request(token: Token, template: Packet): void {
    if (!this.connected) {
      this.requests.set(-token, { token, packet: template });
      return;
    }
    const packetId = this.allocatePacketId();
    const packet = { ...template, packetId } as Packet;
    this.requests.set(packetId, { token, packet });
    this.write(packet);
  }

  private restoreSubscriptions(waiting: readonly PendingRequest[]): void {
    const resent = new Set<string>();
    for (const r of waiting) if (r.packet.type === PacketType.Subscribe) for (const s of r.packet.subscriptions) resent.add(s.topicFilter);
    // One SUBSCRIBE per distinct set of properties (a SUBSCRIBE carries one Subscription Identifier).
    const groups = new Map<SubscribeProperties | undefined, Subscription[]>();
    for (const { subscription, properties } of this.subscriptions.values()) {
      if (resent.has(subscription.topicFilter)) continue;
      const list = groups.get(properties);
      if (list === undefined) groups.set(properties, [subscription]);
      else list.push(subscription);
    }
    for (const [properties, subscriptions] of groups) {
      const packetId = this.allocatePacketId();
      const packet: Packet = {
        type: PacketType.Subscribe,
        packetId,
        subscriptions,
        ...(properties === undefined || this.version < 5 ? {} : { properties }),
      };
      this.requests.set(packetId, { token: 0, packet });
      this.write(packet);
    }
  }

  // ---- packets from the server ------------------------------------------------------------------

  /** Handles one packet from the server after CONNACK. Throws MqttError for protocol violations. */
  handle(packet: Packet): void {
    switch (packet.type) {
      case PacketType.Publish:
        this.onPublish(packet);
        return;
      case PacketType.Puback: {
        const p = this.inflight.get(packet.packetId);
        if (p === undefined || p.message.qos !== 1) return;
        this.inflight.delete(packet.packetId);
        this.finish(
          p,
          result(packet.reasonCode, packet.properties),
          packet.reasonCode >= 0x80 ? packet.properties?.reasonString : undefined,
        );
        this.drain();
        return;
      }
      case PacketType.Pubrec: {
        const p = this.inflight.get(packet.packetId);
        if (p === undefined || p.message.qos !== 2) {
          // 5.0: an unknown identifier is answered PUBREL 0x92.
          if (this.version === 5)
            this.write({ type: PacketType.Pubrel, packetId: packet.packetId, reasonCode: ReasonCode.PacketIdentifierNotFound });
          return;
        }
        if (packet.reasonCode >= 0x80) {
          this.inflight.delete(packet.packetId);
          this.finish(p, result(packet.reasonCode, packet.properties), packet.properties?.reasonString);
          this.drain();
          return;
        }
        // [MQTT-4.3.3-4] PUBREL with the same Packet Identifier.
        p.state = 'pubrel';
        this.write({ type: PacketType.Pubrel, packetId: packet.packetId, reasonCode: 0 });
        return;
      }
      case PacketType.Pubcomp: {
        const p = this.inflight.get(packet.packetId);
        if (p === undefined || p.state !== 'pubrel') return;
        this.inflight.delete(packet.packetId);
        // The server took the message at PUBREC. Its only failure code, 0x92, answers a PUBREL resent for a
        // flow it had already completed: "not an error during recovery". The publish is done either way.
        if (p.key > 0) this.out.forget(p.key);
        this.out.settle(p.token, result(packet.reasonCode, packet.properties));
        this.drain();
        return;
      }
      case PacketType.Pubrel: {
        // [MQTT-4.3.3-11] PUBCOMP with the same Packet Identifier.
        const known = this.inboundQos2.delete(packet.packetId);
        this.write({
          type: PacketType.Pubcomp,
          packetId: packet.packetId,
          reasonCode: known || this.version < 5 ? 0 : ReasonCode.PacketIdentifierNotFound,
        });
        return;
      }
      case PacketType.Suback:
        this.onAck(packet);
        return;
      case PacketType.Unsuback:
        this.onAck(packet);
        return;
      case PacketType.Pingresp:
        return;
      default:
        // CONNACK twice, or a packet only clients send. DISCONNECT and AUTH are the client's to handle.
        throw new MqttError('MQTT_PROTOCOL_ERROR', ReasonCode.ProtocolError, `unexpected packet type ${packet.type} from the server`);
    }
  }

  private onPublish(p: PublishPacket): void {
    let message = p;
    const alias = p.properties?.topicAlias;
    if (alias !== undefined) {
      if (alias > this.options.topicAliasMaximum) {
        throw new MqttError(
          'MQTT_PROTOCOL_ERROR',
          ReasonCode.TopicAliasInvalid,
          `Topic Alias ${alias} exceeds our maximum ${this.options.topicAliasMaximum}`,
        );
      }
      if (p.topic.length > 0) {
        this.aliasesIn.set(alias, p.topic);
      } else {
        const topic = this.aliasesIn.get(alias);
        if (topic === undefined) throw new MqttError('MQTT_PROTOCOL_ERROR', ReasonCode.ProtocolError, `Topic Alias ${alias} was never set`);
        message = { ...p, topic };
      }
    }
    if (p.qos === 0) {
      this.out.receive(message);
      return;
    }
    const packetId = p.packetId as number;
    if (p.qos === 1) {
      this.out.receive(message);
      // [MQTT-4.3.2-4]
      this.write({ type: PacketType.Puback, packetId, reasonCode: 0 });
      return;
    }
    // QoS 2, Method B: deliver on the first PUBLISH, remember the identifier until PUBREL.
    if (!this.inboundQos2.has(packetId)) {
      if (this.version === 5 && this.inboundQos2.size >= this.options.receiveMaximum) {
        throw new MqttError('MQTT_PROTOCOL_ERROR', ReasonCode.ReceiveMaximumExceeded, 'the server exceeded our Receive Maximum');
      }
      this.inboundQos2.add(packetId);
      this.out.receive(message);
    }
    this.write({ type: PacketType.Pubrec, packetId, reasonCode: 0 });
  }

  private onAck(packet: SubackPacket | UnsubackPacket): void {
    const r = this.requests.get(packet.packetId);
    if (r === undefined) return;
    this.requests.delete(packet.packetId);
    if (packet.type === PacketType.Suback && r.packet.type === PacketType.Subscribe) {
      // Failed filters are not restored later.
      r.packet.subscriptions.forEach((s, i) => {
        if ((packet.reasonCodes[i] ?? 0x80) >= 0x80) this.subscriptions.delete(s.topicFilter);
      });
    }
    if (r.token === 0) return;
    const res =
      packet.properties === undefined
        ? { reasonCodes: packet.reasonCodes }
        : { reasonCodes: packet.reasonCodes, properties: packet.properties };
    this.out.settle(r.token, res);
  }

  // ---- sending ----------------------------------------------------------------------------------

  /** Sends queued messages while connected and within the server's Receive Maximum. [MQTT-3.3.4-7] */
  private drain(): void {
    while (this.connected && this.queue.length > 0) {
      const head = this.queue[0] as Pending;
      // Queued while offline, before this server's limits were known. [MQTT-3.2.2-11] [MQTT-3.2.2-14]
      const refusal = this.serverRefusal(head.message);
      if (refusal !== undefined) {
        this.queue.shift();
        this.finishError(head, refusal);
        continue;
      }
      if (head.message.qos > 0 && this.inflight.size >= this.serverReceiveMaximum) return;
      this.queue.shift();
      if (head.message.qos === 0) {
        if (this.sendPublish(head, false)) this.out.settle(head.token, { reasonCode: 0 });
        continue;
      }
      head.packetId = this.allocatePacketId();
      head.state = 'publish';
      this.inflight.set(head.packetId, head);
      this.sendPublish(head, false);
    }
  }

  /** Encodes and sends a PUBLISH; a packet above the server's Maximum Packet Size fails instead. */
  private sendPublish(p: Pending, dup: boolean): boolean {
    const m = p.message;
    let topic = m.topic;
    let properties = m.properties;
    let newAlias = 0;
    if (this.version === 5 && this.options.autoTopicAlias && this.serverTopicAliasMaximum > 0) {
      const known = this.aliasesOut.get(topic);
      if (known !== undefined) {
        properties = { ...properties, topicAlias: known };
        topic = '';
      } else if (this.aliasesOut.size < this.serverTopicAliasMaximum) {
        newAlias = this.aliasesOut.size + 1;
        properties = { ...properties, topicAlias: newAlias };
      }
    }
    const packet: PublishPacket = {
      type: PacketType.Publish,
      topic,
      payload: m.payload,
      qos: m.qos,
      retain: m.retain,
      dup,
      ...(m.qos > 0 ? { packetId: p.packetId } : {}),
      ...(properties === undefined || this.version < 5 ? {} : { properties }),
    };
    const bytes = encodePacket(packet, this.version);
    if (bytes.length > this.serverMaximumPacketSize) {
      // A packet above the server's Maximum Packet Size MUST NOT be sent. [MQTT-3.2.2-15]
      if (m.qos > 0) this.inflight.delete(p.packetId);
      this.finishError(
        p,
        new ClientError(
          'PACKET_TOO_LARGE',
          `the PUBLISH is ${bytes.length} bytes; the server accepts at most ${this.serverMaximumPacketSize}`,
        ),
      );
      return false;
    }
    // The alias exists for the server only once a PUBLISH setting it was actually sent.
    if (newAlias > 0) this.aliasesOut.set(m.topic, newAlias);
    this.out.send(bytes, packet);
    return true;
  }

  private write(packet: Packet): void {
    this.out.send(encodePacket(packet, this.version), packet);
  }

  private finish(p: Pending, res: PublishResult, reasonString?: string): void {
    if (p.key > 0) this.out.forget(p.key);
    if (res.reasonCode >= 0x80) {
      this.out.settle(
        p.token,
        undefined,
        ClientError.fromReason(
          'PUBLISH_FAILED',
          `publish to ${p.message.topic} failed`,
          res.reasonCode,
          undefined,
          this.version,
          reasonString,
        ),
      );
    } else {
      this.out.settle(p.token, res);
    }
  }

  private finishError(p: Pending, error: ClientError): void {
    if (p.key > 0) this.out.forget(p.key);
    this.out.settle(p.token, undefined, error);
  }

  /** A Packet Identifier unused by any PUBLISH, SUBSCRIBE or UNSUBSCRIBE in flight. [MQTT-2.2.1-3] */
  private allocatePacketId(): number {
    let id = this.nextPacketId;
    for (let i = 0; i < 65_535 && (this.inflight.has(id) || this.requests.has(id)); i++) id = id === 65_535 ? 1 : id + 1;
    this.nextPacketId = id === 65_535 ? 1 : id + 1;
    return id;
  }

  private checkPublish(m: OutgoingMessage): ClientError | undefined {
    try {
      if (!isValidMqttString(m.topic)) throw new ClientError('INVALID_TOPIC', `topic "${m.topic}" is not valid UTF-8`);
      validateTopicName(m.topic, 'topic', this.version);
    } catch (err) {
      return asClientError(err, 'INVALID_TOPIC');
    }
    if (m.qos !== 0 && m.qos !== 1 && m.qos !== 2) return new ClientError('INVALID_ARGUMENT', `QoS ${String(m.qos)} is not 0, 1 or 2`);
    return this.connected ? this.serverRefusal(m) : undefined;
  }

  /** What the server announced in CONNACK rules out for this message, if anything. */
  private serverRefusal(m: OutgoingMessage): ClientError | undefined {
    if (m.qos > this.serverMaximumQoS) {
      // [MQTT-3.2.2-11]
      return new ClientError('QOS_NOT_SUPPORTED', `the server accepts QoS up to ${this.serverMaximumQoS}`, ReasonCode.QoSNotSupported);
    }
    if (m.retain && !this.serverRetainAvailable) {
      // [MQTT-3.2.2-14]
      return new ClientError('RETAIN_NOT_SUPPORTED', 'the server does not accept retained messages', ReasonCode.RetainNotSupported);
    }
    return undefined;
  }
}

function storedPublish(m: OutgoingMessage, key: number): StoredPublish {
  return m.properties === undefined
    ? { topic: m.topic, payload: m.payload, qos: m.qos, retain: m.retain, key }
    : { topic: m.topic, payload: m.payload, qos: m.qos, retain: m.retain, properties: m.properties, key };
}

function result(reasonCode: number, properties: AckProperties | undefined): PublishResult {
  return properties === undefined ? { reasonCode } : { reasonCode, properties };
}

function asClientError(err: unknown, code: 'INVALID_TOPIC'): ClientError {
  if (err instanceof ClientError) return err;
  return new ClientError(code, err instanceof Error ? err.message : String(err), undefined, { cause: err });
}
