import { Buffer } from 'node:buffer';
import {
  type AuthPacket,
  type ConnackPacket,
  type ConnectPacket,
  type DisconnectPacket,
  encodePacket,
  Framer,
  isMqttError,
  type Packet,
  PacketType,
  type ProtocolVersion,
  type PublishPacket,
  type PublishProperties,
  type QoS,
  ReasonCode,
  type RetainHandling,
  type SubscribeProperties,
  type Subscription,
  topicMatches,
  type UnsubscribeProperties,
  type UserProperty,
} from '../protocol/index.js';
import { Backoff } from './backoff.js';
import { type ClientClock, type ClientTimer, realClock } from './clock.js';
import { Emitter } from './emitter.js';
import { ClientError } from './errors.js';
import { type ClientOptions, resolveEndpoint } from './options.js';
import { ClientState, type PublishResult, type StoredPublish, type SubscribeResult, type Token, type UnsubscribeResult } from './state.js';
import type { Dialer, DialOptions, Transport } from './transport.js';

export interface ClientEvents {
  /** The server accepted a connection (also after each reconnect). */
  connect: (connack: ConnackPacket) => void;
  /** A reconnect attempt starts: its number (1, 2, ...) and the delay that preceded it. */
  reconnect: (attempt: number, delay: number) => void;
  /** The network connection closed. */
  close: () => void;
  /** The client lost a connection it had. */
  offline: () => void;
  /** The server sent DISCONNECT (5.0); an 'error' with its reason follows. */
  disconnect: (packet: DisconnectPacket) => void;
  error: (error: ClientError) => void;
  message: (topic: string, payload: Buffer, packet: PublishPacket) => void;
  /** Every packet sent and received, for tracing (costs nothing without listeners). */
  packetsend: (packet: Packet) => void;
  packetreceive: (packet: Packet) => void;
  /** end() finished. */
  end: () => void;
}

export interface PublishOptions {
  readonly qos?: QoS;
  readonly retain?: boolean;
  readonly properties?: PublishProperties;
}

export interface SubscribeOptions {
  readonly qos?: QoS;
  readonly noLocal?: boolean;
  readonly retainAsPublished?: boolean;
  readonly retainHandling?: RetainHandling;
  /** 5.0: the Subscription Identifier and User Properties of the SUBSCRIBE. */
  readonly properties?: SubscribeProperties;
}

export interface EndOptions {
  /** Close at once without waiting for messages in flight (default false). */
  readonly force?: boolean;
  /** Milliseconds to wait for messages in flight before closing anyway (default 10000). */
  readonly timeout?: number;
  /** 5.0 DISCONNECT Reason Code (0 normal, 0x04 to have the Will published). */
  readonly reasonCode?: number;
  readonly sessionExpiryInterval?: number;
  readonly userProperties?: readonly UserProperty[];
}

/** Reason Codes after which reconnecting cannot help. */
const PERMANENT_REFUSALS = new Set<number>([
  ReasonCode.UnsupportedProtocolVersion,
  ReasonCode.ClientIdentifierNotValid,
  ReasonCode.BadUserNameOrPassword,
  ReasonCode.NotAuthorized,
  ReasonCode.Banned,
  ReasonCode.BadAuthenticationMethod,
  ReasonCode.UseAnotherServer,
  ReasonCode.ServerMoved,
]);
const V3_PERMANENT_REFUSALS = new Set<number>([1, 2, 4, 5]);
const NO_RECONNECT_DISCONNECTS = new Set<number>([
  ReasonCode.SessionTakenOver,
  ReasonCode.NotAuthorized,
  ReasonCode.Banned,
  ReasonCode.UseAnotherServer,
  ReasonCode.ServerMoved,
]);

interface Waiter {
  resolve(value: never): void;
  reject(error: ClientError): void;
}

/**
 * An MQTT client for 3.1, 3.1.1 and 5.0. The protocol lives in ClientState (no I/O); this class adds the
 * transport, timers, reconnection with backoff, and a promise API. Writes made in one synchronous stretch
 * go out as one batch.
 */
