import { Buffer } from 'node:buffer';
import type { Duplex } from 'node:stream';
import {
  type ConnackPacket,
  type DisconnectPacket,
  encodePacket,
  Framer,
  isMqttError,
  MAX_PACKET_SIZE,
  MqttError,
  type Packet,
  PacketType,
  type ProtocolVersion,
  ReasonCode,
  reasonCodeName,
} from '../protocol/index.js';
import type { AuthExchange } from './auth-method.js';
import type { Broker } from './broker.js';
import type { Timer } from './clock.js';
import { type CloseReason, closeReasonFor } from './close-reason.js';
import { handleAuth } from './handlers/auth.js';
import { handleConnect } from './handlers/connect.js';
import { handleDisconnect } from './handlers/disconnect.js';
import { handlePingreq } from './handlers/pingreq.js';
import { handlePuback, handlePubcomp, handlePubrec, handlePubrel } from './handlers/pubacks.js';
import { handlePublish } from './handlers/publish.js';
import { handleSubscribe } from './handlers/subscribe.js';
import { handleUnsubscribe } from './handlers/unsubscribe.js';
import type { ClientInfo } from './hooks.js';
import type { Message } from './message.js';
import { Outbound } from './outbound.js';
import type { PendingWill, Session } from './session.js';
import { PublishRateLimit } from './token-bucket.js';

/** What the listener knows about a connection when it hands the stream over. */
export interface ConnectionInfo {
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
  /** Listener kind: tcp, tls, ws, wss ... (default tcp). */
  readonly transport?: string;
  /** Name of the listener, for logs. */
  readonly listener?: string;
  /** Accept CONNECT without credentials on this connection (default: the broker's allowAnonymous). */
  readonly allowAnonymous?: boolean;
  /**
   * An identity the transport established (the CN or subject of a verified client certificate): it
   * becomes the username, and counts as authenticated unless a hook says otherwise.
   */
  readonly identity?: string;
}

export type ConnectionState = 'awaiting-connect' | 'connecting' | 'connected' | 'closed';

let nextId = 1;

/** Where a stream keeps its connection for the shared listeners below. */
const OWNER = Symbol('mozzie.connection');
type OwnedStream = Duplex & { [OWNER]?: Connection };

function streamData(this: OwnedStream, chunk: Buffer): void {
  this[OWNER]?.onData(chunk);
}
function streamError(this: OwnedStream, err: Error): void {
  this[OWNER]?.onError(err);
}
function streamClose(this: OwnedStream): void {
  this[OWNER]?.onClose();
}
function streamDrain(this: OwnedStream): void {
  this[OWNER]?.onDrain();
}

/**
 * One network connection: it frames and decodes what the stream delivers, hands each packet to its
 * handler, and writes what the broker sends, batched once per event-loop turn. Packets that arrive while
 * an asynchronous step (an authentication hook, say) is under way wait in order.
 */
export class Connection {
  readonly id = nextId++;
  readonly broker: Broker;
  readonly stream: Duplex;
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  readonly transport: string;
  readonly listener: string | undefined;
  readonly allowAnonymous: boolean;
  readonly identity: string | undefined;
  state: ConnectionState = 'awaiting-connect';
  version: ProtocolVersion = 4;
  clientId = '';
  username: string | undefined;
  session: Session | undefined;
  /** The Will of this connection (CONNECT), until a normal DISCONNECT discards it. */
  will: PendingWill | undefined;
  /** Keep Alive in seconds as in force (the client's, or the Server Keep Alive we sent). */
  keepAlive = 0;
  lastReceivedAt: number;
  /** Session Expiry Interval from CONNECT: a DISCONNECT may not raise it from 0 (section 3.14.2.2.2). */
  connectSessionExpiry = 0;
  /** The client's MQTT 5.0 limits from CONNECT. */
  clientReceiveMaximum = 65_535;
  clientMaximumPacketSize = MAX_PACKET_SIZE;
  clientTopicAliasMaximum = 0;
  requestProblemInformation = true;
  /** The enhanced authentication method of CONNECT, and the exchange under way (CONNECT or re-auth). */
  authMethod: string | undefined;
  authExchange: AuthExchange | undefined;
  /** What completes a CONNECT once its enhanced authentication succeeds. */
  authContinuation: ((data: Buffer | undefined) => Promise<void> | undefined) | undefined;
  /** Client-to-server Topic Aliases. */
  aliasesIn: Map<number, string> | undefined;
  /** Token buckets of limits.maxPublishRate / maxPublishByteRate; undefined when neither is set. */
  readonly publishLimit: PublishRateLimit | undefined;
  readonly outbound: Outbound;
  private readonly framer: Framer;
  private backlog: Packet[] | undefined;
  private connectTimer: Timer | undefined;
  private keepAliveTimer: Timer | undefined;
  private closeTimer: Timer | undefined;
  private clientInfo: ClientInfo | undefined;

