import { Buffer } from 'node:buffer';
import type { RetainHandling } from '../../protocol/index.js';
import type { StoredDelivery, StoredMessage, StoredSubscription } from '../types.js';

/**
 * Rows <-> records. Properties are kept as JSON with Binary Data (Correlation Data) in base64; they are
 * small and rare, and JSON keeps the file inspectable with the sqlite3 shell.
 */

export function encodeProperties(p: StoredMessage['properties']): Buffer | null {
  if (p === undefined) return null;
  const { correlationData, ...rest } = p;
  return Buffer.from(
    JSON.stringify(correlationData === undefined ? rest : { ...rest, correlationData: correlationData.toString('base64') }),
  );
}

export function decodeProperties(raw: Buffer | null): StoredMessage['properties'] {
  if (raw === null) return undefined;
  const parsed = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
  if (typeof parsed['correlationData'] === 'string') parsed['correlationData'] = Buffer.from(parsed['correlationData'], 'base64');
  return parsed as StoredMessage['properties'];
}

export interface MessageRow {
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: number;
  readonly retain: number;
  readonly properties: Buffer | null;
  readonly expiry: number | null;
  readonly received_at: number;
  readonly origin: string;
}

export function messageFromRow(r: MessageRow): StoredMessage {
  return {
    topic: r.topic,
    payload: r.payload,
    qos: r.qos as 0 | 1 | 2,
    retain: r.retain === 1,
    properties: decodeProperties(r.properties),
    expiryInterval: r.expiry ?? undefined,
    receivedAt: r.received_at,
    origin: r.origin,
  };
}

/** Will messages are stored as one blob in the session row. */
export function encodeMessage(m: StoredMessage): Buffer {
  return Buffer.from(
    JSON.stringify({
      topic: m.topic,
      payload: m.payload.toString('base64'),
      qos: m.qos,
      retain: m.retain,
      properties: m.properties === undefined ? null : (encodeProperties(m.properties) as Buffer).toString('utf8'),
      expiry: m.expiryInterval ?? null,
      receivedAt: m.receivedAt,
      origin: m.origin,
    }),
  );
}

export function decodeMessage(raw: Buffer): StoredMessage {
  const o = JSON.parse(raw.toString('utf8')) as {
    topic: string;
    payload: string;
    qos: 0 | 1 | 2;
    retain: boolean;
    properties: string | null;
    expiry: number | null;
    receivedAt: number;
    origin: string;
  };
  return {
    topic: o.topic,
    payload: Buffer.from(o.payload, 'base64'),
    qos: o.qos,
    retain: o.retain,
    properties: decodeProperties(o.properties === null ? null : Buffer.from(o.properties)),
    expiryInterval: o.expiry ?? undefined,
    receivedAt: o.receivedAt,
    origin: o.origin,
  };
}

/** Subscription options packed as the SUBSCRIBE option bits (No Local, Retain As Published, Retain Handling). */
export function packOptions(s: StoredSubscription): number {
  return (s.noLocal ? 0x04 : 0) | (s.retainAsPublished ? 0x08 : 0) | (s.retainHandling << 4);
}

export function subscriptionFromRow(r: { filter: string; qos: number; options: number; sub_id: number | null }): StoredSubscription {
  return {
    filter: r.filter,
    qos: r.qos as 0 | 1 | 2,
    noLocal: (r.options & 0x04) !== 0,
    retainAsPublished: (r.options & 0x08) !== 0,
    retainHandling: ((r.options >> 4) & 0x03) as RetainHandling,
    subscriptionIdentifier: r.sub_id ?? undefined,
  };
}

const STATES: readonly StoredDelivery['state'][] = ['queued', 'publish', 'pubrel'];

export function stateCode(state: StoredDelivery['state']): number {
  return STATES.indexOf(state);
}

