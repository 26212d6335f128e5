import type Database from 'better-sqlite3';
import type { StoredMessage } from '../types.js';
import { encodeProperties } from './codec.js';

/**
 * The hot path of the store (messages and deliveries: saved, sent, acknowledged) written with multi-row
 * statements. Consecutive changes of that kind gather in one RowRun, which the batch runs as one
 * operation; any other change (a session, a subscription, a retained message) ends the run, so the
 * batch keeps its order. Within a run, rows are written in an order with the same outcome as one by
 * one: new messages, new deliveries, then state changes, then removals. A delivery is added before it is
 * changed or removed and a seq is never reused, so that is the order they happened in; message reference
 * counts only rise before they fall, so no message is dropped while something still refers to it.
 *
 * Per message, one statement per 32 rows instead of one per row: the call, binding and result object of
 * better-sqlite3 cost about as much as the B-tree work of a small row.
 */

/** A message row to write, with the deliveries of its batch that refer to it (final when the batch commits). */
export interface PendingMessage {
  refs: number;
}

type Statement = Database.Statement<unknown[], unknown>;

/** Statements for 32, 8 and 1 rows: a run is written in chunks of those sizes. */
type Sized = readonly [Statement, Statement, Statement];
const SIZES = [32, 8, 1] as const;

export interface RowStatements {
  readonly insertMessages: Sized;
  readonly insertDeliveries: Sized;
  readonly updateDeliveries: Sized;
  /** Per client: DELETE ... WHERE client_id = ? AND seq IN (...). */
  readonly deleteDeliveries: Sized;
  /** Messages whose last reference goes: DELETE ... WHERE refs <= 1 AND id IN (...). */
  readonly dropMessages: Sized;
  readonly unrefMessages: Sized;
  /** A run of consecutive seqs of one client: state and packet_id = seq + offset. */
  readonly updateRange: Statement;
  /** A run of consecutive seqs of one client. */
  readonly deleteRange: Statement;
  readonly addRefs: Statement;
  readonly subtractRefs: Statement;
  readonly dropUnreferenced: Statement;
}

const MESSAGE_COLUMNS = 10;
const DELIVERY_COLUMNS = 9;
const UPDATE_COLUMNS = 4;

export function prepareRowStatements(db: Database.Database): RowStatements {
  const sized = (make: (k: number) => string): Sized => {
    const [a, b, c] = SIZES.map((k) => db.prepare(make(k)));
    return [a as Statement, b as Statement, c as Statement];
  };
  const tuples = (k: number, width: number): string => Array.from({ length: k }, () => `(${Array(width).fill('?').join(', ')})`).join(', ');
  const list = (k: number): string => Array(k).fill('?').join(', ');
  return {
    insertMessages: sized(
      (k) =>
        `INSERT INTO messages (id, topic, payload, qos, retain, properties, expiry, received_at, origin, refs) VALUES ${tuples(k, MESSAGE_COLUMNS)}
         ON CONFLICT (id) DO UPDATE SET refs = refs + excluded.refs`,
    ),
    insertDeliveries: sized(
      (k) =>
        `INSERT OR REPLACE INTO deliveries (client_id, seq, message_id, qos, retain, sub_ids, share_key, packet_id, state) VALUES ${tuples(k, DELIVERY_COLUMNS)}`,
    ),
    updateDeliveries: sized(
      (k) =>
        `UPDATE deliveries SET packet_id = v.column3, state = v.column4 FROM (VALUES ${tuples(k, UPDATE_COLUMNS)}) AS v
         WHERE deliveries.client_id = v.column1 AND deliveries.seq = v.column2`,
    ),
    deleteDeliveries: sized((k) => `DELETE FROM deliveries WHERE client_id = ? AND seq IN (${list(k)})`),
    dropMessages: sized((k) => `DELETE FROM messages WHERE refs <= 1 AND id IN (${list(k)})`),
    unrefMessages: sized((k) => `UPDATE messages SET refs = refs - 1 WHERE id IN (${list(k)})`),
    updateRange: db.prepare('UPDATE deliveries SET packet_id = seq + ?, state = ? WHERE client_id = ? AND seq BETWEEN ? AND ?'),
    deleteRange: db.prepare('DELETE FROM deliveries WHERE client_id = ? AND seq BETWEEN ? AND ?'),
    addRefs: db.prepare('UPDATE messages SET refs = refs + ? WHERE id = ?'),
    subtractRefs: db.prepare('UPDATE messages SET refs = refs - ? WHERE id = ?'),
    dropUnreferenced: db.prepare('DELETE FROM messages WHERE id = ? AND refs <= 0'),
  };
}

