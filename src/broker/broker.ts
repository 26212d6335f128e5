import type { Buffer } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { type QoS, ReasonCode } from '../protocol/index.js';
import type { AuthMethod } from './auth-method.js';
import { loadBacklog } from './backlog.js';
import { type Clock, systemClock } from './clock.js';
import type { CloseReason } from './close-reason.js';
import { Connection, type ConnectionInfo } from './connection.js';
import { HookRunner } from './hooks.js';
import { type Logger, silentLogger } from './logger.js';
import { Message } from './message.js';
import { Metrics } from './metrics.js';
import { type BrokerOptions, type BrokerSettings, type ConnectGate, resolveSettings } from './options.js';
import type { Outbound } from './outbound.js';
import { Persistence } from './persistence.js';
import { restoreState } from './restore.js';
import { RetainedIndex } from './router/retained.js';
import { SubscriptionIndex } from './router/subscriptions.js';
import { Delivery, NEVER_EXPIRES, type PendingWill, QueueTotals, Session, type SubscriptionEntry } from './session.js';
import { SysTopics } from './sys.js';

/**
 * The broker: MQTT semantics over any byte stream. It owns every session, the subscription index and the
 * retained messages, and is the one place messages are routed. Streams come in through `handle`; a
 * listener (TCP, TLS, WebSocket, or a test's in-memory pair) is just a source of streams.
 */
export class Broker {
  readonly settings: BrokerSettings;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly hooks: HookRunner;
  readonly metrics: Metrics;
  readonly version: string;
  /** Asked at every CONNECT before authentication (ban lists); see ConnectGate. */
  readonly connectGate: ConnectGate | undefined;
  readonly subscriptions = new SubscriptionIndex();
  readonly retained = new RetainedIndex();
  /** Enhanced authentication methods by name (MQTT 5.0 section 4.12). */
  readonly authMethods: ReadonlyMap<string, AuthMethod>;
  /** Every session, connected or not, by Client Identifier. */
  readonly sessions = new Map<string, Session>();
  /** Bytes queued by every session together, held to limits.maxQueuedBytesTotal. */
  readonly queuedTotals = new QueueTotals();
  /** What must survive a restart goes through here to the store (if a durable one is configured). */
  readonly persistence: Persistence;
  /** Connections that completed CONNECT, by Client Identifier. */
  private readonly online = new Map<string, Connection>();
  /** Every open connection, including those that have not sent CONNECT yet. */
  private readonly connections = new Set<Connection>();
  private dirty: Outbound[] = [];
  private flushScheduled = false;
  private readonly sys: SysTopics;
  private closed = false;

  constructor(options: BrokerOptions = {}) {
    this.settings = resolveSettings(options);
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    this.hooks = new HookRunner(options.hooks ?? [], this.clock, this.logger, this.settings.hookTimeout, this.settings.hookFailure);
    this.metrics = options.metrics ?? new Metrics(this.clock.now());
    this.connectGate = options.connectGate;
    this.version = options.version ?? '0.0.0';
    this.authMethods = new Map((options.authMethods ?? []).map((m) => [m.name, m]));
    this.persistence = new Persistence(options.store);
    this.sys = new SysTopics(this);
    this.sys.start();
  }

  /**
   * Loads the store (sessions, subscriptions, retained messages, pending wills) and starts the timers.
   * Connections may be handled before it resolves only with no store. Owed messages load lazily, a page at
   * a time, when their client connects.
   */
  async start(): Promise<void> {
    const store = this.persistence.store;
    if (store !== undefined) {
      const began = this.clock.now();
      const state = await store.load();
      const loaded = restoreState(this, state);
      const fields = { ...loaded, ms: this.clock.now() - began };
      // An empty store is not news.
      if (loaded.sessions + loaded.retained + loaded.expired > 0) this.logger.info('store loaded', fields);
      else this.logger.debug('store loaded', fields);
    }
  }

  /** Takes a new connection: any Duplex stream of MQTT bytes. */
  handle(stream: Duplex, info: ConnectionInfo = {}): Connection {
    if (this.closed) {
      stream.destroy();
      throw new Error('the broker is closed');
    }
    const c = new Connection(this, stream, info);
    this.connections.add(c);
    this.metrics.connectionsAccepted++;
    return c;
  }

  /** Connected clients (CONNECT accepted). */
  get connectedCount(): number {
    return this.online.size;
  }

  /** Open network connections, including those still before CONNECT. */
  get connectionCount(): number {
    return this.connections.size;
  }

