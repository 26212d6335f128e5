import { BlockList, isIPv4 } from 'node:net';
import type { Duplex } from 'node:stream';
import type { z } from 'zod';
import type { Clock, Timer } from '../broker/clock.js';
import type { BrokerHooks, ClientInfo, ConnectRefusedEvent } from '../broker/hooks.js';
import type { Logger } from '../broker/logger.js';
import type { LimitName, Metrics } from '../broker/metrics.js';
import type { ConnectGate } from '../broker/options.js';
import { burstFor, TokenBucket } from '../broker/token-bucket.js';
import { admissionSchema } from '../config/schema.js';
import { ReasonCode } from '../protocol/index.js';
import type { AdmissionCheck } from '../transport/types.js';
import { addressKey, unmapIPv4 } from './address.js';

/** The `admission` section of the configuration, defaults filled in. */
export type AdmissionSettings = z.output<typeof admissionSchema>;
export type AdmissionInput = z.input<typeof admissionSchema>;

/** Settings from a partial input, with the schema's defaults (which leave every limit off). */
export function admissionSettings(input: AdmissionInput = {}): AdmissionSettings {
  return admissionSchema.parse(input);
}

export interface AdmissionDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  /** The broker's counters: refusals count in `limitHits`, bans in `bans`. */
  readonly metrics: Metrics;
}

export type BanKind = 'address' | 'clientId';

export interface Ban {
  readonly kind: BanKind;
  /** The address key (an IPv4 address, or an IPv6 network) or the Client Identifier. */
  readonly key: string;
  /** Epoch milliseconds when the ban ends. */
  readonly until: number;
}

interface Failures {
  count: number;
  since: number;
}

/** Failed CONNECTs that count towards a ban: credentials refused or not authorized. Not 0x8A itself. */
const FAILED_LOGIN = new Set<number>([ReasonCode.BadUserNameOrPassword, ReasonCode.NotAuthorized]);
/** How often idle rate buckets, old failure counts and ended bans are forgotten. */
const SWEEP_INTERVAL = 60_000;

/**
 * Admission control: what a source address or client identifier may do before it costs anything.
 *
 * - `admit` is the listeners' AdmissionCheck, asked for each raw connection before the TLS handshake or
 *   WebSocket upgrade: banned addresses, addresses at maxConnectionsPerAddress, and addresses over their
 *   connectionRate (a token bucket per address) are closed at once.
 * - `track` counts the open connections of each address when the listener hands a stream over, refuses
 *   one over the limit, and releases the count when that stream closes (every transport's stream emits
 *   'close' once). TLS handshakes in progress are not counted yet: the rate limit and the handshake
 *   timeout bound them, and `track` re-checks the limit after the handshake.
 * - `refuseConnect` (the broker's ConnectGate) answers 0x8A Banned at CONNECT for a banned client
 *   identifier, or for an address banned while its connection was already open.
 * - `hooks.onConnectRefused` counts failed logins (0x86, 0x87) per address and per client identifier;
 *   `ban.failures` of them within `ban.window` ban it for `ban.duration`.
 *
 * Addresses are counted per IPv4 address or IPv6 network (ipv6PrefixLength). Everything lives in maps
 * swept once a minute, so memory follows the addresses seen recently, not all ever seen.
 */
export class Admission implements ConnectGate {
  /** For the broker's hook list; undefined when banning is off, so onConnectRefused costs nothing. */
  readonly hooks: BrokerHooks | undefined;
  private readonly open = new Map<string, number>();
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly failures: Record<BanKind, Map<string, Failures>> = { address: new Map(), clientId: new Map() };
  private readonly banned: Record<BanKind, Map<string, number>> = { address: new Map(), clientId: new Map() };
  private readonly exempt: BlockList | undefined;
  private readonly limited: boolean;
  private readonly connectionBurst: number;
  private sweepTimer: Timer | undefined;

  constructor(
    readonly settings: AdmissionSettings,
    private readonly deps: AdmissionDeps,
  ) {
    this.limited = settings.maxConnectionsPerAddress > 0 || settings.connectionRate > 0;
    this.connectionBurst = burstFor(settings.connectionRate, settings.connectionBurst);
    this.exempt = settings.exempt.length === 0 ? undefined : exemptList(settings.exempt);
    this.hooks =
      settings.ban.failures > 0
        ? { name: 'admission', onConnectRefused: (event: ConnectRefusedEvent) => this.connectRefused(event) }
        : undefined;
    this.sweepTimer = deps.clock.setTimer(this.onSweep, SWEEP_INTERVAL);
  }

