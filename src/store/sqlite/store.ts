import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { ProtocolVersion } from '../../protocol/index.js';
import type {
  BrokerStore,
  DeliveryPage,
  LoadedState,
  StoredDelivery,
  StoredMessage,
  StoredSession,
  StoredSubscription,
  StoredWill,
} from '../types.js';
import {
  decodeMessage,
  deliveryFromRow,
  encodeMessage,
  encodeProperties,
  type MessageRow,
  messageFromRow,
  packOptions,
  stateCode,
  subscriptionFromRow,
} from './codec.js';
import { SCHEMA, SCHEMA_VERSION } from './schema.js';

export type SyncLevel = 'full' | 'normal' | 'off';

export interface SqliteStoreOptions {
  /** Directory holding mozzie.db (created if missing). */
  readonly dataDir: string;
  /**
   * full: every commit is fsync'd (survives power loss); normal: WAL without fsync per commit (survives
   * a crash or kill of the process, not of the machine); off: no syncing at all.
   */
  readonly sync?: SyncLevel;
  /** Milliseconds to gather writes into one commit; 0 (default) commits once per event-loop turn. */
  readonly commitWindow?: number;
}

/** A store error users can act on: names the file and what to do. */
export class StoreError extends Error {
  override readonly name = 'StoreError';
  constructor(
    message: string,
    readonly path: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

interface Pending {
  readonly done: () => void;
  readonly failed: ((error: Error) => void) | undefined;
}

type Statement = Database.Statement<unknown[], unknown>;

/**
 * The durable store: SQLite in WAL mode through better-sqlite3. Writes are recorded as they happen and
 * committed together once per event-loop turn (group commit), so durability costs one transaction per
 * batch, not one per message; acknowledgements wait in `afterCommit` until their batch is written.
 */
export class SqliteStore implements BrokerStore {
  readonly durable = true;
  readonly path: string;
  private readonly options: SqliteStoreOptions;
  private db: Database.Database | undefined;
  private ops: (() => void)[] = [];
  private waiting: Pending[] = [];
  private scheduled = false;
  private closed = false;
  private statements: Statements | undefined;
  private runBatch: ((ops: (() => void)[]) => void) | undefined;

  constructor(options: SqliteStoreOptions) {
    this.options = options;
    this.path = join(options.dataDir, 'mozzie.db');
  }

  private open(): Database.Database {
    try {
      mkdirSync(this.options.dataDir, { recursive: true });
    } catch (err) {
      throw new StoreError(`cannot create the data directory ${this.options.dataDir}: ${(err as Error).message}`, this.options.dataDir, {
        cause: err,
      });
    }
    let db: Database.Database;
    try {
      db = new Database(this.path);
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${(this.options.sync ?? 'normal').toUpperCase()}`);
      db.pragma('temp_store = MEMORY');
      db.exec(SCHEMA);
    } catch (err) {
      throw this.explain(err, 'open');
    }
    const version = (db.prepare('SELECT value FROM meta WHERE key = ?').get('schema') as { value: string } | undefined)?.value;
    if (version === undefined) {
      db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)').run('schema', String(SCHEMA_VERSION));
    } else if (Number(version) !== SCHEMA_VERSION) {
      db.close();
      throw new StoreError(
        `${this.path} has data format ${version}; this Mozzie reads format ${SCHEMA_VERSION}. Use a matching Mozzie version.`,
        this.path,
      );
    }
    this.prepare(db);
    return db;
  }

  /** Turns SQLite errors into messages that name the file and say what to do. */
  private explain(err: unknown, during: string): StoreError {
    const code = (err as { code?: string }).code ?? '';
    const message = (err as Error).message;
    if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT' || code.startsWith('SQLITE_CORRUPT')) {
      return new StoreError(
        `${this.path} is corrupt or not a Mozzie database (${code}). Move it (and its -wal/-shm files) away to start with an empty store, or restore a backup.`,
        this.path,
        { cause: err },
      );
    }
    if (code === 'SQLITE_READONLY' || code === 'SQLITE_CANTOPEN' || code === 'SQLITE_PERM') {
      return new StoreError(
        `cannot ${during === 'open' ? 'open' : 'write'} ${this.path} (${code}): check that the data directory exists and is writable by this user, or pass another --data-dir.`,
        this.path,
        { cause: err },
      );
    }
    if (code === 'SQLITE_FULL') {
      return new StoreError(
        `the disk holding ${this.path} is full (${code}): messages are not acknowledged until space is freed.`,
        this.path,
        {
          cause: err,
        },
      );
    }
    return new StoreError(`${this.path}: ${message} (${code || 'error'} during ${during})`, this.path, { cause: err });
  }

  private prepare(db: Database.Database): void {
    this.statements = prepareStatements(db);
    this.runBatch = db.transaction((ops: (() => void)[]) => {
      for (const op of ops) op();
    });
  }

  /** The prepared statements; the store must have been loaded. */
  private get s(): Statements {
    if (this.statements === undefined) throw new StoreError('the store is not open: call load() first', this.path);
    return this.statements;
  }

  async load(): Promise<LoadedState> {
    const db = this.open();
    this.db = db;
    try {
      db.prepare('DELETE FROM messages WHERE refs <= 0').run();
      const subs = new Map<string, StoredSubscription[]>();
      for (const r of db.prepare('SELECT client_id, filter, qos, options, sub_id FROM subscriptions').iterate() as IterableIterator<{
        client_id: string;
        filter: string;
        qos: number;
        options: number;
        sub_id: number | null;
      }>) {
        const list = subs.get(r.client_id);
        if (list === undefined) subs.set(r.client_id, [subscriptionFromRow(r)]);
        else list.push(subscriptionFromRow(r));
      }
      const inbound = new Map<string, number[]>();
      for (const r of db.prepare('SELECT client_id, packet_id FROM inbound_qos2').iterate() as IterableIterator<{
        client_id: string;
        packet_id: number;
      }>) {
        const list = inbound.get(r.client_id);
        if (list === undefined) inbound.set(r.client_id, [r.packet_id]);
        else list.push(r.packet_id);
      }
      const counts = new Map<string, number>();
      for (const r of db.prepare('SELECT client_id, count(*) AS n FROM deliveries GROUP BY client_id').iterate() as IterableIterator<{
        client_id: string;
        n: number;
      }>) {
        counts.set(r.client_id, r.n);
      }
      const sessions: StoredSession[] = [];
      for (const r of db.prepare('SELECT * FROM sessions').iterate() as IterableIterator<{
        client_id: string;
        protocol_version: number;
        expiry_interval: number;
        disconnected_at: number | null;
        next_seq: number;
        will: Buffer | null;
        will_delay: number | null;
        will_due: number | null;
      }>) {
        sessions.push({
          clientId: r.client_id,
          protocolVersion: r.protocol_version as ProtocolVersion,
          expiryInterval: r.expiry_interval,
          disconnectedAt: r.disconnected_at ?? undefined,
          subscriptions: subs.get(r.client_id) ?? [],
          inboundQos2: inbound.get(r.client_id) ?? [],
          deliveries: counts.get(r.client_id) ?? 0,
          nextSeq: r.next_seq,
          will:
            r.will === null
              ? undefined
              : { message: decodeMessage(r.will), delayInterval: r.will_delay ?? 0, due: r.will_due ?? undefined },
        });
      }
      const max = (db.prepare('SELECT max(id) AS id FROM messages').get() as { id: number | null }).id ?? 0;
      const retainedQuery = db.prepare('SELECT topic, payload, qos, 1 AS retain, properties, expiry, received_at, origin FROM retained');
      // Iterated lazily (there may be millions) and completely before anything is written: an open
      // iterator keeps the connection busy.
      const retained: Iterable<StoredMessage> = {
        *[Symbol.iterator]() {
          for (const r of retainedQuery.iterate() as IterableIterator<MessageRow>) yield messageFromRow(r);
        },
      };
      return { sessions, retained, nextMessageId: max + 1 };
    } catch (err) {
      throw this.explain(err, 'load');
    }
  }

  private record(op: () => void): void {
    if (this.closed) return;
    this.ops.push(op);
    if (!this.scheduled) {
      this.scheduled = true;
      const window = this.options.commitWindow ?? 0;
      if (window > 0) setTimeout(this.commit, window);
      else setImmediate(this.commit);
    }
  }

  /** Writes every recorded change in one transaction, then releases the acknowledgements waiting on it. */
  private readonly commit = (): void => {
    this.scheduled = false;
    const ops = this.ops;
    const waiting = this.waiting;
    this.ops = [];
    this.waiting = [];
    if (ops.length > 0) {
      try {
        (this.runBatch as (ops: (() => void)[]) => void)(ops);
      } catch (err) {
        const error = this.explain(err, 'commit');
        for (const w of waiting) w.failed?.(error);
        this.onError?.(error);
        return;
      }
    }
    for (const w of waiting) w.done();
  };

  /** Told about commit failures (disk full, I/O errors); the broker logs them and refuses what it cannot keep. */
  onError: ((error: StoreError) => void) | undefined;

  afterCommit(done: () => void, failed?: (error: Error) => void): void {
    // Nothing pending: what came before is durable already.
    if (this.ops.length === 0 && !this.scheduled) {
      done();
      return;
    }
    this.waiting.push({ done, failed });
  }

  async flush(): Promise<void> {
    if (this.scheduled || this.ops.length > 0) this.commit();
  }

  saveSession(
    clientId: string,
    protocolVersion: ProtocolVersion,
    expiryInterval: number,
    disconnectedAt: number | undefined,
    nextSeq: number,
  ): void {
    const s = this.s.saveSession;
    this.record(() => s.run(clientId, protocolVersion, expiryInterval, disconnectedAt ?? null, nextSeq));
  }

  deleteSession(clientId: string): void {
    const s = this.s;
    this.record(() => {
      s.releaseMessages.run(clientId);
      s.deleteDeliveries.run(clientId);
      s.deleteUnreferenced.run();
      s.deleteSubscriptions.run(clientId);
      s.deleteInbound.run(clientId);
      s.deleteSession.run(clientId);
    });
  }

  saveSubscription(clientId: string, sub: StoredSubscription): void {
    const st = this.s.saveSubscription;
    this.record(() => st.run(clientId, sub.filter, sub.qos, packOptions(sub), sub.subscriptionIdentifier ?? null));
  }

  deleteSubscription(clientId: string, filter: string): void {
    const st = this.s.deleteSubscription;
    this.record(() => st.run(clientId, filter));
  }

  addInboundQos2(clientId: string, packetId: number): void {
    const st = this.s.addInbound;
    this.record(() => st.run(clientId, packetId));
  }

  removeInboundQos2(clientId: string, packetId: number): void {
    const st = this.s.removeInbound;
    this.record(() => st.run(clientId, packetId));
  }

  saveWill(clientId: string, will: StoredWill | undefined): void {
    const st = this.s.saveWill;
    const blob = will === undefined ? null : encodeMessage(will.message);
    this.record(() => st.run(blob, will?.delayInterval ?? null, will?.due ?? null, clientId));
  }

  saveMessage(id: number, m: StoredMessage): void {
    const st = this.s.saveMessage;
    this.record(() =>
      st.run(
        id,
        m.topic,
        m.payload,
        m.qos,
        m.retain ? 1 : 0,
        encodeProperties(m.properties),
        m.expiryInterval ?? null,
        m.receivedAt,
        m.origin,
      ),
    );
  }

  addDelivery(clientId: string, d: StoredDelivery): void {
    const add = this.s.addDelivery;
    const ref = this.s.refMessage;
    const subIds = d.subscriptionIdentifiers === undefined ? null : JSON.stringify(d.subscriptionIdentifiers);
    this.record(() => {
      add.run(clientId, d.seq, d.messageId, d.qos, d.retain ? 1 : 0, subIds, d.shareKey ?? null, d.packetId, stateCode(d.state));
      ref.run(d.messageId);
    });
  }

  updateDelivery(clientId: string, seq: number, packetId: number, state: StoredDelivery['state']): void {
    const st = this.s.updateDelivery;
    const code = stateCode(state);
    this.record(() => st.run(packetId, code, clientId, seq));
  }

  removeDelivery(clientId: string, seq: number, messageId: number): void {
    const s = this.s;
    this.record(() => {
      s.removeDelivery.run(clientId, seq);
      s.unrefMessage.run(messageId);
      s.dropMessage.run(messageId);
    });
  }

  async loadDeliveries(clientId: string, afterSeq: number, limit: number): Promise<DeliveryPage> {
    // What is recorded but not committed must be visible to the read.
    if (this.ops.length > 0) this.commit();
    const rows = this.s.loadDeliveries.all(clientId, afterSeq, limit) as Parameters<typeof deliveryFromRow>[0][];
    const deliveries = rows.map(deliveryFromRow);
    const messages = new Map<number, StoredMessage>();
    const load = this.s.loadMessage;
    for (const d of deliveries) {
      if (messages.has(d.messageId)) continue;
      const row = load.get(d.messageId) as MessageRow | undefined;
      if (row !== undefined) messages.set(d.messageId, messageFromRow(row));
    }
    return { deliveries, messages };
  }

  saveRetained(m: StoredMessage): void {
    const st = this.s.saveRetained;
    this.record(() => st.run(m.topic, m.payload, m.qos, encodeProperties(m.properties), m.expiryInterval ?? null, m.receivedAt, m.origin));
  }

  deleteRetained(topic: string): void {
    const st = this.s.deleteRetained;
    this.record(() => st.run(topic));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.commit();
    this.closed = true;
    this.db?.close();
    this.db = undefined;
  }
}

/** Every statement the store runs, prepared once. */
function prepareStatements(db: Database.Database) {
  const p = (sql: string): Statement => db.prepare(sql);
  return {
    saveSession: p(
      `INSERT INTO sessions (client_id, protocol_version, expiry_interval, disconnected_at, next_seq) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (client_id) DO UPDATE SET protocol_version = excluded.protocol_version, expiry_interval = excluded.expiry_interval,
       disconnected_at = excluded.disconnected_at, next_seq = max(next_seq, excluded.next_seq)`,
    ),
    deleteSession: p('DELETE FROM sessions WHERE client_id = ?'),
    deleteSubscriptions: p('DELETE FROM subscriptions WHERE client_id = ?'),
    deleteInbound: p('DELETE FROM inbound_qos2 WHERE client_id = ?'),
    releaseMessages: p(
      `UPDATE messages SET refs = refs - (SELECT count(*) FROM deliveries d WHERE d.client_id = ?1 AND d.message_id = messages.id)
       WHERE id IN (SELECT message_id FROM deliveries WHERE client_id = ?1)`,
    ),
    deleteDeliveries: p('DELETE FROM deliveries WHERE client_id = ?'),
    deleteUnreferenced: p('DELETE FROM messages WHERE refs <= 0'),
    saveSubscription: p('INSERT OR REPLACE INTO subscriptions (client_id, filter, qos, options, sub_id) VALUES (?, ?, ?, ?, ?)'),
    deleteSubscription: p('DELETE FROM subscriptions WHERE client_id = ? AND filter = ?'),
    addInbound: p('INSERT OR IGNORE INTO inbound_qos2 (client_id, packet_id) VALUES (?, ?)'),
    removeInbound: p('DELETE FROM inbound_qos2 WHERE client_id = ? AND packet_id = ?'),
    saveWill: p('UPDATE sessions SET will = ?, will_delay = ?, will_due = ? WHERE client_id = ?'),
    saveMessage: p(
      'INSERT OR IGNORE INTO messages (id, topic, payload, qos, retain, properties, expiry, received_at, origin, refs) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)',
    ),
    addDelivery: p(
      'INSERT OR REPLACE INTO deliveries (client_id, seq, message_id, qos, retain, sub_ids, share_key, packet_id, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    ),
    refMessage: p('UPDATE messages SET refs = refs + 1 WHERE id = ?'),
    updateDelivery: p('UPDATE deliveries SET packet_id = ?, state = ? WHERE client_id = ? AND seq = ?'),
    removeDelivery: p('DELETE FROM deliveries WHERE client_id = ? AND seq = ?'),
    unrefMessage: p('UPDATE messages SET refs = refs - 1 WHERE id = ?'),
    dropMessage: p('DELETE FROM messages WHERE id = ? AND refs <= 0'),
    loadDeliveries: p('SELECT * FROM deliveries WHERE client_id = ? AND seq > ? ORDER BY seq LIMIT ?'),
    loadMessage: p('SELECT topic, payload, qos, retain, properties, expiry, received_at, origin FROM messages WHERE id = ?'),
    saveRetained: p(
      'INSERT OR REPLACE INTO retained (topic, payload, qos, properties, expiry, received_at, origin) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ),
    deleteRetained: p('DELETE FROM retained WHERE topic = ?'),
  };
}

type Statements = ReturnType<typeof prepareStatements>;