  isConnected(clientId: string): boolean {
    return this.online.has(clientId);
  }

  /** A Client Identifier for a client that sent none. [MQTT-3.1.3-6] */
  assignClientId(): string {
    let id: string;
    do id = `mozzie-${randomBytes(9).toString('base64url')}`;
    while (this.sessions.has(id) || this.online.has(id));
    return id;
  }

  // ---- connection lifecycle -------------------------------------------------------------------

  /** Closes an existing connection with this Client Identifier, which a new one replaces. [MQTT-3.1.4-3] */
  takeOver(clientId: string, by: Connection): void {
    const existing = this.online.get(clientId);
    if (existing !== undefined && existing !== by) {
      existing.abort(ReasonCode.SessionTakenOver, 'session-taken-over', 'another connection with this client identifier');
    }
  }

  /**
   * Resumes the session of `c.clientId`, or starts a new one. With Clean Start the old session is ended
   * first ([MQTT-3.1.2-4]); a resumed session cancels its pending Will ([MQTT-3.1.3-9]).
   */
  openSession(c: Connection, clean: boolean, expiryInterval: number): { session: Session; present: boolean } {
    let session = this.sessions.get(c.clientId);
    if (session !== undefined && clean) {
      this.endSession(session);
      session = undefined;
    }
    let present = true;
    if (session !== undefined) {
      session.expiryTimer?.cancel();
      session.expiryTimer = undefined;
      if (session.pendingWill !== undefined) this.persistence.saveWill(session, undefined, 0, undefined);
      session.willTimer?.cancel();
      session.willTimer = undefined;
      session.pendingWill = undefined;
      session.protocolVersion = c.version;
      session.expiryInterval = expiryInterval;
      session.disconnectedAt = undefined;
    } else {
      present = false;
      session = new Session(c.clientId, c.version, expiryInterval, this.queuedTotals);
      this.sessions.set(c.clientId, session);
    }
    // A session that outlives its connection is kept in the store; one that no longer does leaves it.
    if (this.persistence.keeps(session)) {
      if (session.stored) this.persistence.saveSession(session);
      else this.persistence.adoptSession(session);
    } else {
      this.persistence.deleteSession(session);
    }
    return { session, present };
  }

  /** A connection completed CONNECT and owns its session now. */
  connected(c: Connection, session: Session, sessionPresent: boolean): void {
    c.session = session;
    session.connection = c;
    this.online.set(c.clientId, c);
    if (this.online.size > this.metrics.maxConnected) this.metrics.maxConnected = this.online.size;
    this.logger.info('client connected', {
      clientId: c.clientId,
      protocolVersion: c.version,
      sessionPresent,
      remoteAddress: c.remoteAddress,
    });
    if (this.hooks.has.onConnect) this.hooks.notify('onConnect', { client: c.info, sessionPresent });
    // The Will of a kept session is stored too, so a restart that cuts the connection still publishes it.
    if (c.will !== undefined) this.persistence.saveWill(session, c.will.message, c.will.delayInterval, undefined);
  }

  /** Called once per connection when it closes, for whatever reason. */
  connectionClosed(c: Connection, reason: CloseReason, publishWill: boolean): void {
    this.connections.delete(c);
    this.metrics.closed(reason);
    const session = c.session;
    if (session === undefined || this.online.get(c.clientId) !== c) return;
    this.online.delete(c.clientId);
    session.connection = undefined;
    session.disconnectedAt = this.clock.now();
    this.logger.info('client disconnected', { clientId: c.clientId, reason });
    if (this.hooks.has.onDisconnect) this.hooks.notify('onDisconnect', { client: c.info, reason });
    if (publishWill && c.will !== undefined) this.scheduleWill(session, c.will);
    // A normal DISCONNECT, or the broker shutting down, discards the Will (also from the store).
    else if (c.will !== undefined) this.persistence.saveWill(session, undefined, 0, undefined);
    this.redistributeShared(session);
    this.persistence.saveSession(session);
    if (session.stored) this.spillQueue(session);
    if (this.closed) return;
    if (session.expiryInterval === 0) this.endSession(session);
    else this.armExpiry(session);
  }

  /**
   * Offline queues live in the store, not in memory: what a disconnected kept session has queued is
   * already stored, so it is dropped from RAM and read back a page at a time when the client returns.
   */
  private spillQueue(session: Session): void {
    const queued = session.queue.clear();
    session.queuedBytes = 0;
    for (const d of queued) {
      if (d.seq === 0) continue;
      session.backlog++;
      session.backlogBytes += d.message.payload.length + d.message.topic.length;
      if (d.seq - 1 < session.loadedSeq) session.loadedSeq = d.seq - 1;
    }
  }

