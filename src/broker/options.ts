import type { QoS } from '../protocol/index.js';
import type { BrokerStore } from '../store/types.js';
import type { AuthMethod } from './auth-method.js';
import type { Clock } from './clock.js';
import type { BrokerHooks, ClientInfo, HookFailurePolicy } from './hooks.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import type { SharedSubscriptionStrategy } from './router/shared.js';

/**
 * What the broker supports and advertises in CONNACK (MQTT 5.0 section 3.2.2.3). Turning a capability
 * off makes the broker refuse the feature with the reason code the specification names.
 */
export interface Capabilities {
  /** Highest QoS accepted from publishers and granted to subscribers. */
  readonly maximumQoS: QoS;
  readonly retainAvailable: boolean;
  readonly wildcardSubscriptionAvailable: boolean;
  readonly subscriptionIdentifiersAvailable: boolean;
  readonly sharedSubscriptionAvailable: boolean;
  /** Inbound QoS 1/2 PUBLISH a client may have unacknowledged (our Receive Maximum). */
  readonly receiveMaximum: number;
  /** Topic Aliases a client may use towards us (our Topic Alias Maximum); 0 disables them. */
  readonly topicAliasMaximum: number;
}

/** Limits that keep one client from hurting the others. Each is counted in metrics when hit. */
export interface Limits {
  /** Connected clients at once; further CONNECTs are refused (Quota exceeded / Server unavailable). */
  readonly maxConnections: number;
  /** Largest packet accepted, fixed header included; larger ones close the connection (0x95). */
  readonly maxPacketSize: number;
  /** Outbound QoS 1/2 messages in flight per client, on top of the client's own Receive Maximum. */
  readonly maxInflight: number;
  /** Messages queued per session while offline or while its window is full. */
  readonly maxQueuedMessages: number;
  /** Payload bytes queued per session. */
  readonly maxQueuedBytes: number;
  /** Bytes queued by all sessions together (memory and store); beyond it new messages are dropped. */
  readonly maxQueuedBytesTotal: number;
  readonly maxTopicLevels: number;
  /** Topic Name / Filter length in UTF-16 code units. */
  readonly maxTopicLength: number;
  readonly maxSubscriptionsPerClient: number;
  readonly maxClientIdLength: number;
  /** Largest Keep Alive (seconds) a client may choose; v5 clients are told via Server Keep Alive. */
  readonly maxKeepAlive: number;
  /** Milliseconds a new connection has to send CONNECT. */
  readonly connectTimeout: number;
  /** Bytes waiting for a socket beyond which it counts as congested: QoS 0 is dropped, QoS 1/2 waits. */
  readonly outboundHighWaterMark: number;
  /** Milliseconds a socket may stay congested before the client is disconnected as too slow. */
  readonly slowConsumerTimeout: number;
  /**
   * PUBLISH packets a second one client may send (token bucket; 0 = no limit). Exceeding it closes the
   * connection: 5.0 DISCONNECT 0x96 Message rate too high, 3.1.1 just closes (the Will is published).
   */
  readonly maxPublishRate: number;
  /** Messages a client may send at once above maxPublishRate (bucket size; 0 = one second's worth). */
  readonly publishBurst: number;
  /** Application bytes (topic + payload) a second one client may publish (0 = no limit); as maxPublishRate. */
  readonly maxPublishByteRate: number;
  /** Bytes a client may send at once above maxPublishByteRate (0 = one second's worth). */
  readonly publishByteBurst: number;
}

export interface SessionSettings {
  /** Session Expiry (seconds) for 3.1/3.1.1 clients with Clean Session 0, which have no way to say. */
  readonly defaultExpiryInterval: number;
  /** Cap on the Session Expiry Interval a v5 client asks for (0xFFFFFFFF = no cap). */
  readonly maxExpiryInterval: number;
  /** Queue QoS 0 messages for disconnected persistent sessions, as Mosquitto's queue_qos0_messages. */
  readonly queueQos0WhenOffline: boolean;
}

export interface BrokerSettings {
  readonly capabilities: Capabilities;
  readonly limits: Limits;
  readonly sessions: SessionSettings;
  readonly sharedSubscriptionStrategy: SharedSubscriptionStrategy;
  /** Assign Topic Aliases to topics we send to v5 clients that allow them. */
  readonly outboundTopicAliases: boolean;
  /** Check that payloads marked as UTF-8 (Payload Format Indicator 1) are valid UTF-8 (answering 0x99). */
  readonly validatePayloadFormat: boolean;
  /** CONNECTs without credentials are accepted when no authenticate hook decides otherwise. */
  readonly allowAnonymous: boolean;
  /** Seconds between `$SYS/` updates; 0 turns `$SYS/` off. */
  readonly sysInterval: number;
  /** Sent as Response Information to clients that ask (Request Response Information 1), if set. */
  readonly responseInformation: string | undefined;
  /** Milliseconds a deciding hook (authenticate, authorize...) may take before it counts as failed. */
  readonly hookTimeout: number;
  /**
   * What a deciding hook that throws, rejects or times out counts as: deny (fail closed, the default),
   * allow (fail open), or defer (the next hook, else the broker's default, decides). Always logged.
   */
  readonly hookFailure: HookFailurePolicy;
}

