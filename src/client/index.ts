import { MqttClient } from './client.js';
import { nodeDialer } from './dialers/node.js';
import type { ClientOptions } from './options.js';

/**
 * Connects to a broker: `connect('mqtt://localhost:1883', { protocolVersion: 5 })`. Returns at once;
 * the client connects (and reconnects) in the background. Schemes: mqtt, mqtts, ws, wss.
 */
export function connect(url: string | ClientOptions, options: ClientOptions = {}): MqttClient {
  const client = typeof url === 'string' ? new MqttClient(url, options, nodeDialer) : new MqttClient(undefined, url, nodeDialer);
  client.start().catch(() => undefined);
  return client;
}

/** Like connect(), but resolves when the first CONNACK accepts the connection and rejects if it fails. */
export async function connectAsync(url: string | ClientOptions, options: ClientOptions = {}): Promise<MqttClient> {
  const client = typeof url === 'string' ? new MqttClient(url, options, nodeDialer) : new MqttClient(undefined, url, nodeDialer);
  try {
    await client.start();
  } catch (err) {
    await client.end({ force: true });
    throw err;
  }
  return client;
}

export { Backoff, type BackoffOptions } from './backoff.js';
export { type ClientEvents, type EndOptions, MqttClient, type PublishOptions, type SubscribeOptions } from './client.js';
export type { ClientClock, ClientTimer } from './clock.js';
export { nodeDialer } from './dialers/node.js';
export { ClientError, type ClientErrorCode } from './errors.js';
export { FileStore } from './file-store.js';
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