export class MqttClient extends Emitter<ClientEvents> {
  readonly options: ClientOptions;
  readonly version: ProtocolVersion;
  readonly state: ClientState;
  /** The Client Identifier in use (assigned by the server if we sent none). */
  clientId: string;
  /** Keep Alive in force (the server's Server Keep Alive if it sent one). */
  keepAlive: number;
  private readonly endpoint: DialOptions & { username?: string; password?: string };
  private readonly dialer: Dialer;
  private readonly clock: ClientClock;
  private readonly backoff: Backoff | undefined;
  private transport: Transport | undefined;
  private framer: Framer | undefined;
  private accepted = false;
  private ended = false;
  private stopReconnecting = false;
  private reconnectTimer: ClientTimer | undefined;
  private connackTimer: ClientTimer | undefined;
  private keepAliveTimer: ClientTimer | undefined;
  private lastSent = 0;
  private pingSentAt = 0;
  private chunks: Buffer[] = [];
  private chunkBytes = 0;
  private flushQueued = false;
  private nextToken = 1;
  private readonly waiters = new Map<Token, Waiter>();
  /** Set while a synchronous settle for `syncToken` can be captured without a promise. */
  private syncToken = 0;
  private syncResult: PublishResult | undefined;
  private syncError: ClientError | undefined;
  private connectWaiters: { resolve: () => void; reject: (e: ClientError) => void }[] = [];
  private attempt = 0;
  private lastDelay = 0;
  private storeReady: Promise<void> = Promise.resolve();
  private storeLoaded = true;
  /** Why the current connection is being closed, when it is more than "the connection was lost". */
  private closeReason: ClientError | undefined;
  /** Set when the client stopped connecting for good: later operations fail with it instead of waiting. */
  private gaveUp: ClientError | undefined;

  constructor(url: string | undefined, options: ClientOptions = {}, dialer?: Dialer) {
    super();
    this.options = options;
    this.version = options.protocolVersion ?? 5;
    this.endpoint = resolveEndpoint(url, options);
    const d = options.dialer ?? dialer;
    if (d === undefined)
      throw new ClientError('INVALID_ARGUMENT', 'no dialer: use connect() from the package entry, or pass options.dialer');
    this.dialer = d;
    this.clock = options.clock ?? realClock;
    this.clientId = options.clientId ?? (this.version === 5 ? '' : `mozzie-${Math.random().toString(36).slice(2, 12)}`);
    // A zero-byte ClientId MUST come with Clean Session 1 in 3.1.1. [MQTT-3.1.3-7]
    if (this.version < 5 && this.clientId === '' && options.clean === false)
      throw new ClientError('INVALID_ARGUMENT', 'an empty clientId needs clean: true before MQTT 5.0 (the server would refuse it)');
    this.keepAlive = options.keepAlive ?? 60;
    this.backoff =
      options.reconnect === false
        ? undefined
        : new Backoff(options.reconnect === true || options.reconnect === undefined ? {} : options.reconnect);
    this.state = new ClientState(
      {
        version: this.version,
        maxQueued: options.maxQueued ?? 1000,
        queueQos0: options.queueQos0 ?? true,
        autoTopicAlias: options.autoTopicAlias ?? false,
        resubscribe: options.resubscribe ?? true,
        receiveMaximum: options.properties?.receiveMaximum ?? 65_535,
        topicAliasMaximum: options.properties?.topicAliasMaximum ?? 0,
      },
      {
        send: (bytes, packet) => this.write(bytes, packet),
        receive: (message) => this.emit('message', message.topic, message.payload, message),
        settle: (token, result, error) => this.settle(token, result, error),
        persist: (message) => this.options.store?.put(message),
        forget: (key) => this.options.store?.delete(key),
      },
    );
    const store = options.store;
    if (store !== undefined) {
      this.storeLoaded = false;
      this.storeReady = store.load().then((messages) => {
        this.state.restore(messages, () => this.restoredToken());
        this.storeLoaded = true;
      });
    }
  }

  get connected(): boolean {
    return this.accepted;
  }

  // ---- connecting -------------------------------------------------------------------------------

  /** Starts connecting (connect() from the package does this). Resolves at the first CONNACK. */
  start(): Promise<void> {
    const first = new Promise<void>((resolve, reject) => this.connectWaiters.push({ resolve, reject }));
    void this.storeReady.then(
      () => this.open(),
      (err: unknown) =>
        this.fatal(new ClientError('INVALID_ARGUMENT', `the store could not be loaded: ${String(err)}`, undefined, { cause: err })),
    );
    return first;
  }

