import type { Buffer } from 'node:buffer';
import type { ConnectProperties, ProtocolVersion, PublishProperties, QoS } from '../protocol/index.js';
import type { Clock } from './clock.js';
import type { CloseReason } from './close-reason.js';
import type { Logger } from './logger.js';

/**
 * Hooks let an embedding program decide and observe. Each is an optional function named for a lifecycle
 * point, receiving one event object. Deciding hooks answer allow, deny (optionally with a reason code),
 * or defer to the next hook; the first answer that is not defer wins, and when every hook defers the
 * broker's default applies. A deciding hook that throws, rejects or exceeds `hookTimeout` counts as
 * `hookFailure` (deny by default: fail closed) and is logged. While a connection waits for a decision,
 * its later packets wait in order. Observing hooks (on...) are told and not waited for; their failures
 * are logged. A point with no hook costs one check.
 */
export type Verdict = 'allow' | 'deny' | 'defer';

/** What a deciding hook that throws, rejects, answers nonsense or times out counts as. */
export type HookFailurePolicy = Verdict;

export interface Decision {
  readonly verdict: Verdict;
  /** MQTT 5.0 reason code for a deny (e.g. 0x86 Bad User Name or Password, 0x87 Not authorized). */
  readonly reasonCode?: number;
  readonly reasonString?: string;
}

export type HookAnswer = Verdict | Decision | undefined;

/** Who is on the other end of a connection. */
export interface ClientInfo {
  readonly clientId: string;
  readonly username: string | undefined;
  readonly protocolVersion: ProtocolVersion;
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  /** Listener kind: tcp, tls, ws, wss, or what the embedder said. */
  readonly transport: string;
}

export interface AuthenticateEvent {
  readonly client: ClientInfo;
  readonly password: Buffer | undefined;
  readonly clean: boolean;
  readonly keepAlive: number;
  readonly properties: ConnectProperties | undefined;
}

export interface PublishEvent {
  readonly client: ClientInfo;
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: QoS;
  readonly retain: boolean;
  readonly properties: PublishProperties | undefined;
}

export interface SubscribeEvent {
  readonly client: ClientInfo;
  /** The filter as subscribed (with any `$share/{name}/` prefix). */
  readonly filter: string;
  readonly qos: QoS;
}

export interface ConnectEvent {
  readonly client: ClientInfo;
  readonly sessionPresent: boolean;
}

export interface DeliverEvent {
  readonly client: ClientInfo;
  readonly topic: string;
  readonly qos: QoS;
}

export interface DisconnectEvent {
  readonly client: ClientInfo;
  readonly reason: CloseReason;
}

export interface SessionExpiredEvent {
  readonly clientId: string;
}

/** A CONNECT was refused (CONNACK with a failure code, sent or not: 3.1.1 gets its closest return code). */
export interface ConnectRefusedEvent {
  readonly client: ClientInfo;
  /** The MQTT 5.0 reason code of the refusal, whatever the client's version (0x86, 0x87, 0x8A...). */
  readonly reasonCode: number;
  readonly reasonString: string | undefined;
}

export interface BrokerHooks {
  /** Shown in logs when the hook fails. */
  readonly name?: string;
  authenticate?(event: AuthenticateEvent): HookAnswer | Promise<HookAnswer>;
  authorizePublish?(event: PublishEvent): HookAnswer | Promise<HookAnswer>;
  authorizeSubscribe?(event: SubscribeEvent): HookAnswer | Promise<HookAnswer>;
  onConnect?(event: ConnectEvent): void | Promise<void>;
  onPublish?(event: PublishEvent): void | Promise<void>;
  onDeliver?(event: DeliverEvent): void | Promise<void>;
  onDisconnect?(event: DisconnectEvent): void | Promise<void>;
  onSessionExpired?(event: SessionExpiredEvent): void | Promise<void>;
  /** Every refused CONNECT (admission control counts failed logins with it). */
  onConnectRefused?(event: ConnectRefusedEvent): void | Promise<void>;
}

type DecidePoint = 'authenticate' | 'authorizePublish' | 'authorizeSubscribe';
type NotifyPoint = 'onConnect' | 'onPublish' | 'onDeliver' | 'onDisconnect' | 'onSessionExpired' | 'onConnectRefused';
type EventOf<P extends DecidePoint | NotifyPoint> = Parameters<NonNullable<BrokerHooks[P]>>[0];

