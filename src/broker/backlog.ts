import type { Broker } from './broker.js';
import type { Message } from './message.js';
import { messageFrom } from './restore.js';
import { Delivery, Inflight, type Session } from './session.js';

/** Deliveries read from the store at a time: enough to keep a fast client busy, little memory. */
const PAGE = 512;

/**
 * Reads the next page of a kept session's stored deliveries into memory, in order. Deliveries that were
 * in flight (sent before a restart or disconnect) come back into the in-flight table and are sent again
 * with DUP ([MQTT-4.4.0-1]); queued ones go to the queue. Messages shared by several deliveries of the page
 * become one Message object again.
 */
export function loadBacklog(broker: Broker, session: Session): void {
  const store = broker.persistence.store;
  if (store === undefined || session.loading || session.backlog <= 0) return;
  session.loading = true;
  store.loadDeliveries(session.clientId, session.loadedSeq, PAGE).then(
    (page) => {
      session.loading = false;
      if (broker.sessions.get(session.clientId) !== session) return;
      if (page.deliveries.length === 0) {
        session.backlog = 0;
        session.backlogBytes = 0;
        return;
      }
      const messages = new Map<number, Message>();
      const resend: Inflight[] = [];
      for (const d of page.deliveries) {
        session.loadedSeq = d.seq;
        session.backlog = Math.max(0, session.backlog - 1);
        let message = messages.get(d.messageId);
        if (message === undefined) {
          const stored = page.messages.get(d.messageId);
          if (stored === undefined) continue;
          message = messageFrom(stored, d.messageId);
          messages.set(d.messageId, message);
        }
        session.backlogBytes = Math.max(0, session.backlogBytes - message.payload.length - message.topic.length);
        const delivery = new Delivery(message, d.qos, d.retain, d.subscriptionIdentifiers, d.shareKey);
        delivery.seq = d.seq;
        if (d.state === 'queued') {
          session.queue.push(delivery);
          session.queuedBytes += message.payload.length + message.topic.length;
        } else if (!session.inflight.has(d.packetId)) {
          const f = new Inflight(d.packetId, delivery);
          if (d.state === 'pubrel') f.state = 'pubrel';
          session.inflight.set(d.packetId, f);
          resend.push(f);
        }
      }
      const c = session.connection;
      if (c !== undefined) {
        c.outbound.resend(resend);
        c.outbound.pump();
      }
    },
    (err: unknown) => {
      session.loading = false;
      broker.logger.error('could not read queued messages from the store', { clientId: session.clientId, error: (err as Error).message });
    },
  );
}
