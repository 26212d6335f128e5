import type { BrokerStore, DeliveryPage, LoadedState } from './types.js';

const EMPTY_PAGE: DeliveryPage = { deliveries: [], messages: new Map() };
const nothing = (): void => undefined;

/**
 * No persistence: sessions, queues and retained messages live in the broker's memory only and are lost
 * with the process. Every acknowledgement goes out at once.
 */
export class MemoryStore implements BrokerStore {
  readonly durable = false;
  readonly saveSession = nothing;
  readonly deleteSession = nothing;
  readonly saveSubscription = nothing;
  readonly deleteSubscription = nothing;
  readonly addInboundQos2 = nothing;
  readonly removeInboundQos2 = nothing;
  readonly saveWill = nothing;
  readonly saveMessage = nothing;
  readonly addDelivery = nothing;
  readonly updateDelivery = nothing;
  readonly removeDelivery = nothing;
  readonly saveRetained = nothing;
  readonly deleteRetained = nothing;

  async load(): Promise<LoadedState> {
    return { sessions: [], retained: [], nextMessageId: 1 };
  }

  async loadDeliveries(): Promise<DeliveryPage> {
    return EMPTY_PAGE;
  }

  afterCommit(done: () => void): void {
    done();
  }

  async flush(): Promise<void> {
    // Nothing is ever pending.
  }

  async close(): Promise<void> {
    // Nothing to release.
  }
}