  /** Reads the next page of a session's stored deliveries (see backlog.ts). */
  loadBacklog(session: Session): void {
    loadBacklog(this, session);
  }

  /** Restarts the expiry timer of a session restored from the store. */
  restoreExpiry(session: Session): void {
    this.armExpiry(session);
  }

  private armExpiry(session: Session): void {
    if (session.expiryInterval === NEVER_EXPIRES) return;
    const due = (session.disconnectedAt ?? this.clock.now()) + session.expiryInterval * 1000;
    session.expiryTimer = this.clock.setTimer(
      () => {
        session.expiryTimer = undefined;
        if (session.connection !== undefined || this.sessions.get(session.clientId) !== session) return;
        // Timers cap at about 24 days; a longer expiry re-arms until it is due.
        if (this.clock.now() < due) {
          this.armExpiry(session);
          return;
        }
        this.metrics.sessionsExpired++;
        this.endSession(session);
        if (this.hooks.has.onSessionExpired) this.hooks.notify('onSessionExpired', { clientId: session.clientId });
      },
      Math.max(0, due - this.clock.now()),
    );
  }

  /**
   * Ends a session: its subscriptions go, what it was owed is dropped, and a Will still waiting for its
   * delay is published now, since the session ended first. (MQTT 5.0 section 3.1.3.2.2)
   */
  endSession(session: Session): void {
    if (this.sessions.get(session.clientId) === session) this.sessions.delete(session.clientId);
    this.persistence.deleteSession(session);
    session.expiryTimer?.cancel();
    session.expiryTimer = undefined;
    for (const entry of session.subscriptions.values()) this.subscriptions.remove(session, entry);
    session.subscriptions.clear();
    session.clearMessages();
    const will = session.pendingWill;
    if (will !== undefined) {
      session.willTimer?.cancel();
      session.willTimer = undefined;
      session.pendingWill = undefined;
      this.publishWill(will);
    }
  }

  /** The Will waits min(Will Delay Interval, Session Expiry Interval) before it is published. */
  private scheduleWill(session: Session, will: PendingWill): void {
    const delay = Math.min(will.delayInterval, session.expiryInterval);
    if (delay === 0) {
      this.publishWill(will);
      return;
    }
    session.pendingWill = will;
    this.persistence.saveWill(session, will.message, will.delayInterval, this.clock.now() + delay * 1000);
    this.armWill(session, will, delay * 1000);
  }

  private armWill(session: Session, will: PendingWill, ms: number): void {
    session.willTimer = this.clock.setTimer(
      () => {
        session.willTimer = undefined;
        if (session.pendingWill !== will) return;
        session.pendingWill = undefined;
        this.persistence.saveWill(session, undefined, 0, undefined);
        this.publishWill(will);
      },
      Math.max(0, ms),
    );
  }

  /** A will restored from the store: published when due (at once if that has passed). */
  restoreWill(session: Session, message: Message, delayInterval: number, due: number): void {
    const will: PendingWill = { message, delayInterval };
    session.pendingWill = will;
    this.armWill(session, will, due - this.clock.now());
  }

  /** The will of a session that expired while the broker was down. */
  publishStoredWill(message: Message): void {
    this.publishWill({ message, delayInterval: 0 });
  }

  private publishWill(will: PendingWill): void {
    const w = will.message;
    // The Will is published now: its expiry counts from here.
    const message = new Message(w.topic, w.payload, w.qos, w.retain, w.properties, w.expiryInterval, this.clock.now(), w.origin, true);
    this.metrics.willsPublished++;
    this.logger.debug('publishing will', { clientId: w.origin, topic: w.topic });
    this.publish(message, undefined);
  }

