/**
 * The browser entry (bundled as dist/browser/mozzie.js): the same client as the Node entry, dialing
 * ws:// and wss:// with the browser's WebSocket. It imports no Node module but 'node:buffer', which the
 * bundle maps to the `buffer` package (src/client/browser-buffer.ts); .dependency-cruiser.cjs and
 * test/browser/bundle.test.ts keep it so.
 */
import { MqttClient } from './client.js';
import { browserDialer } from './dialers/browser.js';
import type { ClientOptions } from './options.js';

/**
 * Connects to a broker: `connect('wss://broker.example/mqtt', { protocolVersion: 5 })`. Returns at once;
 * the client connects (and reconnects) in the background.
 */
export function connect(url: string | ClientOptions, options: ClientOptions = {}): MqttClient {
  const client = typeof url === 'string' ? new MqttClient(url, options, browserDialer) : new MqttClient(undefined, url, browserDialer);
  client.start().catch(() => undefined);
  return client;
}

/** Like connect(), but resolves when the first CONNACK accepts the connection and rejects if it fails. */
export async function connectAsync(url: string | ClientOptions, options: ClientOptions = {}): Promise<MqttClient> {
  const client = typeof url === 'string' ? new MqttClient(url, options, browserDialer) : new MqttClient(undefined, url, browserDialer);
  try {
    await client.start();
  } catch (err) {
    await client.end({ force: true });
    throw err;
  }
  return client;
}

export { Buffer } from 'node:buffer';
export { Backoff, type BackoffOptions } from './backoff.js';
export { type ClientEvents, type EndOptions, MqttClient, type PublishOptions, type SubscribeOptions } from './client.js';
export type { ClientClock, ClientTimer } from './clock.js';
export { type BrowserWebSocket, type BrowserWebSocketConstructor, browserDialer, createBrowserDialer } from './dialers/browser.js';
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
