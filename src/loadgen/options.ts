import type { ProtocolVersion, QoS } from '../protocol/index.js';
import { BenchError } from './errors.js';
import { STAMP_BYTES } from './packets.js';
import { TopicPattern } from './topics.js';

export const MODES = ['pub', 'sub', 'pubsub', 'conn'] as const;
export type BenchMode = (typeof MODES)[number];

/** A validated benchmark configuration. */
export interface BenchOptions {
  readonly mode: BenchMode;
  readonly host: string;
  readonly port: number;
  readonly username?: string;
  readonly password?: string;
  readonly version: ProtocolVersion;
  /** Publishers (pub), subscribers (sub), publisher/subscriber pairs (pubsub) or connections (conn). */
  readonly clients: number;
  /** Messages per second over all publishers (conn: connections per second); 0 is as fast as possible. */
  readonly rate: number;
  readonly qos: QoS;
  readonly payloadBytes: number;
  readonly topic: TopicPattern;
  readonly durationSeconds: number;
  readonly warmupSeconds: number;
  /** QoS 1/2 messages in flight per publisher (capped by the broker's Receive Maximum); conn: handshakes in flight. */
  readonly window: number;
  /** conn: close each connection after its CONNACK and open it again, for the whole run. */
  readonly churn: boolean;
  readonly keepAlive: number;
  readonly clientIdPrefix: string;
}

/** Flag values as node:util parseArgs gives them (strings), before validation. */
export interface RawBenchFlags {
  readonly host?: string;
  readonly port?: string;
  readonly url?: string;
  readonly username?: string;
  readonly password?: string;
  readonly clients?: string;
  readonly rate?: string;
  readonly qos?: string;
  readonly size?: string;
  readonly topic?: string;
  readonly duration?: string;
  readonly warmup?: string;
  readonly 'protocol-version'?: string;
  readonly window?: string;
  readonly churn?: boolean;
  readonly keepalive?: string;
  readonly 'id-prefix'?: string;
}

export const DEFAULTS = {
  host: 'localhost',
  port: 1883,
  clients: 10,
  rate: 0,
  qos: 0,
  size: 64,
  topic: 'mozzie/bench/%i',
  duration: 10,
  warmup: 1,
  version: 5,
  window: 100,
  keepalive: 60,
} as const;

/** The largest --window: Packet Identifiers are 1..65535, and the generator keeps half of them free. */
export const MAX_WINDOW = 32_768;

/**
 * Validates the flags of `mozzie bench <mode>`; every problem is reported at once, each naming its flag.
 * Throws BenchError with `usage` set.
 */
export function resolveOptions(mode: string | undefined, raw: RawBenchFlags): BenchOptions {
  const problems: string[] = [];
  if (mode === undefined) problems.push(`a mode is needed: ${MODES.join(', ')}`);
  else if (!(MODES as readonly string[]).includes(mode)) problems.push(`unknown mode "${mode}": use ${MODES.join(', ')}`);

  const number = (flag: string, value: string | undefined, fallback: number, min: number, max: number, integer = true): number => {
    if (value === undefined) return fallback;
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < min || n > max) {
      problems.push(`${flag} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}, got "${value}"`);
      return fallback;
    }
    return n;
  };

  let host = raw.host ?? DEFAULTS.host;
  let port = number('--port', raw.port, DEFAULTS.port, 1, 65_535);
  let username = raw.username;
  let password = raw.password;
  if (raw.url !== undefined) {
    const endpoint = parseUrl(raw.url, problems);
    if (endpoint !== undefined) {
      if (raw.host === undefined) host = endpoint.host;
      if (raw.port === undefined && endpoint.port !== undefined) port = endpoint.port;
      username ??= endpoint.username;
      password ??= endpoint.password;
    }
  }

  const versionText = raw['protocol-version'];
  let version: ProtocolVersion = DEFAULTS.version;
  if (versionText !== undefined) {
    const v = { '3': 3, '3.1': 3, '4': 4, '3.1.1': 4, '5': 5, '5.0': 5 }[versionText] as ProtocolVersion | undefined;
    if (v === undefined) problems.push(`--protocol-version must be 3, 4 (3.1.1) or 5, got "${versionText}"`);
    else version = v;
  }

  const clients = number('--clients', raw.clients, DEFAULTS.clients, 1, 1_000_000);
  const rate = number('--rate', raw.rate, DEFAULTS.rate, 0, 1e9, false);
  const qos = number('--qos', raw.qos, DEFAULTS.qos, 0, 2) as QoS;
  const payloadBytes = number('--size', raw.size, DEFAULTS.size, 0, 256 * 1024 * 1024 - 1024);
  const durationSeconds = number('--duration', raw.duration, DEFAULTS.duration, 0.1, 1e7, false);
  const warmupSeconds = number('--warmup', raw.warmup, DEFAULTS.warmup, 0, 1e7, false);
  const window = number('--window', raw.window, DEFAULTS.window, 1, MAX_WINDOW);
  const keepAlive = number('--keepalive', raw.keepalive, DEFAULTS.keepalive, 0, 65_535);

  const topic = new TopicPattern(raw.topic ?? DEFAULTS.topic);
  if (mode !== 'conn') {
    try {
      topic.validate(mode === 'sub', version);
    } catch (err) {
      problems.push(`--topic "${topic.source}": ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  if (raw.churn === true && mode !== 'conn') problems.push('--churn only applies to the conn mode');

  if (problems.length > 0) throw new BenchError(problems.join('\n'), { usage: true });
  return {
    mode: mode as BenchMode,
    host,
    port,
    ...(username === undefined ? {} : { username }),
    ...(password === undefined ? {} : { password }),
    version,
    clients,
    rate,
    qos,
    payloadBytes,
    topic,
    durationSeconds,
    warmupSeconds,
    window,
    churn: raw.churn === true,
    keepAlive,
    clientIdPrefix: raw['id-prefix'] ?? `mzb${process.pid.toString(36)}`,
  };
}

function parseUrl(
  text: string,
  problems: string[],
): { host: string; port: number | undefined; username: string | undefined; password: string | undefined } | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    problems.push(`--url "${text}" is not a URL; expected e.g. mqtt://localhost:1883`);
    return undefined;
  }
  if (url.protocol !== 'mqtt:' && url.protocol !== 'tcp:') {
    problems.push(`--url: only mqtt:// (plain TCP) is supported by the load generator, got "${url.protocol}//"`);
    return undefined;
  }
  return {
    host: url.hostname.replace(/^\[|\]$/g, '') || DEFAULTS.host,
    port: url.port === '' ? undefined : Number(url.port),
    username: url.username === '' ? undefined : decodeURIComponent(url.username),
    password: url.password === '' ? undefined : decodeURIComponent(url.password),
  };
}

/** Whether publishes carry a send-time stamp the subscribers can read. */
export function stamped(options: BenchOptions): boolean {
  return options.payloadBytes >= STAMP_BYTES;
}