  /**
   * A disconnected member of a Shared Subscription should not sit on the group's messages: those it has
   * not been sent, and QoS 1 ones it has not acknowledged, go to a connected member if there is one.
   * QoS 2 messages in flight stay, since sending them elsewhere could deliver them twice.
   */
  private redistributeShared(session: Session): void {
    if (this.subscriptions.sharedGroups === 0) return;
    const moved = session.takeQueued((d) => d.shareKey !== undefined);
    for (const [id, f] of session.inflight) {
      if (f.delivery.shareKey !== undefined && f.delivery.qos === 1 && f.state === 'publish') {
        session.inflight.delete(id);
        // Back to queued in the store: if it cannot go elsewhere it waits here, unsent.
        if (f.delivery.seq !== 0) this.persistence.updateDelivery(session, f.delivery, 0, 'queued');
        moved.push(f.delivery);
      }
    }
    for (const d of moved) {
      const group = this.subscriptions.groupByKey(d.shareKey as string);
      const member = group?.pick(this.settings.sharedSubscriptionStrategy, d.message.origin, isOnline, session);
      if (group === undefined || member === undefined || member.connection === undefined) {
        this.enqueue(session, d);
        continue;
      }
      this.persistence.removeDelivery(session, d);
      const entry = group.members.get(member) as SubscriptionEntry;
      const qos = Math.min(d.message.qos, entry.qos) as QoS;
      this.deliverTo(member, d.message, qos, d.retain, d.subscriptionIdentifiers, d.shareKey);
    }
  }

  // ---- subscriptions ----------------------------------------------------------------------------

  /** Adds or replaces a subscription; true if it is new. */
  subscribe(session: Session, entry: SubscriptionEntry): boolean {
    const existing = session.subscriptions.get(entry.filter);
    session.subscriptions.set(entry.filter, entry);
    this.subscriptions.add(session, entry);
    this.persistence.saveSubscription(session, entry);
    return existing === undefined;
  }

  /** Removes a subscription by its exact filter; true if it existed. [MQTT-3.10.4-1] */
  unsubscribe(session: Session, filter: string): boolean {
    const entry = session.subscriptions.get(filter);
    if (entry === undefined) return false;
    session.subscriptions.delete(filter);
    this.subscriptions.remove(session, entry);
    this.persistence.deleteSubscription(session, filter);
    return true;
  }

  // ---- routing ----------------------------------------------------------------------------------

  /**
   * Routes an Application Message to every matching subscription; returns how many sessions it went to.
   * Retained messages are stored, replaced or (empty payload) deleted first. [MQTT-3.3.1-5] [MQTT-3.3.1-6]
   * [MQTT-3.3.1-7]
   */
  publish(message: Message, from: Connection | undefined): number {
    if (message.retain) {
      // The broker's own retained messages ($SYS) are current values, not worth keeping across restarts.
      const keep = message.origin !== '';
      if (message.payload.length === 0) {
        if (this.retained.delete(message.topic) && keep) this.persistence.deleteRetained(message.topic);
      } else {
        this.retained.set(message.detach());
        if (keep) this.persistence.saveRetained(message);
      }
    }
    const match = this.subscriptions.match(message.topic);
    const origin = message.origin;
    let count = 0;
    const targets = match.targets;
    for (let i = 0; i < targets.length; i++) {
      const t = targets[i] as (typeof targets)[number];
      let qos: number;
      let rap: boolean;
      let subIds: readonly number[] | undefined;
      if (from !== undefined && t.session.clientId === origin) {
        // No Local: not to the connection that published it. [MQTT-3.8.3-3]
        if (t.localQos < 0) continue;
        qos = t.localQos;
        rap = t.localRap;
        subIds = t.localSubscriptionIdentifiers;
      } else {
        qos = t.qos;
        rap = t.rap;
        subIds = t.subscriptionIdentifiers;
      }
      // QoS is the minimum of the published and the granted one ([MQTT-3.8.4-8]); RETAIN is kept only with
      // Retain As Published ([MQTT-3.3.1-12], [MQTT-3.3.1-13]).
      this.deliverTo(t.session, message, Math.min(message.qos, qos) as QoS, rap && message.retain, subIds, undefined);
      count++;
    }
    const groups = match.groups;
    for (let i = 0; i < groups.length; i++) {
      const g = groups[i] as (typeof groups)[number];
      const member = g.pick(this.settings.sharedSubscriptionStrategy, origin, isOnline);
      if (member === undefined) continue;
      const entry = g.members.get(member) as SubscriptionEntry;
      const qos = Math.min(message.qos, entry.qos) as QoS;
      const subIds = entry.subscriptionIdentifier === undefined ? undefined : [entry.subscriptionIdentifier];
      this.deliverTo(member, message, qos, entry.retainAsPublished && message.retain, subIds, g.key);
      count++;
    }
    return count;
  }

