import type { ConnectProperties, ProtocolVersion, PublishProperties, QoS } from '../protocol/index.js';
import type { BackoffOptions } from './backoff.js';
import type { ClientClock } from './clock.js';
import { ClientError } from './errors.js';
import type { InflightStore } from './store.js';
import type { Dialer, DialOptions, TlsOptions } from './transport.js';

export interface WillOptions {
  readonly topic: string;
  readonly payload: string | Uint8Array;
  readonly qos?: QoS;
  readonly retain?: boolean;
  /** 5.0 Will Properties: willDelayInterval, messageExpiryInterval, contentType, ... */
  readonly properties?: PublishProperties & { readonly willDelayInterval?: number };
}

/** Enhanced authentication (5.0 AUTH exchange): answer each server challenge with the next data. */
export type AuthHandler = (challenge: {
  readonly method: string;
  readonly data: Uint8Array | undefined;
  readonly reasonCode: number;
}) => Promise<Uint8Array | undefined> | Uint8Array | undefined;

export interface ClientOptions {
  /** 3 (MQTT 3.1), 4 (3.1.1) or 5 (5.0, the default). */
  readonly protocolVersion?: ProtocolVersion;
  /** Default: the server assigns one (5.0) or a random `mozzie-...` id is made (3.1.1). */
  readonly clientId?: string;
  /** Clean Start / Clean Session (default true). False resumes the session across reconnects. */
  readonly clean?: boolean;
  /** Seconds between control packets before a PINGREQ (default 60; 0 disables). */
  readonly keepAlive?: number;
  readonly username?: string;
  readonly password?: string | Uint8Array;
  readonly will?: WillOptions;
  /** 5.0 CONNECT properties (Session Expiry Interval, Receive Maximum, User Properties, ...). */
  readonly properties?: ConnectProperties;
  /** Milliseconds to wait for CONNACK after dialing (default 30000). */
  readonly connectTimeout?: number;
  /** Reconnect after losing the connection (default true, with backoff 1 s doubling to 30 s, jittered). */
  readonly reconnect?: boolean | BackoffOptions;
  /** Subscribe again when the server did not keep the session (default true). */
  readonly resubscribe?: boolean;
  /** Messages held while offline or beyond the server's Receive Maximum (default 1000). */
  readonly maxQueued?: number;
  /** Queue QoS 0 messages while offline (default true); else they fail at once. */
  readonly queueQos0?: boolean;
  /** Replace repeated topics with Topic Aliases when the server allows (5.0, default false). */
  readonly autoTopicAlias?: boolean;
  /** Answers AUTH challenges for properties.authenticationMethod. */
  readonly auth?: AuthHandler;
  /** Keeps QoS 1/2 messages until acknowledged, across restarts of this process (e.g. FileStore). */
  readonly store?: InflightStore;
  /** Overrides the URL's parts. */
  readonly host?: string;
  readonly port?: number;
  readonly protocol?: DialOptions['protocol'];
  /** WebSocket path (default /mqtt). */
  readonly path?: string;
  readonly tls?: TlsOptions;
  /** How to open the byte stream (default: TCP/TLS/WebSocket by URL scheme). */
  readonly dialer?: Dialer;
  readonly clock?: ClientClock;
}

const DEFAULT_PORTS: Record<DialOptions['protocol'], number> = { mqtt: 1883, mqtts: 8883, ws: 80, wss: 443 };

/** Reads `mqtt://user:pass@host:port`, `mqtts://`, `ws://host:port/path`, `wss://`. */
export function resolveEndpoint(url: string | undefined, options: ClientOptions): DialOptions & { username?: string; password?: string } {
  let protocol: DialOptions['protocol'] = options.protocol ?? 'mqtt';
  let host = options.host ?? 'localhost';
  let port = options.port;
  let path = options.path ?? '/mqtt';
  let username: string | undefined;
  let password: string | undefined;
  if (url !== undefined) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new ClientError('INVALID_ARGUMENT', `"${url}" is not a URL; expected e.g. mqtt://localhost:1883`);
    }
    const scheme = parsed.protocol.replace(/:$/, '');
    if (
      scheme !== 'mqtt' &&
      scheme !== 'mqtts' &&
      scheme !== 'ws' &&
      scheme !== 'wss' &&
      scheme !== 'tcp' &&
      scheme !== 'ssl' &&
      scheme !== 'tls'
    ) {
      throw new ClientError('INVALID_ARGUMENT', `unsupported URL scheme "${scheme}:"; use mqtt, mqtts, ws or wss`);
    }
    if (options.protocol === undefined) protocol = scheme === 'tcp' ? 'mqtt' : scheme === 'ssl' || scheme === 'tls' ? 'mqtts' : scheme;
    if (options.host === undefined && parsed.hostname !== '') host = parsed.hostname.replace(/^\[|\]$/g, '');
    if (options.port === undefined && parsed.port !== '') port = Number(parsed.port);
    if (options.path === undefined && (protocol === 'ws' || protocol === 'wss') && parsed.pathname !== '' && parsed.pathname !== '/')
      path = parsed.pathname;
    if (parsed.username !== '') username = decodeURIComponent(parsed.username);
    if (parsed.password !== '') password = decodeURIComponent(parsed.password);
  }
  return {
    protocol,
    host,
    port: port ?? DEFAULT_PORTS[protocol],
    path,
    timeout: options.connectTimeout ?? 30_000,
    tls: options.tls ?? {},
    wsProtocol: options.protocolVersion === 3 ? 'mqttv3.1' : 'mqtt',
    ...(username === undefined ? {} : { username }),
    ...(password === undefined ? {} : { password }),
  };
}
