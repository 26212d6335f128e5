import type { TestContext } from 'node:test';
import { type ClientEvents, MqttClient } from '../../../src/client/client.js';
import { nodeDialer } from '../../../src/client/dialers/node.js';
import type { ClientError } from '../../../src/client/errors.js';
import type { ClientOptions } from '../../../src/client/options.js';
import type { Dialer, DialOptions, Transport } from '../../../src/client/transport.js';
import { type Packet, PacketType, type PublishPacket, packetTypeNames } from '../../../src/protocol/index.js';

/** A client under test with what it did recorded, in order. */
export interface Tracked {
  readonly client: MqttClient;
  readonly errors: ClientError[];
  /** Events and packets in order: "connect", "close", "send PUBLISH", "recv PUBACK", "error CONNECTION_LOST"... */
  readonly log: string[];
  readonly sent: Packet[];
  /** Each packet sent with the number of the connection it went on (1 = the first accepted one). */
  readonly sends: { readonly connection: number; readonly packet: Packet }[];
  readonly received: Packet[];
  readonly messages: PublishPacket[];
}

/** Records a client's events and packets; it is ended (forcibly) in the test's cleanup. */
export function track(t: TestContext, client: MqttClient): Tracked {
  const tracked: Tracked = { client, errors: [], log: [], sent: [], sends: [], received: [], messages: [] };
  // Packets a CONNACK triggers (resends) are written before the 'connect' event: count CONNACKs instead.
  let connection = 0;
  client.on('error', (e) => {
    tracked.errors.push(e);
    tracked.log.push(`error ${e.code}`);
  });
  client.on('packetsend', (p) => {
    tracked.sent.push(p);
    tracked.sends.push({ connection, packet: p });
    tracked.log.push(`send ${packetTypeNames[p.type]}`);
  });
  client.on('packetreceive', (p) => {
    tracked.received.push(p);
    if (p.type === PacketType.Connack && p.reasonCode === 0) connection++;
    tracked.log.push(`recv ${packetTypeNames[p.type]}`);
  });
  client.on('message', (_topic, _payload, packet) => tracked.messages.push(packet));
  for (const name of ['connect', 'close', 'offline', 'end', 'disconnect'] as const) {
    client.on(name, () => tracked.log.push(name));
  }
  client.on('reconnect', (attempt) => tracked.log.push(`reconnect ${attempt}`));
  t.after(() => client.end({ force: true }));
  return tracked;
}

/** A client that starts connecting at once; start()'s outcome is left to `connected`. */
export function startClient(t: TestContext, url: string, options: ClientOptions = {}): Tracked & { readonly connected: Promise<void> } {
  const client = new MqttClient(url, { dialer: nodeDialer, ...options });
  const tracked = track(t, client);
  const connected = client.start();
  // Observed by the tests that care; never an unhandled rejection.
  connected.catch(() => undefined);
  return { ...tracked, connected };
}

/** A client connected to `url` (the first CONNACK accepted it). */
export async function connectedClient(t: TestContext, url: string, options: ClientOptions = {}): Promise<Tracked> {
  const c = startClient(t, url, options);
  await c.connected;
  return c;
}

/**
 * A dialer that keeps every transport it opened, so a test can cut the network under a client, and
 * that can be held closed (dials wait) to decide when a reconnect may succeed.
 */
export class TrackingDialer {
  readonly transports: Transport[] = [];
  dials = 0;
  private gate: Promise<void> | undefined;
  private release: (() => void) | undefined;

  readonly dialer: Dialer = async (options: DialOptions) => {
    this.dials++;
    await this.gate;
    const transport = await nodeDialer(options);
    this.transports.push(transport);
    return transport;
  };

  /** Cuts the latest connection without DISCONNECT (as a network failure would). */
  cut(): void {
    this.transports.at(-1)?.destroy();
  }

  /** Dials wait until `open()`. */
  hold(): void {
    if (this.gate !== undefined) return;
    this.gate = new Promise((resolve) => {
      this.release = resolve;
    });
  }

  open(): void {
    this.release?.();
    this.gate = undefined;
    this.release = undefined;
  }
}

/** Resolves with the arguments of the next `event`; rejects after `timeoutMs`. */
export function nextEvent<K extends keyof ClientEvents>(
  client: MqttClient,
  event: K,
  timeoutMs = 3000,
): Promise<Parameters<ClientEvents[K]>> {
  return new Promise((resolve, reject) => {
    const listener = ((...args: Parameters<ClientEvents[K]>) => {
      clearTimeout(timer);
      resolve(args);
    }) as ClientEvents[K];
    const timer = setTimeout(() => {
      client.off(event, listener);
      reject(new Error(`no '${String(event)}' event within ${timeoutMs} ms`));
    }, timeoutMs);
    client.once(event, listener);
  });
}

/** Rejects with `what` if `promise` does not settle within `ms`. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not settled within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Lets pending I/O callbacks and microtasks run. */
export function tick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