const ALLOW: Decision = { verdict: 'allow' };
const DENY: Decision = { verdict: 'deny' };
const DEFER: Decision = { verdict: 'defer' };
const ON_FAILURE: Readonly<Record<HookFailurePolicy, Decision>> = { deny: DENY, allow: ALLOW, defer: DEFER };

function normalise(answer: HookAnswer): Decision {
  if (answer === undefined || answer === 'defer') return DEFER;
  if (answer === 'allow') return ALLOW;
  if (answer === 'deny') return DENY;
  const verdict = typeof answer === 'object' && answer !== null ? (answer as Partial<Decision>).verdict : undefined;
  // Hooks written in plain JavaScript may answer anything: what is not a verdict counts as a failure.
  if (verdict !== 'allow' && verdict !== 'deny' && verdict !== 'defer') throw new Error(`answered ${String(answer)}, not a verdict`);
  return answer as Decision;
}

/** Runs the hooks of each lifecycle point in order. */
export class HookRunner {
  private readonly hooks: readonly BrokerHooks[];
  /** Precomputed so the hot path asks one boolean. */
  readonly has: Readonly<Record<DecidePoint | NotifyPoint, boolean>>;

  constructor(
    hooks: readonly BrokerHooks[],
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly timeoutMs = 5000,
    private readonly onFailure: HookFailurePolicy = 'deny',
  ) {
    this.hooks = hooks;
    const any = (p: DecidePoint | NotifyPoint) => hooks.some((h) => typeof h[p] === 'function');
    this.has = {
      authenticate: any('authenticate'),
      authorizePublish: any('authorizePublish'),
      authorizeSubscribe: any('authorizeSubscribe'),
      onConnect: any('onConnect'),
      onPublish: any('onPublish'),
      onDeliver: any('onDeliver'),
      onDisconnect: any('onDisconnect'),
      onSessionExpired: any('onSessionExpired'),
      onConnectRefused: any('onConnectRefused'),
    };
  }

  /**
   * Asks each hook in turn until one allows or denies; `defer` from all of them returns defer. A hook
   * that fails answers the failure policy (a failure policy of defer moves on to the next hook).
   */
  async decide<P extends DecidePoint>(point: P, event: EventOf<P>): Promise<Decision> {
    for (const hook of this.hooks) {
      const fn = hook[point] as ((e: EventOf<P>) => HookAnswer | Promise<HookAnswer>) | undefined;
      if (fn === undefined) continue;
      let decision: Decision;
      try {
        decision = normalise(await this.withTimeout(fn.call(hook, event), hook, point));
      } catch (err) {
        this.logger.error(`hook ${hook.name ?? '(unnamed)'} ${point} failed; answering ${this.onFailure}`, { error: errorText(err) });
        decision = ON_FAILURE[this.onFailure];
      }
      if (decision.verdict !== 'defer') return decision;
    }
    return DEFER;
  }

  /** Tells every hook of an observing point; failures are logged and never reach the client. */
  notify<P extends NotifyPoint>(point: P, event: EventOf<P>): void {
    for (const hook of this.hooks) {
      const fn = hook[point] as ((e: EventOf<P>) => void | Promise<void>) | undefined;
      if (fn === undefined) continue;
      try {
        const result = fn.call(hook, event);
        if (isThenable(result)) {
          Promise.resolve(result).catch((err: unknown) =>
            this.logger.warn(`hook ${hook.name ?? '(unnamed)'} ${point} failed`, { error: errorText(err) }),
          );
        }
      } catch (err) {
        this.logger.warn(`hook ${hook.name ?? '(unnamed)'} ${point} failed`, { error: errorText(err) });
      }
    }
  }

  private withTimeout<T>(value: T | Promise<T>, hook: BrokerHooks, point: string): Promise<T> {
    if (!isThenable(value)) return Promise.resolve(value);
    return new Promise<T>((resolve, reject) => {
      const timer = this.clock.setTimer(
        () => reject(new Error(`hook ${hook.name ?? '(unnamed)'} ${point} timed out after ${this.timeoutMs} ms`)),
        this.timeoutMs,
      );
      value.then(
        (v) => {
          timer.cancel();
          resolve(v);
        },
        (err: unknown) => {
          timer.cancel();
          reject(err);
        },
      );
    });
  }
}

/** Promises from any library or realm: anything with a `then` method. */
function isThenable<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