  constructor(broker: Broker, stream: Duplex, info: ConnectionInfo) {
    this.broker = broker;
    this.stream = stream;
    this.remoteAddress = info.remoteAddress;
    this.remotePort = info.remotePort;
    this.transport = info.transport ?? 'tcp';
    this.listener = info.listener;
    this.allowAnonymous = info.allowAnonymous ?? broker.settings.allowAnonymous;
    this.identity = info.identity;
    this.lastReceivedAt = broker.clock.now();
    this.framer = new Framer({ maximumPacketSize: broker.settings.limits.maxPacketSize, protocolVersion: 4 });
    this.outbound = new Outbound(this);
    this.publishLimit = PublishRateLimit.for(broker.settings.limits, this.lastReceivedAt);
    // The listeners are shared by every connection (they find theirs on the stream): an idle connection
    // costs no closures of its own for them.
    (stream as OwnedStream)[OWNER] = this;
    stream.on('data', streamData);
    stream.on('error', streamError);
    stream.on('close', streamClose);
    stream.on('drain', streamDrain);
    this.connectTimer = broker.clock.setTimer(this.onConnectTimeout, broker.settings.limits.connectTimeout);
  }

  /** Identity for hooks and logs. */
  get info(): ClientInfo {
    if (this.clientInfo === undefined || this.clientInfo.clientId !== this.clientId || this.clientInfo.username !== this.username) {
      this.clientInfo = {
        clientId: this.clientId,
        username: this.username,
        protocolVersion: this.version,
        remoteAddress: this.remoteAddress,
        remotePort: this.remotePort,
        transport: this.transport,
      };
    }
    return this.clientInfo;
  }

  // ---- inbound ----------------------------------------------------------------------------------

  /** Bytes from the stream (see streamData). */
  onData(chunk: Buffer): void {
    if (this.state === 'closed') return;
    const metrics = this.broker.metrics;
    metrics.bytesReceived += chunk.length;
    const packetsBefore = metrics.packetsReceived;
    try {
      this.framer.push(chunk, this.onPacket);
    } catch (err) {
      this.fail(err);
      return;
    }
    // Keep Alive counts Control Packets, not bytes ([MQTT-3.1.2-22]): a client dribbling a packet that never
    // completes must still time out. Progress on a large packet counts too (as in Mosquitto), so a big
    // PUBLISH on a slow link is not cut off.
    if (metrics.packetsReceived !== packetsBefore || this.framer.needed > 1000) this.lastReceivedAt = this.broker.clock.now();
  }

  private readonly onPacket = (packet: Packet): void => {
    this.broker.metrics.packetsReceived++;
    if (this.backlog !== undefined) {
      this.backlog.push(packet);
      return;
    }
    this.run(packet);
  };

  /** Handles one packet; an asynchronous handler holds later packets back until it is done. */
  private run(packet: Packet): void {
    if (this.state === 'closed') return;
    const pending = this.dispatch(packet);
    if (pending !== undefined) {
      this.backlog = [];
      this.stream.pause();
      pending.then(this.resumeBacklog, this.failAsync);
    }
  }

  private readonly resumeBacklog = (): void => {
    const backlog = this.backlog;
    if (backlog === undefined) return;
    while (backlog.length > 0 && this.state !== 'closed') {
      const packet = backlog.shift() as Packet;
      let pending: Promise<void> | undefined;
      try {
        pending = this.dispatch(packet);
      } catch (err) {
        this.fail(err);
        return;
      }
      if (pending !== undefined) {
        pending.then(this.resumeBacklog, this.failAsync);
        return;
      }
    }
    this.backlog = undefined;
    if (this.state !== 'closed') this.stream.resume();
  };

  private readonly failAsync = (err: unknown): void => this.fail(err);