export function deliveryFromRow(r: {
  seq: number;
  message_id: number;
  qos: number;
  retain: number;
  sub_ids: string | null;
  share_key: string | null;
  packet_id: number;
  state: number;
}): StoredDelivery {
  return {
    seq: r.seq,
    messageId: r.message_id,
    qos: r.qos as 0 | 1 | 2,
    retain: r.retain === 1,
    subscriptionIdentifiers: r.sub_ids === null ? undefined : (JSON.parse(r.sub_ids) as number[]),
    shareKey: r.share_key ?? undefined,
    packetId: r.packet_id,
    state: STATES[r.state] ?? 'queued',
  };
}

/**
 * A row of the page query, as an array: the delivery's columns, then its message's (null when the
 * message row is missing).
 */
export type PageRow = readonly [
  seq: number,
  messageId: number,
  qos: number,
  retain: number,
  subIds: string | null,
  shareKey: string | null,
  packetId: number,
  state: number,
  topic: string | null,
  payload: Buffer | null,
  messageQos: number | null,
  messageRetain: number | null,
  properties: Buffer | null,
  expiry: number | null,
  receivedAt: number | null,
  origin: string | null,
];

export function deliveryFromPageRow(r: PageRow): StoredDelivery {
  return {
    seq: r[0],
    messageId: r[1],
    qos: r[2] as 0 | 1 | 2,
    retain: r[3] === 1,
    subscriptionIdentifiers: r[4] === null ? undefined : (JSON.parse(r[4]) as number[]),
    shareKey: r[5] ?? undefined,
    packetId: r[6],
    state: STATES[r[7]] ?? 'queued',
  };
}

export function messageFromPageRow(r: PageRow): StoredMessage | undefined {
  const topic = r[8];
  const payload = r[9];
  if (topic === null || payload === null) return undefined;
  return {
    topic,
    payload,
    qos: (r[10] ?? 0) as 0 | 1 | 2,
    retain: r[11] === 1,
    properties: decodeProperties(r[12]),
    expiryInterval: r[13] ?? undefined,
    receivedAt: r[14] ?? 0,
    origin: r[15] ?? '',
  };
}

/** A row of `SELECT client_id, filter, qos, options, sub_id FROM subscriptions`, as an array. */
export type SubscriptionRow = readonly [clientId: string, filter: string, qos: number, options: number, subId: number | null];

export function subscriptionFromArray(r: SubscriptionRow): StoredSubscription {
  const options = r[3];
  return {
    filter: r[1],
    qos: r[2] as 0 | 1 | 2,
    noLocal: (options & 0x04) !== 0,
    retainAsPublished: (options & 0x08) !== 0,
    retainHandling: ((options >> 4) & 0x03) as RetainHandling,
    subscriptionIdentifier: r[4] ?? undefined,
  };
}

/** A row of `SELECT topic, payload, qos, properties, expiry, received_at, origin FROM retained`, as an array. */
export type RetainedRow = readonly [
  topic: string,
  payload: Buffer,
  qos: number,
  properties: Buffer | null,
  expiry: number | null,
  receivedAt: number,
  origin: string,
];

/** Payloads below this size are copied into Node's shared pool (see retainedFromRow). */
const POOLED_BELOW = Buffer.poolSize >>> 1;

/**
 * A retained message as loaded at start-up, where there may be millions, each kept in memory for good:
 * a small payload is copied into Node's shared buffer pool (as `Message.detach` does for messages that
 * arrive) rather than kept in the buffer SQLite handed over, which has a memory allocation of its own
 * (about 250 bytes more per message); publishers' client ids, often the same, are shared.
 */
export function retainedFromRow(r: RetainedRow, origins: Map<string, string>): StoredMessage {
  const payload = r[1];
  let origin = origins.get(r[6]);
  if (origin === undefined) {
    origin = r[6];
    origins.set(origin, origin);
  }
  return {
    topic: r[0],
    payload: payload.length < POOLED_BELOW ? Buffer.from(payload) : payload,
    qos: r[2] as 0 | 1 | 2,
    retain: true,
    properties: decodeProperties(r[3]),
    expiryInterval: r[4] ?? undefined,
    receivedAt: r[5],
    origin,
  };
}
