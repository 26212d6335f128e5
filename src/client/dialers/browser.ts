import { ClientError } from '../errors.js';
import type { DialOptions, Transport } from '../transport.js';

/**
 * The slice of the WHATWG WebSocket this dialer uses, so it compiles without the DOM library and can be
 * handed any implementation with the browser's API (the `ws` package's WebSocket has it too).
 */
export interface BrowserWebSocket {
  binaryType: string;
  readonly readyState: number;
  readonly bufferedAmount: number;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'open' | 'error', listener: () => void): void;
  addEventListener(type: 'close', listener: (event: { readonly code: number; readonly reason: string }) => void): void;
  addEventListener(type: 'message', listener: (event: { readonly data: unknown }) => void): void;
}

export type BrowserWebSocketConstructor = new (url: string, protocols: string | string[]) => BrowserWebSocket;

const OPEN = 1;
/** Above this many unsent bytes write() answers false and 'drain' follows once the socket catches up. */
const HIGH_WATER = 64 * 1024;
/** Browsers have no drain event: how often to look at bufferedAmount while above the mark. */
const DRAIN_POLL_MS = 10;

/**
 * Opens ws:// and wss:// connections with the platform's WebSocket (in browsers, workers, Deno, Node 22+).
 * TLS trust is the browser's own, so `tls` options do not apply; mqtt:// and mqtts:// need raw sockets,
 * which browsers do not have.
 */
export function createBrowserDialer(WebSocketImpl?: BrowserWebSocketConstructor): (options: DialOptions) => Promise<Transport> {
  return async (options) => {
    if (options.protocol !== 'ws' && options.protocol !== 'wss') {
      throw new ClientError(
        'INVALID_ARGUMENT',
        `${options.protocol}:// needs TCP, which browsers do not offer; use ws:// or wss:// (the broker's WebSocket listener)`,
      );
    }
    // Looked up per dial, so a WebSocket installed after this module loaded (a polyfill) is used too.
    const Impl = WebSocketImpl ?? (globalThis as { WebSocket?: BrowserWebSocketConstructor }).WebSocket;
    if (Impl === undefined) throw new ClientError('DIAL_FAILED', 'this platform has no WebSocket');
    return webSocketTransport(await openWebSocket(Impl, options));
  };
}

/** The dialer for browsers: `new MqttClient(url, options, browserDialer)`; connect() in the browser entry uses it. */
export const browserDialer = createBrowserDialer();

export function webSocketUrl(o: DialOptions): string {
  const host = o.host.includes(':') ? `[${o.host}]` : o.host;
  return `${o.protocol}://${host}:${o.port}${o.path}`;
}

function openWebSocket(WebSocketImpl: BrowserWebSocketConstructor, o: DialOptions): Promise<BrowserWebSocket> {
  const url = webSocketUrl(o);
  return new Promise((resolve, reject) => {
    let ws: BrowserWebSocket;
    try {
      ws = new WebSocketImpl(url, o.wsProtocol);
    } catch (err) {
      // A malformed URL or a blocked port throws a SyntaxError/SecurityError at once.
      reject(new ClientError('DIAL_FAILED', `cannot connect to ${url}: ${String(err)}`, undefined, { cause: err }));
      return;
    }
    ws.binaryType = 'arraybuffer';
    let settled = false;
    const fail = (why: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      ws.close();
      // Browsers hide why a WebSocket failed (certificate, refused, bad handshake) from scripts.
      reject(new ClientError('DIAL_FAILED', `cannot connect to ${url}: ${why}`));
    };
    const timer = setTimeout(() => fail(`no WebSocket upgrade within ${o.timeout} ms`), o.timeout);
    ws.addEventListener('error', () => fail('the WebSocket failed to open'));
    ws.addEventListener('close', (event) => fail(`closed during the handshake (code ${event.code})`));
    ws.addEventListener('open', () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(ws);
    });
  });
}

/**
 * Each binary WebSocket message carries MQTT bytes [MQTT-6.0.0-1]. Messages and the close that arrive
 * before the client registers its handlers are kept for it, so nothing falls between dial and use.
 */
function webSocketTransport(ws: BrowserWebSocket): Transport {
  let dataHandler: ((bytes: Uint8Array) => void) | undefined;
  const early: Uint8Array[] = [];
  const closeHandlers: ((error?: Error) => void)[] = [];
  const drainHandlers: (() => void)[] = [];
  let error: Error | undefined;
  let closed = false;
  let drainTimer: ReturnType<typeof setTimeout> | undefined;

  const watchDrain = () => {
    drainTimer = undefined;
    if (closed) return;
    if (ws.bufferedAmount >= HIGH_WATER) drainTimer = setTimeout(watchDrain, DRAIN_POLL_MS);
    else for (const h of drainHandlers) h();
  };

  ws.addEventListener('message', (event) => {
    const data = event.data;
    if (!(data instanceof ArrayBuffer)) {
      // MQTT over WebSocket is binary only; a text frame is a protocol violation. [MQTT-6.0.0-1]
      error = new ClientError('PROTOCOL_ERROR', 'the server sent a text WebSocket message; MQTT needs binary messages');
      // Browsers allow close codes 1000 and 3000-4999 only, so no 1002 (protocol error) here.
      ws.close();
      return;
    }
    const bytes = new Uint8Array(data);
    if (dataHandler === undefined) early.push(bytes);
    else dataHandler(bytes);
  });
  ws.addEventListener('error', () => {
    error ??= new ClientError('CONNECTION_LOST', 'WebSocket error');
  });
  ws.addEventListener('close', () => {
    closed = true;
    if (drainTimer !== undefined) clearTimeout(drainTimer);
    for (const h of closeHandlers) h(error);
  });

  return {
    write(bytes) {
      // send() on a closing socket only grows bufferedAmount; the close handlers deal with the loss.
      if (ws.readyState !== OPEN) return true;
      ws.send(bytes);
      if (ws.bufferedAmount < HIGH_WATER) return true;
      drainTimer ??= setTimeout(watchDrain, DRAIN_POLL_MS);
      return false;
    },
    end: () => ws.close(1000),
    // Browsers cannot drop a socket without the closing handshake; close() is the closest there is.
    destroy: () => ws.close(1000),
    onData(handler) {
      dataHandler = handler;
      for (const bytes of early.splice(0)) handler(bytes);
    },
    onClose(handler) {
      if (closed) handler(error);
      else closeHandlers.push(handler);
    },
    onDrain(handler) {
      drainHandlers.push(handler);
    },
  };
}
