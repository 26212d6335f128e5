import type { Buffer } from 'node:buffer';
import type { TestContext } from 'node:test';
import { connect, connectAsync, type IClientOptions, type MqttClient } from 'mqtt';
import type { IPublishPacket } from 'mqtt-packet';
import type { BrokerOptions } from '../../src/broker/options.js';
import { startBroker, type TcpHarness } from '../helpers/broker-harness.js';

/** A broker on 127.0.0.1:0 stopped in the test's cleanup. */
export async function brokerFor(t: TestContext, options: BrokerOptions = {}): Promise<TcpHarness> {
  const h = await startBroker(options);
  t.after(() => h.stop());
  return h;
}

/** Defaults for MQTT.js in tests: no reconnecting, short timeouts. */
function options(extra: IClientOptions): IClientOptions {
  return { reconnectPeriod: 0, connectTimeout: 3000, keepalive: 30, ...extra };
}

/** Connects an MQTT.js client; it is closed (forcibly) in the test's cleanup. Errors are recorded. */
export async function mqttjs(t: TestContext, url: string, extra: IClientOptions = {}): Promise<MqttClient> {
  const client = await connectAsync(url, options(extra));
  track(t, client);
  return client;
}

/**
 * An MQTT.js client whose inbox listens before CONNECT is sent, for sessions that deliver queued
 * messages right after CONNACK. Resolves with the CONNACK's Session Present.
 */
export async function mqttjsWithInbox(
  t: TestContext,
  url: string,
  extra: IClientOptions,
): Promise<{ client: MqttClient; inbox: Inbox; sessionPresent: boolean }> {
  const client = connect(url, options(extra));
  track(t, client);
  const inbox = new Inbox(client);
  const sessionPresent = await new Promise<boolean>((resolve, reject) => {
    client.once('connect', (ack) => resolve(ack.sessionPresent));
    client.once('error', reject);
    client.once('close', () => reject(new Error('closed before CONNACK')));
  });
  return { client, inbox, sessionPresent };
}

function track(t: TestContext, client: MqttClient): void {
  // MQTT.js emits 'error' for refusals and broker-side closes; tests assert what they expect, and an
  // 'error' event without a listener would crash the whole run.
  client.on('error', () => undefined);
  t.after(async () => {
    await client.endAsync(true);
  });
}

export interface Received {
  readonly topic: string;
  readonly payload: string;
  readonly packet: IPublishPacket;
}

/** Collects the messages a client receives; `take(n)` waits for the next n of them. */
export class Inbox {
  readonly messages: Received[] = [];
  private taken = 0;
  private waiter: (() => void) | undefined;

  constructor(client: MqttClient) {
    client.on('message', (topic: string, payload: Buffer, packet: IPublishPacket) => {
      this.messages.push({ topic, payload: payload.toString(), packet });
      this.waiter?.();
    });
  }

  /** The next `n` messages not yet taken; rejects after `timeoutMs` naming what did arrive. */
  async take(n: number, timeoutMs = 3000): Promise<Received[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.messages.length - this.taken < n) {
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `expected ${n} more messages, got ${this.messages.length - this.taken}: ${this.messages
            .slice(this.taken)
            .map((m) => `${m.topic}=${m.payload}`)
            .join(', ')}`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = undefined;
    }
    const out = this.messages.slice(this.taken, this.taken + n);
    this.taken += n;
    return out;
  }

  /** Messages arrived and not yet taken. */
  get pending(): Received[] {
    return this.messages.slice(this.taken);
  }
}