/**
 * Asked synchronously at every CONNECT, after the Client Identifier is known and before authentication:
 * 0 admits, a CONNACK reason code refuses (server/admission.ts answers 0x8A Banned for banned client
 * identifiers and addresses).
 */
export interface ConnectGate {
  refuseConnect(client: ClientInfo): number;
}

export type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };

export interface BrokerOptions extends DeepPartial<BrokerSettings> {
  readonly clock?: Clock;
  readonly logger?: Logger;
  readonly hooks?: readonly BrokerHooks[];
  /**
   * Where sessions, owed messages, retained messages and wills are kept across restarts (a durable store
   * such as the SQLite one). Without it everything lives in memory only.
   */
  readonly store?: BrokerStore;
  /** MQTT 5.0 enhanced authentication methods, by the name clients ask for. */
  readonly authMethods?: readonly AuthMethod[];
  /** Shown in `$SYS/broker/version`. */
  readonly version?: string;
  /** Counters to use (shared with admission control at the listeners); a new set by default. */
  readonly metrics?: Metrics;
  readonly connectGate?: ConnectGate;
}

export const defaultSettings: BrokerSettings = {
  capabilities: {
    maximumQoS: 2,
    retainAvailable: true,
    wildcardSubscriptionAvailable: true,
    subscriptionIdentifiersAvailable: true,
    sharedSubscriptionAvailable: true,
    receiveMaximum: 1024,
    topicAliasMaximum: 64,
  },
  limits: {
    maxConnections: 1_000_000,
    maxPacketSize: 1024 * 1024,
    maxInflight: 100,
    maxQueuedMessages: 1000,
    maxQueuedBytes: 16 * 1024 * 1024,
    maxQueuedBytesTotal: 1024 * 1024 * 1024,
    maxTopicLevels: 128,
    maxTopicLength: 65_535,
    maxSubscriptionsPerClient: 10_000,
    maxClientIdLength: 65_535,
    maxKeepAlive: 65_535,
    connectTimeout: 10_000,
    outboundHighWaterMark: 1024 * 1024,
    slowConsumerTimeout: 60_000,
    maxPublishRate: 0,
    publishBurst: 0,
    maxPublishByteRate: 0,
    publishByteBurst: 0,
  },
  sessions: {
    defaultExpiryInterval: 7 * 24 * 3600,
    maxExpiryInterval: 0xffff_ffff,
    queueQos0WhenOffline: false,
  },
  sharedSubscriptionStrategy: 'round-robin',
  outboundTopicAliases: true,
  validatePayloadFormat: true,
  allowAnonymous: true,
  sysInterval: 10,
  responseInformation: undefined,
  hookTimeout: 5000,
  hookFailure: 'deny',
};

/** Fills unset settings with defaults (one level of nesting, as the settings are shaped). */
export function resolveSettings(options: BrokerOptions): BrokerSettings {
  return {
    capabilities: { ...defaultSettings.capabilities, ...defined(options.capabilities) },
    limits: { ...defaultSettings.limits, ...defined(options.limits) },
    sessions: { ...defaultSettings.sessions, ...defined(options.sessions) },
    sharedSubscriptionStrategy: options.sharedSubscriptionStrategy ?? defaultSettings.sharedSubscriptionStrategy,
    outboundTopicAliases: options.outboundTopicAliases ?? defaultSettings.outboundTopicAliases,
    validatePayloadFormat: options.validatePayloadFormat ?? defaultSettings.validatePayloadFormat,
    allowAnonymous: options.allowAnonymous ?? defaultSettings.allowAnonymous,
    sysInterval: options.sysInterval ?? defaultSettings.sysInterval,
    responseInformation: options.responseInformation ?? defaultSettings.responseInformation,
    hookTimeout: options.hookTimeout ?? defaultSettings.hookTimeout,
    hookFailure: options.hookFailure ?? defaultSettings.hookFailure,
  };
}

function defined<T extends object>(value: T | undefined): Partial<T> {
  if (value === undefined) return {};
  const out: Partial<T> = {};
  for (const key of Object.keys(value) as (keyof T)[]) if (value[key] !== undefined) out[key] = value[key];
  return out;
}