  /** Hands one message to a session: to its connection now, or to its queue while it is offline. */
  deliverTo(
    session: Session,
    message: Message,
    qos: QoS,
    retain: boolean,
    subIds: readonly number[] | undefined,
    shareKey: string | undefined,
  ): void {
    const c = session.connection;
    if (this.hooks.has.onDeliver && c !== undefined) this.hooks.notify('onDeliver', { client: c.info, topic: message.topic, qos });
    if (c !== undefined) {
      if (qos === 0) c.outbound.deliverQos0(message, retain, subIds);
      else c.outbound.deliverReliable(new Delivery(message, qos, retain, subIds, shareKey));
      return;
    }
    if (qos === 0 && !this.settings.sessions.queueQos0WhenOffline) return;
    this.enqueue(session, new Delivery(message, qos, retain, subIds, shareKey));
  }

  /**
   * Queues a delivery in a session within its limits, counting what is dropped. A kept session's queue is
   * stored; while its client is offline (or older messages wait on disk) it lives on disk only.
   */
  enqueue(session: Session, d: Delivery): void {
    const limits = this.settings.limits;
    if (d.seq === 0 && this.queuedTotals.bytes + d.message.payload.length + d.message.topic.length > limits.maxQueuedBytesTotal) {
      // All sessions together hold as much as they may: memory (and disk) stay bounded whatever the fleet does.
      session.dropped++;
      this.metrics.droppedQueueFull++;
      this.metrics.limitHit('maxQueuedBytesTotal');
      return;
    }
    if (session.stored) {
      // Both limits hold for the queue in memory and on disk together, before anything is stored.
      const size = d.message.payload.length + d.message.topic.length;
      if (
        d.seq === 0 &&
        (session.queue.length + session.backlog >= limits.maxQueuedMessages ||
          session.queuedBytes + session.backlogBytes + size > limits.maxQueuedBytes)
      ) {
        session.dropped++;
        this.metrics.droppedQueueFull++;
        this.metrics.limitHit('maxQueuedMessages');
        return;
      }
      if (d.seq === 0) this.persistence.addDelivery(session, d, 0, 'queued');
      if (session.connection === undefined || session.backlog > 0) {
        session.backlog++;
        session.backlogBytes += size;
        if (d.seq - 1 < session.loadedSeq) session.loadedSeq = d.seq - 1;
        return;
      }
    }
    d.message.detach();
    const result = session.enqueue(d, this.settings.limits);
    if (result === 'dropped') {
      this.metrics.droppedQueueFull++;
      this.metrics.limitHit('maxQueuedMessages');
    } else if (result === 'replaced') {
      this.metrics.droppedQueueFull++;
    }
  }

  /** Publishes a message made by the broker itself (no publisher connection). */
  publishInternal(topic: string, payload: Buffer, retain: boolean, qos: QoS = 0): number {
    return this.publish(new Message(topic, payload, qos, retain, undefined, undefined, this.clock.now(), '', true), undefined);
  }

  // ---- output batching --------------------------------------------------------------------------

  /** Collects connections with output this turn; all are flushed once, after the I/O callbacks. */
  scheduleFlush(outbound: Outbound): void {
    this.dirty.push(outbound);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushAll);
    }
  }

  private readonly flushAll = (): void => {
    // Write-ahead: nothing leaves before the state it reflects is committed. A PUBLISH forwarded before the
    // publisher's QoS 2 identifier is durable, or a PUBREL before its state is, would let a crash deliver
    // the message twice. Runs at once when nothing is pending; after a failed commit, sends anyway.
    if (this.persistence.durable) this.persistence.afterCommit(this.writeAll, this.writeAll);
    else this.writeAll();
  };

  private readonly writeAll = (): void => {
    this.flushScheduled = false;
    const dirty = this.dirty;
    this.dirty = [];
    for (const o of dirty) o.flush();
  };

  // ---- shutdown ---------------------------------------------------------------------------------

  /**
   * Closes every connection (5.0 clients get DISCONNECT 0x8B Server shutting down) without publishing
   * their Wills, and stops the timers. Sessions are kept as they are.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.sys.stop();
    for (const c of [...this.connections]) c.abort(ReasonCode.ServerShuttingDown, 'server-shutting-down', 'server shutting down');
    this.flushAll();
    for (const s of this.sessions.values()) {
      s.expiryTimer?.cancel();
      s.willTimer?.cancel();
    }
    await new Promise<void>((resolve) => setImmediate(resolve));
    await this.persistence.store?.close();
  }
}

function isOnline(s: Session): boolean {
  return s.connection !== undefined;
}
