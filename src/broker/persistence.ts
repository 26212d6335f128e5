import type { BrokerStore, StoredDelivery, StoredMessage, StoredSession } from '../store/types.js';
import type { Message } from './message.js';
import type { Delivery, Session, SubscriptionEntry } from './session.js';

/**
 * The broker's side of persistence: it translates sessions, deliveries and messages into store records.
 * Only what must survive a restart is recorded: sessions that outlive their connection (Session Expiry
 * Interval > 0), their subscriptions, the QoS 1/2 messages they are owed, inbound QoS 2 state, delayed
 * wills and retained messages. With the in-memory store every call returns at once.
 */
export class Persistence {
  readonly durable: boolean;
  private nextMessageId = 1;
  /**
   * The message last written (or rewritten) to the store. A message's row goes when its last delivery
   * does, while the Message object lives on (retained, moved to another member of a shared group, loaded
   * again): a delivery made after any removal writes its message again (a row still there only gains the
   * reference) rather than refer to a row that may be gone. A fan-out writes it once.
   */
  private written: Message | undefined;

  /** Without a store (or with the in-memory one) nothing is recorded and acknowledgements go at once. */
  constructor(readonly store: BrokerStore | undefined) {
    this.durable = store?.durable === true;
  }

  startIds(next: number): void {
    this.nextMessageId = next;
  }

  /** Whether a session's state is kept in the store. */
  keeps(session: Session): boolean {
    return this.durable && session.expiryInterval > 0;
  }

  /** The message's store id, storing it the first time a kept delivery refers to it. */
  messageId(message: Message): number {
    if (message.storeId === 0) message.storeId = this.nextMessageId++;
    if (this.written !== message) {
      this.store?.saveMessage(message.storeId, toStored(message));
      this.written = message;
    }
    return message.storeId;
  }

  saveSession(s: Session): void {
    if (!this.keeps(s) || !s.stored) return;
    this.store?.saveSession(s.clientId, s.protocolVersion, s.expiryInterval, s.disconnectedAt, s.nextSeq);
  }

  /** A session ends (expiry, Clean Start) or stops being kept (expiry set to 0): drop all of it. */
  deleteSession(s: Session): void {
    if (this.durable && s.stored) {
      this.store?.deleteSession(s.clientId);
      this.written = undefined;
      s.stored = false;
      s.backlog = 0;
      s.backlogBytes = 0;
      s.loadedSeq = 0;
    }
  }

  /** Records a session that starts being kept, with what it holds already. */
  adoptSession(s: Session): void {
    if (!this.keeps(s)) return;
    s.stored = true;
    this.saveSession(s);
    for (const entry of s.subscriptions.values()) this.saveSubscription(s, entry);
  }

  saveSubscription(s: Session, entry: SubscriptionEntry): void {
    if (!s.stored) return;
    this.store?.saveSubscription(s.clientId, {
      filter: entry.filter,
      qos: entry.qos,
      noLocal: entry.noLocal,
      retainAsPublished: entry.retainAsPublished,
      retainHandling: entry.retainHandling,
      subscriptionIdentifier: entry.subscriptionIdentifier,
    });
  }

  deleteSubscription(s: Session, filter: string): void {
    if (s.stored) this.store?.deleteSubscription(s.clientId, filter);
  }

  inboundQos2(s: Session, packetId: number, present: boolean): void {
    if (!s.stored) return;
    if (present) this.store?.addInboundQos2(s.clientId, packetId);
    else this.store?.removeInboundQos2(s.clientId, packetId);
  }

  /** A QoS 1/2 delivery is owed: recorded with its place in the session's order. */
  addDelivery(s: Session, d: Delivery, packetId: number, state: StoredDelivery['state']): void {
    if (!s.stored) return;
    d.seq = s.nextSeq++;
    this.store?.addDelivery(s.clientId, {
      seq: d.seq,
      messageId: this.messageId(d.message),
      qos: d.qos,
      retain: d.retain,
      subscriptionIdentifiers: d.subscriptionIdentifiers,
      shareKey: d.shareKey,
      packetId,
      state,
    });
  }

  /** The delivery was sent (or its PUBREL was): a restart resends it the same way. */
  updateDelivery(s: Session, d: Delivery, packetId: number, state: StoredDelivery['state']): void {
    if (d.seq === 0) {
      this.addDelivery(s, d, packetId, state);
      return;
    }
    if (s.stored) this.store?.updateDelivery(s.clientId, d.seq, packetId, state);
  }

  /** The delivery is complete (acknowledged, expired, dropped or moved elsewhere). */
  removeDelivery(s: Session, d: Delivery): void {
    if (d.seq === 0 || !s.stored) return;
    this.store?.removeDelivery(s.clientId, d.seq, d.message.storeId);
    this.written = undefined;
    d.seq = 0;
  }

  saveWill(s: Session, message: Message | undefined, delayInterval: number, due: number | undefined): void {
    if (!s.stored) return;
    this.store?.saveWill(s.clientId, message === undefined ? undefined : { message: toStored(message), delayInterval, due });
  }

  saveRetained(message: Message): void {
    if (this.durable) this.store?.saveRetained(toStored(message));
  }

  deleteRetained(topic: string): void {
    if (this.durable) this.store?.deleteRetained(topic);
  }

  afterCommit(done: () => void, failed?: (error: Error) => void): void {
    if (this.store === undefined) done();
    else this.store.afterCommit(done, failed);
  }
}

export function toStored(m: Message): StoredMessage {
  return {
    topic: m.topic,
    payload: m.payload,
    qos: m.qos,
    retain: m.retain,
    properties: m.properties,
    expiryInterval: m.expiryInterval,
    receivedAt: m.receivedAt,
    origin: m.origin,
  };
}

export type { StoredSession };