  private async open(): Promise<void> {
    if (this.ended) return;
    let transport: Transport;
    try {
      transport = await this.dialer(this.endpoint);
    } catch (err) {
      const error = err instanceof ClientError ? err : new ClientError('DIAL_FAILED', String(err), undefined, { cause: err });
      this.onConnectionFailed(error);
      return;
    }
    if (this.ended) {
      transport.destroy();
      return;
    }
    this.transport = transport;
    this.accepted = false;
    this.closeReason = undefined;
    this.framer = new Framer({
      protocolVersion: this.version,
      ...(this.options.properties?.maximumPacketSize === undefined ? {} : { maximumPacketSize: this.options.properties.maximumPacketSize }),
    });
    transport.onData((bytes) => this.onData(transport, bytes));
    transport.onClose((error) => this.onClose(transport, error));
    transport.onDrain(this.onDrained);
    const connect = this.connectPacket();
    // Passing the packet lets 'packetsend' listeners (debug tracing) see CONNECT too.
    this.write(encodePacket(connect, this.version), connect);
    this.flush();
    this.connackTimer = this.clock.setTimer(() => {
      const error = new ClientError('CONNECT_TIMEOUT', `no CONNACK within ${this.endpoint.timeout} ms`);
      this.emitError(error);
      if (transport === this.transport) this.closeReason = error;
      transport.destroy();
    }, this.endpoint.timeout);
  }

  private connectPacket(): ConnectPacket {
    const o = this.options;
    const username = o.username ?? this.endpoint.username;
    const password = o.password ?? this.endpoint.password;
    const will = o.will;
    const packet: { -readonly [K in keyof ConnectPacket]: ConnectPacket[K] } = {
      type: PacketType.Connect,
      protocolVersion: this.version,
      clientId: this.clientId,
      clean: o.clean ?? true,
      // Always ask for our own Keep Alive; a Server Keep Alive applies to one connection only.
      keepAlive: this.options.keepAlive ?? 60,
    };
    if (username !== undefined) packet.username = username;
    if (password !== undefined) packet.password = toBuffer(password);
    if (will !== undefined) {
      packet.will = {
        topic: will.topic,
        payload: toBuffer(will.payload),
        qos: will.qos ?? 0,
        retain: will.retain ?? false,
        ...(will.properties === undefined || this.version < 5 ? {} : { properties: will.properties }),
      };
    }
    if (o.properties !== undefined && this.version === 5) packet.properties = o.properties;
    return packet;
  }