  /** The AdmissionCheck for listeners: false closes the raw connection before TLS or MQTT. */
  readonly admit: AdmissionCheck = (remoteAddress) => {
    if (!this.limited && this.banned.address.size === 0) return true;
    const key = this.keyOf(remoteAddress);
    return key === undefined || this.allowed(key, remoteAddress);
  };

  /**
   * Counts a stream the listener hands over; false (and the stream destroyed) when its address is at
   * maxConnectionsPerAddress. `checked` says whether `admit` already ran for it; a PROXY protocol listener
   * learns the client's address only from the header, so its streams are checked here in full.
   */
  track(stream: Duplex, remoteAddress: string | undefined, checked: boolean): boolean {
    if (!this.limited && this.banned.address.size === 0) return true;
    const key = this.keyOf(remoteAddress);
    if (key === undefined) return true;
    if (!checked && !this.allowed(key, remoteAddress)) {
      stream.destroy();
      return false;
    }
    const max = this.settings.maxConnectionsPerAddress;
    if (max === 0) return true;
    const n = this.open.get(key) ?? 0;
    if (n >= max) {
      this.refused('maxConnectionsPerAddress', remoteAddress);
      stream.destroy();
      return false;
    }
    if (stream.destroyed) return true;
    this.open.set(key, n + 1);
    stream.once('close', () => this.release(key));
    return true;
  }

  /**
   * ConnectGate: 0x8A Banned for a banned client identifier or address, else 0. Every ban in force counts,
   * whatever `ban.scope` (which says what failed logins ban, not which bans hold).
   */
  refuseConnect(client: ClientInfo): number {
    if (this.banned.clientId.size > 0 && client.clientId !== '' && this.isBanned('clientId', client.clientId)) {
      return this.bannedAtConnect(client, 'clientId');
    }
    if (this.banned.address.size > 0) {
      const key = this.keyOf(client.remoteAddress);
      if (key !== undefined && this.isBanned('address', key)) return this.bannedAtConnect(client, 'address');
    }
    return 0;
  }

  /** Open connections counted for an address (its IPv6 network), when maxConnectionsPerAddress is set. */
  connectionsFrom(remoteAddress: string): number {
    const key = addressKey(remoteAddress, this.settings.ipv6PrefixLength);
    return key === undefined ? 0 : (this.open.get(key) ?? 0);
  }

  /** Bans an address (its IPv6 network) or a client identifier, by hand or after failed logins. */
  ban(kind: BanKind, value: string, durationMs = this.settings.ban.duration): void {
    const key = kind === 'address' ? addressKey(value, this.settings.ipv6PrefixLength) : value;
    if (key !== undefined && key !== '') this.issueBan(kind, key, durationMs, 'by hand');
  }

  unban(kind: BanKind, value: string): boolean {
    const key = kind === 'address' ? addressKey(value, this.settings.ipv6PrefixLength) : value;
    return key !== undefined && this.banned[kind].delete(key);
  }

  isBanned(kind: BanKind, key: string): boolean {
    const map = this.banned[kind];
    const until = map.get(key);
    if (until === undefined) return false;
    if (until > this.deps.clock.now()) return true;
    map.delete(key);
    return false;
  }

  /** Bans in force. */
  bans(): Ban[] {
    const now = this.deps.clock.now();
    const out: Ban[] = [];
    for (const kind of ['address', 'clientId'] as const)
      for (const [key, until] of this.banned[kind]) if (until > now) out.push({ kind, key, until });
    return out;
  }

  /** Forgets full rate buckets, failure counts older than the window, and ended bans. */
  sweep(): void {
    const now = this.deps.clock.now();
    for (const [key, bucket] of this.buckets) if (bucket.full(now)) this.buckets.delete(key);
    const window = this.settings.ban.window;
    for (const map of [this.failures.address, this.failures.clientId])
      for (const [key, f] of map) if (now - f.since >= window) map.delete(key);
    for (const map of [this.banned.address, this.banned.clientId]) for (const [key, until] of map) if (until <= now) map.delete(key);
  }

  /** How many addresses and client ids are remembered (rate buckets, failure counts, bans, open counts). */
  get tracked(): number {
    return (
      this.buckets.size +
      this.open.size +
      this.failures.address.size +
      this.failures.clientId.size +
      this.banned.address.size +
      this.banned.clientId.size
    );
  }