  private dispatch(packet: Packet): Promise<void> | undefined {
    if (this.state !== 'connected' && packet.type !== PacketType.Connect) {
      // The first packet sent from the Client to the Server MUST be a CONNECT packet. [MQTT-3.1.0-1]
      if (this.state === 'awaiting-connect') {
        throw new MqttError('MQTT_PROTOCOL_ERROR', ReasonCode.ProtocolError, 'the first packet must be CONNECT', {
          specId: 'MQTT-3.1.0-1',
        });
      }
      if (packet.type !== PacketType.Auth) {
        throw new MqttError('MQTT_PROTOCOL_ERROR', ReasonCode.ProtocolError, 'no packet but AUTH may follow CONNECT before CONNACK', {
          specId: 'MQTT-3.1.4-6',
        });
      }
    }
    switch (packet.type) {
      case PacketType.Connect:
        return handleConnect(this, packet);
      case PacketType.Publish:
        return handlePublish(this, packet);
      case PacketType.Puback:
        handlePuback(this, packet);
        return undefined;
      case PacketType.Pubrec:
        handlePubrec(this, packet);
        return undefined;
      case PacketType.Pubrel:
        handlePubrel(this, packet);
        return undefined;
      case PacketType.Pubcomp:
        handlePubcomp(this, packet);
        return undefined;
      case PacketType.Subscribe:
        return handleSubscribe(this, packet);
      case PacketType.Unsubscribe:
        handleUnsubscribe(this, packet);
        return undefined;
      case PacketType.Pingreq:
        handlePingreq(this);
        return undefined;
      case PacketType.Disconnect:
        handleDisconnect(this, packet);
        return undefined;
      case PacketType.Auth:
        return handleAuth(this, packet);
      default:
        // CONNACK, SUBACK, UNSUBACK and PINGRESP only travel from server to client.
        throw new MqttError('MQTT_PROTOCOL_ERROR', ReasonCode.ProtocolError, `a client must not send packet type ${packet.type}`);
    }
  }

  // ---- outbound ---------------------------------------------------------------------------------

  /** Queues an encoded packet; the batch is written once at the end of this event-loop turn. */
  send(buf: Buffer): void {
    this.outbound.push(buf);
  }

  /** Encodes and queues a control packet in this connection's protocol version. */
  sendPacket(packet: Packet): void {
    this.outbound.push(encodePacket(packet, this.version));
    this.broker.metrics.packetsSent++;
  }

  /** Bytes written to the socket. */
  writeNow(chunks: Buffer[], bytes: number): void {
    const stream = this.stream;
    if (stream.destroyed || !stream.writable) return;
    this.broker.metrics.bytesSent += bytes;
    if (chunks.length === 1) {
      stream.write(chunks[0] as Buffer);
    } else if (bytes <= 65_536) {
      stream.write(Buffer.concat(chunks, bytes));
    } else {
      // Large batches go out as one writev without copying payloads together.
      stream.cork();
      for (const chunk of chunks) stream.write(chunk);
      stream.uncork();
    }
  }

  onDrain(): void {
    this.outbound.drained();
  }

  // ---- timers -----------------------------------------------------------------------------------

  startKeepAlive(): void {
    if (this.keepAlive === 0) return;
    this.armKeepAlive(this.keepAlive * 1500);
  }

  private armKeepAlive(ms: number): void {
    this.keepAliveTimer?.cancel();
    this.keepAliveTimer = this.broker.clock.setTimer(this.onKeepAliveTimer, ms);
  }

  /**
   * If no packet arrives within one and a half times the Keep Alive period, the server closes the
   * connection as if the network failed (the Will is published). [MQTT-3.1.2-22] [MQTT-3.1.2-24]
   */
  private readonly onKeepAliveTimer = (): void => {
    if (this.state !== 'connected') return;
    const limit = this.keepAlive * 1500;
    const idle = this.broker.clock.now() - this.lastReceivedAt;
    if (idle >= limit) {
      this.abort(
        ReasonCode.KeepAliveTimeout,
        'keep-alive-timeout',
        `no packet for ${Math.round(idle / 1000)} s (Keep Alive ${this.keepAlive} s)`,
      );
    } else {
      this.armKeepAlive(limit - idle);
    }
  };

  private readonly onConnectTimeout = (): void => {
    this.connectTimer = undefined;
    if (this.state === 'awaiting-connect' || this.state === 'connecting') this.close('connect-timeout', false);
  };

  cancelConnectTimer(): void {
    this.connectTimer?.cancel();
    this.connectTimer = undefined;
  }

  // ---- closing ----------------------------------------------------------------------------------

  /**
   * The one place where errors become what the peer is told: a CONNACK refusal before the connection is
   * accepted, a DISCONNECT with the reason code for 5.0 clients after it, or just closing for 3.1.1.
   * Errors that are not MqttError are bugs on our side: logged, answered 0x83, never thrown further.
   */
  fail(err: unknown): void {
    if (this.state === 'closed') return;
    const mqtt = isMqttError(err)
      ? err
      : new MqttError('MQTT_PROTOCOL_ERROR', ReasonCode.ImplementationSpecificError, 'internal error', { cause: err });
    if (!isMqttError(err)) {
      this.broker.logger.error('internal error handling a packet', {
        clientId: this.clientId,
        error: err instanceof Error ? (err.stack ?? err.message) : String(err),
      });
    } else {
      this.broker.logger.debug('closing connection on error', { clientId: this.clientId, code: mqtt.code, reason: mqtt.message });
    }
    if (this.state === 'awaiting-connect' || this.state === 'connecting') {
      if (mqtt.reasonCode === ReasonCode.UnsupportedProtocolVersion) {
        // An unknown protocol level: answer as 3.1.1 does (return code 1), which 3.x clients understand. [MQTT-3.1.2-2]
        this.version = 4;
        this.refuse(ReasonCode.UnsupportedProtocolVersion, mqtt.message);
        return;
      }
      // A malformed CONNECT closes the connection without CONNACK. [MQTT-3.1.4-1]
      if (this.state === 'connecting' && this.version === 5) {
        this.refuse(mqtt.reasonCode, mqtt.message);
        return;
      }
      this.close(closeReasonFor(mqtt.reasonCode), false);
      return;
    }
    this.abort(mqtt.reasonCode, closeReasonFor(mqtt.reasonCode), mqtt.message);
  }

