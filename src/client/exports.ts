/** What both client entries (Node and browser) export besides their connect functions and dialers. */
export { Backoff, type BackoffOptions } from './backoff.js';
export { type ClientEvents, type EndOptions, MqttClient, type PublishOptions, type SubscribeOptions } from './client.js';
export type { ClientClock, ClientTimer } from './clock.js';
export { ClientError, type ClientErrorCode } from './errors.js';
export type { AuthHandler, ClientOptions, WillOptions } from './options.js';
export {
  ClientState,
  type OutgoingMessage,
  type PublishResult,
  type StateOutput,
  type StoredPublish,
  type SubscribeResult,
  type UnsubscribeResult,
} from './state.js';
export type { InflightStore } from './store.js';
export type { Dialer, DialOptions, TlsOptions, Transport } from './transport.js';