  close(): void {
    this.sweepTimer?.cancel();
    this.sweepTimer = undefined;
  }

  // ---- internals ----------------------------------------------------------------------------------

  private readonly onSweep = (): void => {
    this.sweep();
    this.sweepTimer = this.deps.clock.setTimer(this.onSweep, SWEEP_INTERVAL);
  };

  /** The counting key of an address; undefined when it is not an IP address or is exempt. */
  private keyOf(remoteAddress: string | undefined): string | undefined {
    if (remoteAddress === undefined) return undefined;
    if (this.exempt !== undefined) {
      const plain = unmapIPv4(remoteAddress);
      if (this.exempt.check(plain, isIPv4(plain) ? 'ipv4' : 'ipv6')) return undefined;
    }
    return addressKey(remoteAddress, this.settings.ipv6PrefixLength);
  }

  /** Ban, open-connection limit and rate limit of a new connection, in that order (a refusal spends no token). */
  private allowed(key: string, remoteAddress: string | undefined): boolean {
    if (this.banned.address.size > 0 && this.isBanned('address', key)) return this.refused('banned', remoteAddress);
    const max = this.settings.maxConnectionsPerAddress;
    if (max > 0 && (this.open.get(key) ?? 0) >= max) return this.refused('maxConnectionsPerAddress', remoteAddress);
    const rate = this.settings.connectionRate;
    if (rate > 0) {
      const now = this.deps.clock.now();
      let bucket = this.buckets.get(key);
      if (bucket === undefined) {
        bucket = new TokenBucket(rate, this.connectionBurst, now);
        this.buckets.set(key, bucket);
      }
      if (!bucket.take(1, now)) return this.refused('connectionRate', remoteAddress);
    }
    return true;
  }

  private refused(limit: LimitName, remoteAddress: string | undefined): false {
    this.deps.metrics.limitHit(limit);
    this.deps.logger.debug('connection refused by admission control', { remoteAddress, limit });
    return false;
  }

  private bannedAtConnect(client: ClientInfo, kind: BanKind): number {
    this.deps.metrics.limitHit('banned');
    this.deps.logger.debug('CONNECT refused: banned', { clientId: client.clientId, remoteAddress: client.remoteAddress, by: kind });
    return ReasonCode.Banned;
  }

  private release(key: string): void {
    const n = (this.open.get(key) ?? 1) - 1;
    if (n <= 0) this.open.delete(key);
    else this.open.set(key, n);
  }

  private connectRefused(event: ConnectRefusedEvent): void {
    if (!FAILED_LOGIN.has(event.reasonCode)) return;
    const scope = this.settings.ban.scope;
    if (scope !== 'clientId') {
      const key = this.keyOf(event.client.remoteAddress);
      if (key !== undefined) this.countFailure('address', key);
    }
    if (scope !== 'address' && event.client.clientId !== '') this.countFailure('clientId', event.client.clientId);
  }

  /** Counts a failed login in a fixed window that starts at the first failure; at `ban.failures`, bans. */
  private countFailure(kind: BanKind, key: string): void {
    const { failures, window } = this.settings.ban;
    const now = this.deps.clock.now();
    const map = this.failures[kind];
    let f = map.get(key);
    if (f === undefined || now - f.since >= window) {
      f = { count: 0, since: now };
      map.set(key, f);
    }
    f.count++;
    if (f.count >= failures) this.issueBan(kind, key, this.settings.ban.duration, `after ${failures} failed CONNECTs`);
  }

  /** Logged at info, unlike single refusals: a ban is rare and something an operator wants to see. */
  private issueBan(kind: BanKind, key: string, durationMs: number, why: string): void {
    this.failures[kind].delete(key);
    this.banned[kind].set(key, this.deps.clock.now() + durationMs);
    this.deps.metrics.bans++;
    this.deps.logger.info(`banned ${kind === 'address' ? 'address' : 'client id'} ${why}`, { [kind]: key, durationMs });
  }
}

function exemptList(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const slash = entry.indexOf('/');
    const address = slash < 0 ? unmapIPv4(entry) : entry.slice(0, slash);
    const family = isIPv4(address) ? 'ipv4' : 'ipv6';
    if (slash < 0) list.addAddress(address, family);
    else list.addSubnet(address, Number(entry.slice(slash + 1)), family);
  }
  return list;
}