/**
 * Runs `stmt` over `values` (flat, `width` per row) in chunks of 32, 8 and 1 rows, with `prefix` bound
 * before each chunk's values. Returns the rows changed.
 */
function chunked(stmts: Sized, values: readonly unknown[], width: number, prefix?: unknown): number {
  const rows = values.length / width;
  let changed = 0;
  let at = 0;
  for (let s = 0; s < SIZES.length; s++) {
    const size = SIZES[s] as number;
    const stmt = stmts[s] as Statement;
    while (rows - at >= size) {
      const chunk = values.slice(at * width, (at + size) * width);
      if (prefix !== undefined) chunk.unshift(prefix);
      changed += stmt.run(chunk).changes;
      at += size;
    }
  }
  return changed;
}

export class RowRun {
  private readonly messages: { readonly id: number; readonly m: StoredMessage; readonly pending: PendingMessage }[] = [];
  /** New delivery rows, DELIVERY_COLUMNS values each. */
  private readonly deliveries: unknown[] = [];
  /** References added to messages written in earlier batches. */
  private readonly increments = new Map<number, number>();
  /** Per client, per seq: the last change recorded, as packetId * 4 + state (no pair allocated per change). */
  private readonly updates = new Map<string, Map<number, number>>();
  /** Per client, the seqs removed. */
  private readonly removals = new Map<string, number[]>();
  /** References removed, per message. */
  private readonly decrements = new Map<number, number>();

  saveMessage(id: number, m: StoredMessage, pending: PendingMessage): void {
    this.messages.push({ id, m, pending });
  }

  addDelivery(
    clientId: string,
    seq: number,
    messageId: number,
    qos: number,
    retain: number,
    subIds: string | null,
    shareKey: string | null,
    packetId: number,
    state: number,
    pending: PendingMessage | undefined,
  ): void {
    this.deliveries.push(clientId, seq, messageId, qos, retain, subIds, shareKey, packetId, state);
    if (pending !== undefined) pending.refs++;
    else this.increments.set(messageId, (this.increments.get(messageId) ?? 0) + 1);
  }

  updateDelivery(clientId: string, seq: number, packetId: number, state: number): void {
    let client = this.updates.get(clientId);
    if (client === undefined) {
      client = new Map();
      this.updates.set(clientId, client);
    }
    client.set(seq, packetId * 4 + state);
  }

  removeDelivery(clientId: string, seq: number, messageId: number): void {
    // A change of state followed by removal in the same run: only the removal is written.
    this.updates.get(clientId)?.delete(seq);
    const seqs = this.removals.get(clientId);
    if (seqs === undefined) this.removals.set(clientId, [seq]);
    else seqs.push(seq);
    this.decrements.set(messageId, (this.decrements.get(messageId) ?? 0) + 1);
  }

