import type { Buffer } from 'node:buffer';
import type { ProtocolVersion, PublishProperties, QoS, RetainHandling } from '../protocol/index.js';

/**
 * The broker's persistence port. The broker records every change to durable state as it happens
 * (synchronously, cheaply: implementations batch them) and asks `afterCommit` to run acknowledgements
 * only once what they acknowledge is durable. One abstract test suite runs against every implementation.
 */

/** An Application Message as stored. Properties are the ones forwarded unaltered to subscribers. */
export interface StoredMessage {
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: QoS;
  readonly retain: boolean;
  readonly properties: Omit<PublishProperties, 'topicAlias' | 'subscriptionIdentifiers' | 'messageExpiryInterval'> | undefined;
  /** Message Expiry Interval in seconds as received; undefined = never expires. */
  readonly expiryInterval: number | undefined;
  /** Milliseconds since the epoch when the broker received it (expiry counts from here). */
  readonly receivedAt: number;
  /** Client identifier of the publisher ('' for the broker's own). */
  readonly origin: string;
}

export interface StoredSubscription {
  readonly filter: string;
  readonly qos: QoS;
  readonly noLocal: boolean;
  readonly retainAsPublished: boolean;
  readonly retainHandling: RetainHandling;
  readonly subscriptionIdentifier: number | undefined;
}

/** A message owed to a session, in the session's order (`seq`). */
export interface StoredDelivery {
  readonly seq: number;
  /** Id of the message row (messages are stored once for all their deliveries). */
  readonly messageId: number;
  readonly qos: QoS;
  readonly retain: boolean;
  readonly subscriptionIdentifiers: readonly number[] | undefined;
  readonly shareKey: string | undefined;
  /** 0 while queued; the Packet Identifier once sent. */
  readonly packetId: number;
  /** queued: not sent yet; publish: sent, awaiting PUBACK/PUBREC; pubrel: PUBREL sent, awaiting PUBCOMP. */
  readonly state: 'queued' | 'publish' | 'pubrel';
}

export interface StoredWill {
  readonly message: StoredMessage;
  readonly delayInterval: number;
  /** When it is due (ms since the epoch), if its delay had started. */
  readonly due: number | undefined;
}

export interface StoredSession {
  readonly clientId: string;
  readonly protocolVersion: ProtocolVersion;
  readonly expiryInterval: number;
  /** When its last connection closed; undefined if the broker stopped while it was connected. */
  readonly disconnectedAt: number | undefined;
  readonly subscriptions: readonly StoredSubscription[];
  /** Inbound QoS 2 Packet Identifiers awaiting PUBREL. */
  readonly inboundQos2: readonly number[];
  /** Messages owed (queued and in flight), not loaded: fetch them with `loadDeliveries`. */
  readonly deliveries: number;
  /** The next `seq` to use. */
  readonly nextSeq: number;
  readonly will: StoredWill | undefined;
}

export interface StoredRetained {
  readonly message: StoredMessage;
}

/** What a store holds at start-up. Deliveries are loaded later, a page at a time. */
export interface LoadedState {
  readonly sessions: readonly StoredSession[];
  /** Retained messages are handed over one by one (there may be millions). */
  readonly retained: Iterable<StoredMessage>;
  /** The next message id to assign. */
  readonly nextMessageId: number;
}

export interface DeliveryPage {
  readonly deliveries: readonly StoredDelivery[];
  /** The messages those deliveries refer to, by id. */
  readonly messages: ReadonlyMap<number, StoredMessage>;
}

export interface BrokerStore {
  /** False for the in-memory store: the broker then keeps queues in RAM and skips the bookkeeping. */
  readonly durable: boolean;
  load(): Promise<LoadedState>;

  saveSession(
    clientId: string,
    protocolVersion: ProtocolVersion,
    expiryInterval: number,
    disconnectedAt: number | undefined,
    nextSeq: number,
  ): void;
  /** Removes a session with its subscriptions, deliveries, inbound QoS 2 state and will. */
  deleteSession(clientId: string): void;
  saveSubscription(clientId: string, subscription: StoredSubscription): void;
  deleteSubscription(clientId: string, filter: string): void;
  addInboundQos2(clientId: string, packetId: number): void;
  removeInboundQos2(clientId: string, packetId: number): void;
  saveWill(clientId: string, will: StoredWill | undefined): void;

  /** Stores a message once; deliveries refer to it by the id given. */
  saveMessage(id: number, message: StoredMessage): void;
  addDelivery(clientId: string, delivery: StoredDelivery): void;
  updateDelivery(clientId: string, seq: number, packetId: number, state: StoredDelivery['state']): void;
  removeDelivery(clientId: string, seq: number, messageId: number): void;
  /** Deliveries of a session in order, starting after `afterSeq`. */
  loadDeliveries(clientId: string, afterSeq: number, limit: number): Promise<DeliveryPage>;

  saveRetained(message: StoredMessage): void;
  deleteRetained(topic: string): void;

  /**
   * Runs `done` once everything recorded so far is durable, or `failed` if writing it failed (the
   * acknowledgement must then not be sent).
   */
  afterCommit(done: () => void, failed?: (error: Error) => void): void;
  /** Commits what is pending now. */
  flush(): Promise<void>;
  close(): Promise<void>;
}