  /**
   * Closes a connected client for a reason of ours: 5.0 clients get a DISCONNECT with the reason code
   * ([MQTT-4.13.1-1], [MQTT-4.13.2-1]); the Will is published, as for any close without DISCONNECT.
   */
  abort(reasonCode: number, reason: CloseReason, detail?: string): void {
    if (this.state === 'closed') return;
    if (this.version === 5 && this.state === 'connected' && reasonCode >= 0x80) {
      this.sendExplained({ type: PacketType.Disconnect, reasonCode }, detail);
    }
    this.broker.logger.debug('disconnecting client', { clientId: this.clientId, reason, code: reasonCodeName(reasonCode), detail });
    this.close(reason, reason !== 'server-shutting-down');
  }

  /** Refuses a CONNECT: CONNACK with the failure code in the client's version, then close. [MQTT-3.2.2-7] */
  refuse(reasonCode: number, detail?: string): void {
    const code = this.version === 5 ? reasonCode : v3ReturnCode(reasonCode);
    this.sendExplained({ type: PacketType.Connack, sessionPresent: false, reasonCode: code }, detail);
    const broker = this.broker;
    broker.metrics.connectsRefused++;
    if (broker.hooks.has.onConnectRefused) broker.hooks.notify('onConnectRefused', { client: this.info, reasonCode, reasonString: detail });
    this.close('connect-refused', false);
  }

  /**
   * Sends a CONNACK or DISCONNECT with `detail` as its Reason String (5.0 only), or without it if that
   * would make the packet larger than the client's Maximum Packet Size. [MQTT-3.2.2-19] [MQTT-3.14.2-3]
   */
  private sendExplained(packet: ConnackPacket | DisconnectPacket, detail: string | undefined): void {
    if (this.version === 5 && detail !== undefined) {
      const explained = encodePacket({ ...packet, properties: { reasonString: detail } }, 5);
      if (explained.length <= this.clientMaximumPacketSize) {
        this.send(explained);
        this.broker.metrics.packetsSent++;
        return;
      }
    }
    this.sendPacket(packet);
  }

  /**
   * Ends the connection: pending output is flushed, the stream ended, and the broker told, which detaches
   * the session and publishes or schedules the Will when `publishWill` is true.
   */
  close(reason: CloseReason, publishWill: boolean): void {
    if (this.state === 'closed') return;
    const wasConnected = this.state === 'connected';
    this.state = 'closed';
    this.connectTimer?.cancel();
    this.keepAliveTimer?.cancel();
    this.outbound.flush();
    this.outbound.closed();
    const stream = this.stream;
    if (!stream.destroyed) {
      stream.end();
      // A peer that never reads must not hold the socket open.
      this.closeTimer = this.broker.clock.setTimer(() => stream.destroy(), 2000);
    }
    this.broker.connectionClosed(this, reason, publishWill && wasConnected);
  }

  onError(err: Error): void {
    this.broker.logger.debug('socket error', { clientId: this.clientId, error: err.message });
    this.close('socket-error', true);
  }

  onClose(): void {
    this.closeTimer?.cancel();
    this.close('socket-closed', true);
  }

  /** Delivers a message the broker routed here (see Outbound for flow control). */
  deliverQos0(message: Message, retain: boolean, subscriptionIdentifiers: readonly number[] | undefined): void {
    this.outbound.deliverQos0(message, retain, subscriptionIdentifiers);
  }
}

/** 3.1.1 CONNACK return code closest to a 5.0 reason code. */
function v3ReturnCode(reasonCode: number): number {
  switch (reasonCode) {
    case ReasonCode.UnsupportedProtocolVersion:
      return 1;
    case ReasonCode.ClientIdentifierNotValid:
      return 2;
    case ReasonCode.BadUserNameOrPassword:
      return 4;
    case ReasonCode.NotAuthorized:
    case ReasonCode.Banned:
    case ReasonCode.BadAuthenticationMethod:
      return 5;
    default:
      return 3;
  }
}
