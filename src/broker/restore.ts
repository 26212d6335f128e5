import { parseSharedSubscription, type QoS } from '../protocol/index.js';
import type { LoadedState, StoredMessage } from '../store/types.js';
import type { Broker } from './broker.js';
import { Message } from './message.js';
import { NEVER_EXPIRES, Session, type SubscriptionEntry } from './session.js';

export function messageFrom(m: StoredMessage, storeId = 0): Message {
  const message = new Message(m.topic, m.payload, m.qos, m.retain, m.properties, m.expiryInterval, m.receivedAt, m.origin, true);
  message.storeId = storeId;
  return message;
}

/**
 * Rebuilds the broker's state from a store at start-up: sessions with their subscriptions (into the
 * subscription index) and inbound QoS 2 state, retained messages, and the timers of sessions and wills.
 * Owed messages stay in the store and are read a page at a time when their client connects.
 */
export function restoreState(broker: Broker, state: LoadedState): { sessions: number; retained: number; expired: number } {
  const now = broker.clock.now();
  let retained = 0;
  for (const m of state.retained) {
    const message = messageFrom(m);
    if (message.isExpired(now)) {
      // Recorded now, written after the iteration: the row would otherwise stay for good.
      broker.persistence.deleteRetained(m.topic);
      continue;
    }
    broker.retained.set(message);
    retained++;
  }
  let expired = 0;
  const wills: Message[] = [];
  for (const s of state.sessions) {
    // A session whose connection was open when the broker stopped counts as disconnected now.
    const disconnectedAt = s.disconnectedAt ?? now;
    if (s.expiryInterval !== NEVER_EXPIRES && disconnectedAt + s.expiryInterval * 1000 <= now) {
      expired++;
      if (s.will !== undefined) wills.push(messageFrom(s.will.message));
      broker.persistence.store?.deleteSession(s.clientId);
      continue;
    }
    const session = new Session(s.clientId, s.protocolVersion, s.expiryInterval, broker.queuedTotals);
    session.stored = true;
    session.nextSeq = s.nextSeq;
    session.backlog = s.deliveries;
    session.disconnectedAt = disconnectedAt;
    for (const id of s.inboundQos2) session.inboundQos2.add(id);
    for (const sub of s.subscriptions) {
      const share = parseSharedSubscription(sub.filter);
      const entry: SubscriptionEntry = {
        filter: sub.filter,
        topicFilter: share?.topicFilter ?? sub.filter,
        shareName: share?.shareName,
        qos: sub.qos as QoS,
        noLocal: sub.noLocal,
        retainAsPublished: sub.retainAsPublished,
        retainHandling: sub.retainHandling,
        subscriptionIdentifier: sub.subscriptionIdentifier,
      };
      session.subscriptions.set(entry.filter, entry);
      broker.subscriptions.add(session, entry);
    }
    broker.sessions.set(s.clientId, session);
    if (s.will !== undefined) {
      // A will whose delay had started keeps its due time; one of a connection the restart cut starts now.
      const due = s.will.due ?? disconnectedAt + Math.min(s.will.delayInterval, s.expiryInterval) * 1000;
      broker.restoreWill(session, messageFrom(s.will.message), s.will.delayInterval, due);
    }
    broker.restoreExpiry(session);
  }
  broker.persistence.startIds(state.nextMessageId);
  // The Wills of sessions that expired while the broker was down go out once every session is back (to
  // reach all their subscribers) and new message ids start after the stored ones.
  for (const will of wills) broker.publishStoredWill(will);
  return { sessions: broker.sessions.size, retained, expired };
}
