import type { StoredPublish } from './state.js';

/**
 * Where the client keeps QoS 1/2 messages until the server acknowledges them. Without a store they live
 * in memory only; a durable store (FileStore) keeps them across restarts of the process.
 */
export interface InflightStore {
  /** The messages kept from an earlier run, oldest first. */
  load(): Promise<StoredPublish[]>;
  /** Keep a message (called when the application publishes it). */
  put(message: StoredPublish): void;
  /** Forget a message (acknowledged, or failed for good). */
  delete(key: number): void;
  /** Resolves when everything put or deleted so far is durable. */
  flush(): Promise<void>;
  close(): Promise<void>;
}