  /** Writes the run (inside the batch's transaction). May run again if the transaction failed. */
  execute(s: RowStatements): void {
    if (this.messages.length > 0) {
      const values: unknown[] = [];
      for (const { id, m, pending } of this.messages) {
        values.push(
          id,
          m.topic,
          m.payload,
          m.qos,
          m.retain ? 1 : 0,
          encodeProperties(m.properties),
          m.expiryInterval ?? null,
          m.receivedAt,
          m.origin,
          pending.refs,
        );
      }
      chunked(s.insertMessages, values, MESSAGE_COLUMNS);
    }
    if (this.deliveries.length > 0) chunked(s.insertDeliveries, this.deliveries, DELIVERY_COLUMNS);
    for (const [id, n] of this.increments) s.addRefs.run(n, id);
    if (this.updates.size > 0) {
      const values: unknown[] = [];
      for (const [clientId, seqs] of this.updates) updateRuns(s, clientId, seqs, values);
      chunked(s.updateDeliveries, values, UPDATE_COLUMNS);
    }
    for (const [clientId, seqs] of this.removals) deleteRuns(s, clientId, seqs);
    if (this.decrements.size > 0) this.release(s);
  }

  /** One reference fewer per removed delivery; a message row goes with its last reference. */
  private release(s: RowStatements): void {
    const once: number[] = [];
    for (const [id, n] of this.decrements) {
      if (n === 1) {
        once.push(id);
      } else {
        s.subtractRefs.run(n, id);
        s.dropUnreferenced.run(id);
      }
    }
    // Rows with refs <= 1 go; the others (fewer than asked, if any) lose one reference.
    if (chunked(s.dropMessages, once, 1) < once.length) chunked(s.unrefMessages, once, 1);
  }
}

/**
 * A queue drains in order and Packet Identifiers are handed out in order, so the changes of a run mostly
 * come as consecutive seqs: such a stretch is one range statement, several times cheaper per row than a
 * list of keys. Stretches shorter than this go in lists.
 */
const RANGE_FROM = 3;

/** Ascending seqs, each once. */
function sortedSeqs(seqs: Iterable<number>): number[] {
  const sorted = Float64Array.from(seqs).sort();
  const out: number[] = [];
  for (let i = 0; i < sorted.length; i++) if (i === 0 || sorted[i] !== sorted[i - 1]) out.push(sorted[i] as number);
  return out;
}

/** Runs the range updates of a client's state changes; appends the rest to `values` (UPDATE_COLUMNS each). */
function updateRuns(s: RowStatements, clientId: string, changes: ReadonlyMap<number, number>, values: unknown[]): void {
  const seqs = sortedSeqs(changes.keys());
  let start = 0;
  for (let i = 1; i <= seqs.length; i++) {
    const prev = seqs[i - 1] as number;
    const prevChange = changes.get(prev) as number;
    const seq = seqs[i];
    // The stretch goes on while seqs are consecutive, the state is the same and packet_id - seq too:
    // then the next change is this one's plus 4 (packet_id + 1, same state).
    if (seq !== undefined && seq === prev + 1 && changes.get(seq) === prevChange + 4) continue;
    const first = seqs[start] as number;
    if (i - start >= RANGE_FROM) {
      s.updateRange.run((prevChange >> 2) - prev, prevChange & 3, clientId, first, prev);
    } else {
      for (let k = start; k < i; k++) {
        const at = seqs[k] as number;
        const change = changes.get(at) as number;
        values.push(clientId, at, change >> 2, change & 3);
      }
    }
    start = i;
  }
}

/** Deletes a client's removed deliveries: consecutive stretches by range, the rest by list. */
function deleteRuns(s: RowStatements, clientId: string, removed: readonly number[]): void {
  const seqs = sortedSeqs(removed);
  const rest: number[] = [];
  let start = 0;
  for (let i = 1; i <= seqs.length; i++) {
    if (i < seqs.length && seqs[i] === (seqs[i - 1] as number) + 1) continue;
    if (i - start >= RANGE_FROM) s.deleteRange.run(clientId, seqs[start], seqs[i - 1]);
    else for (let k = start; k < i; k++) rest.push(seqs[k] as number);
    start = i;
  }
  if (rest.length > 0) chunked(s.deleteDeliveries, rest, 1, clientId);
}
