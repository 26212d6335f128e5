import { MqttClient } from './client.js';
import type { ClientOptions } from './options.js';
import type { Dialer } from './transport.js';

export interface Connectors {
  /**
   * Connects to a broker: `connect('mqtt://localhost:1883', { protocolVersion: 5 })`. Returns at once;
   * the client connects (and reconnects) in the background.
   */
  connect(url: string | ClientOptions, options?: ClientOptions): MqttClient;
  /** Like connect(), but resolves when the first CONNACK accepts the connection and rejects if it fails. */
  connectAsync(url: string | ClientOptions, options?: ClientOptions): Promise<MqttClient>;
}

/** connect() and connectAsync() for one dialer: the Node and browser entries differ only in that. */
export function connectorsFor(dialer: Dialer): Connectors {
  const make = (url: string | ClientOptions, options: ClientOptions) =>
    typeof url === 'string' ? new MqttClient(url, options, dialer) : new MqttClient(undefined, url, dialer);
  return {
    connect(url, options = {}) {
      const client = make(url, options);
      client.start().catch(() => undefined);
      return client;
    },
    async connectAsync(url, options = {}) {
      const client = make(url, options);
      try {
        await client.start();
      } catch (err) {
        await client.end({ force: true });
        throw err;
      }
      return client;
    },
  };
}
