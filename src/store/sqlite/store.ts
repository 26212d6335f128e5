import { mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
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
  deliveryFromPageRow,
  encodeMessage,
  encodeProperties,
  messageFromPageRow,
  type PageRow,
  packOptions,
  type RetainedRow,
  retainedFromRow,
  type SubscriptionRow,
  stateCode,
  subscriptionFromArray,
} from './codec.js';
import { type PendingMessage, prepareRowStatements, RowRun, type RowStatements } from './rows.js';
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
  /** For tests: caps the database at this many pages (PRAGMA max_page_count), as a full disk would. */
  readonly maxPages?: number;
}

/** Milliseconds between attempts to write changes whose commit failed (a full disk, an I/O error). */
const RETRY_MS = 1000;

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
  /**
   * Messages saved in the batch being gathered, by id: the deliveries that refer to them in the same batch
   * count in memory, so the row is written once with its reference count (one statement, not one per delivery).
   */
  private newMessages = new Map<number, PendingMessage>();
  /**
   * Per client, the highest delivery seq a recorded but uncommitted change touches (Infinity: all of them).
   * A page read past it sees nothing uncommitted and need not commit first.
   */
  private readonly touched = new Map<string, number>();
  /** The run of message and delivery rows being gathered (see rows.ts), while it is the batch's last operation. */
  private run: RowRun | undefined;
  private runIn: (() => void)[] | undefined;
  private runAt = -1;
  private rowStatements: RowStatements | undefined;
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
      makeDirectory(this.options.dataDir);
    } catch (err) {
      throw new StoreError(
        `cannot create the data directory ${this.options.dataDir}: ${(err as Error).message}. Create it writable for this user, or pass another --data-dir.`,
        this.options.dataDir,
        { cause: err },
      );
    }
    let db: Database.Database | undefined;
    let version: string | undefined;
    try {
      db = new Database(this.path);
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${(this.options.sync ?? 'normal').toUpperCase()}`);
      db.pragma('temp_store = MEMORY');
      // Checkpoint every 10,000 WAL pages (~40 MiB) rather than 1,000: a page rewritten by many commits (a
      // queue's tail, in-flight deliveries) is copied back into the database once per checkpoint, and each
      // commit of a busy broker costs about a fifth less. The WAL file may grow that large.
      db.pragma('wal_autocheckpoint = 10000');
      db.exec(SCHEMA);
      if (this.options.maxPages !== undefined) db.pragma(`max_page_count = ${this.options.maxPages}`);
      // Reading the file may find it damaged too (SQLITE_CORRUPT): every error here is explained.
      version = (db.prepare('SELECT value FROM meta WHERE key = ?').get('schema') as { value: string } | undefined)?.value;
      if (version === undefined) db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)').run('schema', String(SCHEMA_VERSION));
    } catch (err) {
      db?.close();
      throw this.explain(err, 'open');
    }
    if (version !== undefined && Number(version) !== SCHEMA_VERSION) {
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
    this.rowStatements = prepareRowStatements(db);
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
      // Rows as arrays, in client order: one map lookup per client, not per subscription.
      let client: string | undefined;
      let list: StoredSubscription[] = [];
      for (const r of db
        .prepare('SELECT client_id, filter, qos, options, sub_id FROM subscriptions')
        .raw(true)
        .iterate() as IterableIterator<SubscriptionRow>) {
        if (r[0] !== client) {
          client = r[0];
          list = subs.get(client) ?? [];
          subs.set(client, list);
        }
        list.push(subscriptionFromArray(r));
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
      const counts = new Map<string, { n: number; last: number }>();
      for (const r of db
        .prepare('SELECT client_id, count(*) AS n, max(seq) AS last FROM deliveries GROUP BY client_id')
        .iterate() as IterableIterator<{
        client_id: string;
        n: number;
        last: number;
      }>) {
        counts.set(r.client_id, { n: r.n, last: r.last });
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
          deliveries: counts.get(r.client_id)?.n ?? 0,
          // The session row is not written per delivery: after its last save (or a crash) more deliveries
          // may have been stored. Reusing their seq would overwrite them.
          nextSeq: Math.max(r.next_seq, (counts.get(r.client_id)?.last ?? 0) + 1),
          will:
            r.will === null
              ? undefined
              : { message: decodeMessage(r.will), delayInterval: r.will_delay ?? 0, due: r.will_due ?? undefined },
        });
      }
      const max = (db.prepare('SELECT max(id) AS id FROM messages').get() as { id: number | null }).id ?? 0;
      // Rows as arrays (no object with named keys per row): there may be millions.
      const retainedQuery = db.prepare('SELECT topic, payload, qos, properties, expiry, received_at, origin FROM retained').raw(true);
      const explain = (err: unknown): StoreError => this.explain(err, 'load');
      // Iterated lazily (there may be millions) and completely before anything is written: an open
      // iterator keeps the connection busy. A damaged page met on the way is explained like any other.
      const retained: Iterable<StoredMessage> = {
        *[Symbol.iterator]() {
          try {
            const origins = new Map<string, string>();
            for (const r of retainedQuery.iterate() as IterableIterator<RetainedRow>) yield retainedFromRow(r, origins);
          } catch (err) {
            throw explain(err);
          }
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
    if (this.closed) return;
    const ops = this.ops;
    const waiting = this.waiting;
    this.ops = [];
    this.newMessages = new Map();
    this.waiting = [];
    if (ops.length > 0) {
      try {
        (this.runBatch as (ops: (() => void)[]) => void)(ops);
      } catch (err) {
        const error = this.explain(err, 'commit');
        // Nothing of the batch was written (the transaction rolled back), yet the broker holds its changes
        // in memory: they are kept and tried again, ahead of later ones. Dropped, a later acknowledgement
        // (of a resent QoS 2 PUBLISH, say) would vouch for a message that never reached the disk.
        this.ops = ops.concat(this.ops);
        if (!this.scheduled) {
          this.scheduled = true;
          setTimeout(this.commit, RETRY_MS);
        }
        for (const w of waiting) w.failed?.(error);
        // Told once per failing spell, and whenever acknowledgements are refused.
        if (!this.failing || waiting.length > 0) this.onError?.(error);
        this.failing = true;
        return;
      }
    }
    this.failing = false;
    this.touched.clear();
    for (const w of waiting) w.done();
  };

  private failing = false;

  /** For tests: sets PRAGMA max_page_count (see `maxPages`); returns the limit in effect (never below the current size). */
  setMaxPages(pages: number): number {
    if (this.db === undefined) throw new StoreError('the store is not open: call load() first', this.path);
    return Number(this.db.pragma(`max_page_count = ${Math.floor(pages)}`, { simple: true }));
  }

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
    this.touched.set(clientId, Number.POSITIVE_INFINITY);
    this.record(() => {
      s.releaseMessages.run(clientId, clientId);
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
    // Saved again in the same batch (INSERT OR IGNORE before): the row is written once.
    if (this.closed || this.newMessages.has(id)) return;
    const pending: PendingMessage = { refs: 0 };
    this.newMessages.set(id, pending);
    // Written with the references its batch adds (the row may be there already: they add up).
    this.rows().saveMessage(id, m, pending);
  }

  addDelivery(clientId: string, d: StoredDelivery): void {
    if (this.closed) return;
    this.touch(clientId, d.seq);
    const subIds = d.subscriptionIdentifiers === undefined ? null : JSON.stringify(d.subscriptionIdentifiers);
    this.rows().addDelivery(
      clientId,
      d.seq,
      d.messageId,
      d.qos,
      d.retain ? 1 : 0,
      subIds,
      d.shareKey ?? null,
      d.packetId,
      stateCode(d.state),
      this.newMessages.get(d.messageId),
    );
  }

  updateDelivery(clientId: string, seq: number, packetId: number, state: StoredDelivery['state']): void {
    if (this.closed) return;
    this.touch(clientId, seq);
    this.rows().updateDelivery(clientId, seq, packetId, stateCode(state));
  }

  removeDelivery(clientId: string, seq: number, messageId: number): void {
    if (this.closed) return;
    this.touch(clientId, seq);
    this.rows().removeDelivery(clientId, seq, messageId);
  }

  /** The run of message and delivery changes being gathered: the last operation of the batch, or a new one. */
  private rows(): RowRun {
    const run = this.run;
    if (run !== undefined && this.runIn === this.ops && this.runAt === this.ops.length - 1) return run;
    const next = new RowRun();
    const statements = this.rowStatements;
    this.record(() => next.execute(statements as RowStatements));
    this.run = next;
    this.runIn = this.ops;
    this.runAt = this.ops.length - 1;
    return next;
  }

  private touch(clientId: string, seq: number): void {
    const before = this.touched.get(clientId);
    if (before === undefined || seq > before) this.touched.set(clientId, seq);
  }

  async loadDeliveries(clientId: string, afterSeq: number, limit: number): Promise<DeliveryPage> {
    // What is recorded but not committed must be visible to the read: it is committed first if it touches
    // this client's deliveries past afterSeq. Changes to earlier ones (in memory: sent, acknowledged) cannot
    // show in the page, and committing for them would only cut the batch short.
    const touched = this.touched.get(clientId);
    if (touched !== undefined && touched > afterSeq) this.commit();
    // One statement for deliveries and their messages (a left join: a delivery whose message row is
    // missing comes back without it, as before), rows as arrays.
    const rows = this.s.loadPage.all(clientId, afterSeq, limit) as PageRow[];
    const deliveries: StoredDelivery[] = [];
    const messages = new Map<number, StoredMessage>();
    for (const r of rows) {
      deliveries.push(deliveryFromPageRow(r));
      const message = messageFromPageRow(r);
      if (message !== undefined && !messages.has(r[1])) messages.set(r[1], message);
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

/**
 * `mkdir -p` that always ends: Node's recursive mkdirSync loops for ever where mkdir answers ENOENT for a
 * parent that exists (under /proc, for one), and a file in the way is named as such.
 */
function makeDirectory(dir: string): void {
  try {
    mkdirSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      if (!statSync(dir).isDirectory()) throw new Error(`${dir} exists and is not a directory`, { cause: err });
      return;
    }
    const parent = dirname(dir);
    if (code !== 'ENOENT' || parent === dir) throw err;
    makeDirectory(parent);
    mkdirSync(dir);
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
    // Anonymous parameters only: better-sqlite3 takes numbered ones (?1) for named ones and refuses the call.
    releaseMessages: p(
      `UPDATE messages SET refs = refs - (SELECT count(*) FROM deliveries d WHERE d.client_id = ? AND d.message_id = messages.id)
       WHERE id IN (SELECT message_id FROM deliveries WHERE client_id = ?)`,
    ),
    deleteDeliveries: p('DELETE FROM deliveries WHERE client_id = ?'),
    deleteUnreferenced: p('DELETE FROM messages WHERE refs <= 0'),
    saveSubscription: p('INSERT OR REPLACE INTO subscriptions (client_id, filter, qos, options, sub_id) VALUES (?, ?, ?, ?, ?)'),
    deleteSubscription: p('DELETE FROM subscriptions WHERE client_id = ? AND filter = ?'),
    addInbound: p('INSERT OR IGNORE INTO inbound_qos2 (client_id, packet_id) VALUES (?, ?)'),
    removeInbound: p('DELETE FROM inbound_qos2 WHERE client_id = ? AND packet_id = ?'),
    saveWill: p('UPDATE sessions SET will = ?, will_delay = ?, will_due = ? WHERE client_id = ?'),
    loadPage: p(
      `SELECT d.seq, d.message_id, d.qos, d.retain, d.sub_ids, d.share_key, d.packet_id, d.state,
              m.topic, m.payload, m.qos, m.retain, m.properties, m.expiry, m.received_at, m.origin
       FROM deliveries d LEFT JOIN messages m ON m.id = d.message_id
       WHERE d.client_id = ? AND d.seq > ? ORDER BY d.seq LIMIT ?`,
    ).raw(true),
    saveRetained: p(
      'INSERT OR REPLACE INTO retained (topic, payload, qos, properties, expiry, received_at, origin) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ),
    deleteRetained: p('DELETE FROM retained WHERE topic = ?'),
  };
}

type Statements = ReturnType<typeof prepareStatements>;