  private onData(transport: Transport, bytes: Uint8Array): void {
    if (transport !== this.transport || this.framer === undefined) return;
    this.pingSentAt = 0;
    try {
      this.framer.push(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), this.onPacket);
    } catch (err) {
      this.protocolFailure(err);
    }
  }

  private readonly onPacket = (packet: Packet): void => {
    if (this.listenerCount('packetreceive') > 0) this.emit('packetreceive', packet);
    if (!this.accepted) {
      if (packet.type === PacketType.Connack) this.onConnack(packet);
      else if (packet.type === PacketType.Auth) this.onAuth(packet);
      else throw new ClientError('PROTOCOL_ERROR', `expected CONNACK, got packet type ${packet.type}`);
      return;
    }
    if (packet.type === PacketType.Disconnect) this.onServerDisconnect(packet);
    else if (packet.type === PacketType.Auth) this.onAuth(packet);
    else this.state.handle(packet);
  };

  private onConnack(p: ConnackPacket): void {
    this.connackTimer?.cancel();
    this.connackTimer = undefined;
    if (p.reasonCode !== 0) {
      const permanent = this.version === 5 ? PERMANENT_REFUSALS.has(p.reasonCode) : V3_PERMANENT_REFUSALS.has(p.reasonCode);
      if (permanent) this.stopReconnecting = true;
      const error = ClientError.fromReason(
        'CONNECTION_REFUSED',
        'connection refused',
        p.reasonCode,
        PacketType.Connack,
        this.version,
        p.properties?.reasonString,
      );
      this.emitError(error);
      this.rejectConnectWaiters(error);
      this.closeReason = error;
      this.transport?.destroy();
      return;
    }
    if (p.sessionPresent && (this.options.clean ?? true)) {
      // We asked for a new session; a server claiming to have one is wrong: close the connection. [MQTT-3.2.2-4]
      const error = new ClientError('PROTOCOL_ERROR', 'the server answered Clean Start with Session Present 1', ReasonCode.ProtocolError);
      this.emitError(error);
      this.rejectConnectWaiters(error);
      this.closeReason = error;
      this.transport?.destroy();
      return;
    }
    const props = p.properties;
    if (props?.assignedClientIdentifier !== undefined) this.clientId = props.assignedClientIdentifier;
    // The client MUST use the Server Keep Alive instead of its own. [MQTT-3.2.2-21]
    if (props?.serverKeepAlive !== undefined) this.keepAlive = props.serverKeepAlive;
    this.accepted = true;
    this.attempt = 0;
    this.backoff?.reset();
    this.state.connectionAccepted(p);
    this.armKeepAlive();
    this.emit('connect', p);
    for (const w of this.connectWaiters) w.resolve();
    this.connectWaiters = [];
  }

  private onAuth(p: AuthPacket): void {
    const handler = this.options.auth;
    const method = this.options.properties?.authenticationMethod;
    if (handler === undefined || method === undefined || p.properties?.authenticationMethod !== method) {
      this.protocolFailure(
        new ClientError('AUTH_FAILED', 'the server sent AUTH, but no matching authentication is configured', ReasonCode.ProtocolError),
      );
      return;
    }
    if (p.reasonCode === 0) return;
    const transport = this.transport;
    Promise.resolve(handler({ method, data: p.properties?.authenticationData, reasonCode: p.reasonCode })).then(
      (data) => {
        if (transport !== this.transport) return;
        this.sendAuth(ReasonCode.ContinueAuthentication, method, data);
      },
      (err: unknown) =>
        this.protocolFailure(
          new ClientError('AUTH_FAILED', `authentication handler failed: ${String(err)}`, ReasonCode.NotAuthorized, { cause: err }),
        ),
    );
  }

  /** 5.0: starts re-authentication with the configured method (AUTH 0x19). */
  async reauthenticate(data?: Uint8Array): Promise<void> {
    const method = this.options.properties?.authenticationMethod;
    if (method === undefined) throw new ClientError('INVALID_ARGUMENT', 'no authenticationMethod is configured');
    // Only after CONNACK [MQTT-4.12.1-1]; while offline it would be buffered and go out before the next CONNECT.
    if (!this.accepted) throw new ClientError('CONNECTION_LOST', 'not connected: re-authentication needs an accepted connection');
    this.sendAuth(ReasonCode.ReAuthenticate, method, data);
  }

  private sendAuth(reasonCode: number, method: string, data: Uint8Array | undefined): void {
    const packet: AuthPacket = {
      type: PacketType.Auth,
      reasonCode,
      properties: { authenticationMethod: method, ...(data === undefined ? {} : { authenticationData: toBuffer(data) }) },
    };
    this.write(encodePacket(packet, this.version), packet);
  }

  private onServerDisconnect(p: DisconnectPacket): void {
    this.emit('disconnect', p);
    if (NO_RECONNECT_DISCONNECTS.has(p.reasonCode)) this.stopReconnecting = true;
    const error = ClientError.fromReason(
      'SERVER_DISCONNECT',
      'the server disconnected',
      p.reasonCode,
      PacketType.Disconnect,
      this.version,
      p.properties?.reasonString,
    );
    this.emitError(error);
    this.closeReason = error;
    this.transport?.destroy();
  }

  /** The server broke the protocol: tell it (5.0) and drop the connection; reconnecting may recover. */
  private protocolFailure(err: unknown): void {
    const reasonCode =
      isMqttError(err) || err instanceof ClientError ? (err.reasonCode ?? ReasonCode.ProtocolError) : ReasonCode.ProtocolError;
    const error =
      err instanceof ClientError
        ? err
        : new ClientError('PROTOCOL_ERROR', err instanceof Error ? err.message : String(err), reasonCode, { cause: err });
    if (this.version === 5 && this.accepted) {
      this.write(
        encodePacket({ type: PacketType.Disconnect, reasonCode: reasonCode >= 0x80 ? reasonCode : ReasonCode.ProtocolError }, 5),
        undefined,
      );
      this.flush();
    }
    this.emitError(error);
    this.closeReason = error;
    this.transport?.destroy();
  }

  private onClose(transport: Transport, error: Error | undefined): void {
    if (transport !== this.transport) return;
    const wasAccepted = this.accepted;
    this.transport = undefined;
    this.framer = undefined;
    this.accepted = false;
    this.chunks = [];
    this.chunkBytes = 0;
    this.connackTimer?.cancel();
    this.keepAliveTimer?.cancel();
    this.state.connectionLost();
    // Publishes waiting for 'drain' go on: now to the offline queue.
    this.blocked = false;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
    this.emit('close');
    if (wasAccepted) this.emit('offline');
    if (this.ended) return;
    const reason = this.closeReason;
    this.closeReason = undefined;
    this.onConnectionFailed(
      reason ??
        new ClientError(
          'CONNECTION_LOST',
          // The transport's error says why (e.g. a TLS alert: certificate required, unknown CA, expired).
          `${wasAccepted ? 'the connection was lost' : 'the connection closed before CONNACK'}${error === undefined ? '' : `: ${error.message}`}`,
          undefined,
          error === undefined ? undefined : { cause: error },
        ),
    );
  }

  /** A dial or connection failed: reconnect after the backoff delay, or give up. */
  private onConnectionFailed(error: ClientError): void {
    // The first connection attempt decides start()/connectAsync(); later ones are the reconnect loop's.
    this.rejectConnectWaiters(error);
    if (this.backoff === undefined || this.stopReconnecting) {
      // No more attempts: everything waiting, and anything asked later, fails with the reason.
      this.gaveUp = error;
      this.state.failAll(error);
      if (error.code === 'DIAL_FAILED') this.emitError(error);
      return;
    }
    if (error.code === 'DIAL_FAILED') this.emitError(error);
    const delay = this.backoff.next();
    this.lastDelay = delay;
    this.reconnectTimer = this.clock.setTimer(() => {
      this.reconnectTimer = undefined;
      this.attempt++;
      this.emit('reconnect', this.attempt, this.lastDelay);
      void this.open();
    }, delay);
  }

  private rejectConnectWaiters(error: ClientError): void {
    for (const w of this.connectWaiters) w.reject(error);
    this.connectWaiters = [];
  }

  private fatal(error: ClientError): void {
    this.emitError(error);
    this.rejectConnectWaiters(error);
  }

  private emitError(error: ClientError): void {
    // An 'error' without listeners must not crash the program: failures also reach the promises.
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }

  // ---- keep alive -------------------------------------------------------------------------------

  /**
   * Sends PINGREQ when nothing was sent for most of the Keep Alive period ([MQTT-3.1.2-20]); if no packet
   * comes back within half a period after a PINGREQ, the connection is dead and is dropped.
   */
  private armKeepAlive(): void {
    this.keepAliveTimer?.cancel();
    if (this.keepAlive === 0) return;
    const period = this.keepAlive * 1000;
    const tick = Math.max(100, Math.min(period / 4, 5000));
    this.keepAliveTimer = this.clock.setTimer(() => {
      const now = this.clock.now();
      const transport = this.transport;
      if (!this.accepted || transport === undefined) return;
      if (this.pingSentAt > 0 && now - this.pingSentAt >= Math.max(1000, period / 2)) {
        const error = new ClientError('CONNECTION_LOST', `no answer to PINGREQ within ${Math.round((now - this.pingSentAt) / 1000)} s`);
        this.emitError(error);
        this.closeReason = error;
        transport.destroy();
        return;
      }
      if (this.pingSentAt === 0 && now - this.lastSent >= period * 0.75) {
        const ping: Packet = { type: PacketType.Pingreq };
        this.write(encodePacket(ping, this.version), ping);
        this.pingSentAt = now;
      }
      this.armKeepAlive();
    }, tick);
  }

  // ---- writing ----------------------------------------------------------------------------------

  private write(bytes: Buffer, packet: Packet | undefined): void {
    if (packet !== undefined && this.listenerCount('packetsend') > 0) this.emit('packetsend', packet);
    this.chunks.push(bytes);
    this.chunkBytes += bytes.length;
    if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(this.flushTask);
    }
  }

  private readonly flushTask = (): void => {
    this.flushQueued = false;
    this.flush();
  };

  private flush(): void {
    const transport = this.transport;
    if (transport === undefined || this.chunkBytes === 0) return;
    const chunks = this.chunks;
    const bytes = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, this.chunkBytes);
    this.chunks = [];
    this.chunkBytes = 0;
    this.lastSent = this.clock.now();
    if (!transport.write(bytes)) this.blocked = true;
  }

  /** The transport asked for 'drain': publishes wait for it instead of piling up in memory. */
  private blocked = false;
  private drainWaiters: (() => void)[] = [];

  private readonly onDrained = (): void => {
    this.blocked = false;
    this.flush();
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  };

  // ---- operations -------------------------------------------------------------------------------

  private settle(token: Token, result: PublishResult | SubscribeResult | UnsubscribeResult | undefined, error?: ClientError): void {
    if (token === this.syncToken) {
      this.syncToken = 0;
      if (error !== undefined) this.syncError = error;
      else this.syncResult = result as PublishResult;
      return;
    }
    const w = this.waiters.get(token);
    if (w === undefined) return;
    this.waiters.delete(token);
    if (error !== undefined) w.reject(error);
    else (w.resolve as (v: unknown) => void)(result);
  }

  private pending<T>(token: Token): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.waiters.set(token, { resolve: resolve as (v: never) => void, reject });
    });
  }

  /** Messages restored from the store get tokens whose results nobody awaits. */
  private restoredToken(): Token {
    const token = this.nextToken++;
    void this.pending(token).catch(() => undefined);
    return token;
  }

  /**
   * Publishes a message. Resolves when the QoS flow completes: at once for QoS 0 (once written), at
   * PUBACK for QoS 1 and PUBCOMP for QoS 2; rejects with the Reason Code if the server refuses it.
   */
  publish(topic: string, payload: string | Uint8Array, options: PublishOptions = {}): Promise<PublishResult> {
    if (this.ended) return Promise.reject(new ClientError('CLIENT_ENDED', 'the client has ended'));
    if (this.gaveUp !== undefined) return Promise.reject(this.gaveUp);
    if (this.blocked && this.accepted) {
      // Backpressure: the socket is full, so this publish waits for 'drain' rather than buffering without bound.
      return new Promise<void>((resolve) => this.drainWaiters.push(resolve)).then(() => this.publish(topic, payload, options));
    }
    if (!this.storeLoaded) {
      // Messages from the store go first and keep their keys; new ones wait until they are restored.
      return this.storeReady.then(
        () => this.publish(topic, payload, options),
        (err: unknown) =>
          Promise.reject(new ClientError('INVALID_ARGUMENT', `the store could not be loaded: ${String(err)}`, undefined, { cause: err })),
      );
    }
    const token = this.nextToken++;
    // Two literals rather than a conditional spread: cheaper on the per-message path (bench/client).
    const qos = options.qos ?? 0;
    const retain = options.retain ?? false;
    const message =
      options.properties === undefined
        ? { topic, payload: toBuffer(payload), qos, retain }
        : { topic, payload: toBuffer(payload), qos, retain, properties: options.properties };
    this.syncToken = token;
    this.state.publish(message, token);
    if (this.syncToken === 0) {
      const error = this.syncError;
      const result = this.syncResult;
      this.syncError = undefined;
      this.syncResult = undefined;
      return error === undefined ? Promise.resolve(result as PublishResult) : Promise.reject(error);
    }
    this.syncToken = 0;
    return this.pending<PublishResult>(token);
  }

  /**
   * Subscribes to one or more filters (a string, a list, or filter -> options). Resolves with a Reason
   * Code per filter (the granted QoS, or a failure code); rejects if every filter failed.
   */
  async subscribe(
    filters: string | readonly string[] | Readonly<Record<string, SubscribeOptions>>,
    options: SubscribeOptions = {},
  ): Promise<SubscribeResult> {
    if (this.ended) throw new ClientError('CLIENT_ENDED', 'the client has ended');
    if (this.gaveUp !== undefined) throw this.gaveUp;
    const entries: [string, SubscribeOptions][] =
      typeof filters === 'string'
        ? [[filters, options]]
        : Array.isArray(filters)
          ? (filters as string[]).map((f) => [f, options])
          : Object.entries(filters);
    const subscriptions: Subscription[] = entries.map(([topicFilter, o]) => ({
      topicFilter,
      qos: o.qos ?? options.qos ?? 0,
      noLocal: o.noLocal ?? false,
      retainAsPublished: o.retainAsPublished ?? false,
      retainHandling: o.retainHandling ?? 0,
    }));
    const token = this.nextToken++;
    const promise = this.pending<SubscribeResult>(token);
    this.state.subscribe(subscriptions, options.properties, token);
    const result = await promise;
    if (result.reasonCodes.length > 0 && result.reasonCodes.every((c) => c >= 0x80)) {
      const first = result.reasonCodes[0] as number;
      throw ClientError.fromReason(
        'SUBSCRIBE_FAILED',
        `subscribe to ${entries.map((e) => e[0]).join(', ')} failed`,
        first,
        PacketType.Suback,
        this.version,
        result.properties?.reasonString,
      );
    }
    return result;
  }

  async unsubscribe(filters: string | readonly string[], properties?: UnsubscribeProperties): Promise<UnsubscribeResult> {
    if (this.ended) throw new ClientError('CLIENT_ENDED', 'the client has ended');
    if (this.gaveUp !== undefined) throw this.gaveUp;
    const token = this.nextToken++;
    const promise = this.pending<UnsubscribeResult>(token);
    this.state.unsubscribe(typeof filters === 'string' ? [filters] : filters, properties, token);
    return promise;
  }

  /**
   * Messages as an async iterator, optionally only those whose topic matches `filter`:
   * `for await (const m of client.messages('sensors/+/temp')) ...`. Messages are buffered until read.
   */
  messages(filter?: string): AsyncIterableIterator<PublishPacket> {
    const match = filter === undefined ? undefined : filter.startsWith('$share/') ? filter.split('/').slice(2).join('/') : filter;
    const buffered: PublishPacket[] = [];
    let waiting: ((r: IteratorResult<PublishPacket>) => void) | undefined;
    let done = false;
    const onMessage = (_t: string, _p: Buffer, packet: PublishPacket) => {
      if (match !== undefined && !topicMatches(match, packet.topic)) return;
      if (waiting !== undefined) {
        const w = waiting;
        waiting = undefined;
        w({ value: packet, done: false });
      } else {
        buffered.push(packet);
      }
    };
    const finish = () => {
      if (done) return;
      done = true;
      this.off('message', onMessage);
      this.off('end', finish);
      if (waiting !== undefined) waiting({ value: undefined, done: true });
    };
    this.on('message', onMessage);
    this.on('end', finish);
    const iterator: AsyncIterableIterator<PublishPacket> = {
      next: () => {
        const m = buffered.shift();
        if (m !== undefined) return Promise.resolve({ value: m, done: false });
        if (done) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => {
          waiting = resolve;
        });
      },
      return: () => {
        finish();
        return Promise.resolve({ value: undefined, done: true });
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  /**
   * Ends the client: waits (unless `force`) for messages in flight, sends DISCONNECT, closes, and fails
   * anything still pending with CLIENT_ENDED.
   */
  async end(options: EndOptions = {}): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    this.reconnectTimer?.cancel();
    const deadline = this.clock.now() + (options.timeout ?? 10_000);
    if (options.force !== true) {
      while (this.accepted && this.state.pendingCount > 0 && this.clock.now() < deadline) {
        await new Promise<void>((r) => this.clock.setTimer(r, 10));
      }
    }
    const transport = this.transport;
    if (transport !== undefined) {
      if (this.accepted) {
        const props =
          this.version === 5 && (options.sessionExpiryInterval !== undefined || options.userProperties !== undefined)
            ? {
                properties: {
                  ...(options.sessionExpiryInterval === undefined ? {} : { sessionExpiryInterval: options.sessionExpiryInterval }),
                  ...(options.userProperties === undefined ? {} : { userProperties: options.userProperties }),
                },
              }
            : {};
        const packet: DisconnectPacket = {
          type: PacketType.Disconnect,
          reasonCode: this.version === 5 ? (options.reasonCode ?? 0) : 0,
          ...props,
        };
        this.write(encodePacket(packet, this.version), packet);
        this.flush();
      }
      const closed = new Promise<void>((resolve) => transport.onClose(() => resolve()));
      transport.end();
      const timer = this.clock.setTimer(() => transport.destroy(), 1000);
      await closed;
      timer.cancel();
    }
    this.connackTimer?.cancel();
    this.keepAliveTimer?.cancel();
    const error = new ClientError('CLIENT_ENDED', 'the client has ended');
    this.state.failAll(error);
    this.rejectConnectWaiters(error);
    await this.options.store?.close();
    this.emit('end');
  }
}

export function toBuffer(value: string | Uint8Array): Buffer {
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

export type { StoredPublish };
