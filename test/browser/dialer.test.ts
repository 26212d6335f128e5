/**
 * The browser dialer in Node: with a scripted WebSocket for the edges (timeouts, text frames, buffering,
 * drain) and with the `ws` package's WebSocket, which has the browser's API, against our broker's ws
 * listener. test/browser/chromium.test.ts runs the same client in a real browser.
 */
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import WebSocket from 'ws';
import * as browserEntry from '../../src/client/browser.js';
import { MqttClient } from '../../src/client/client.js';
import {
  type BrowserWebSocket,
  type BrowserWebSocketConstructor,
  createBrowserDialer,
  webSocketUrl,
} from '../../src/client/dialers/browser.js';
import type { ClientError } from '../../src/client/errors.js';
import type { DialOptions } from '../../src/client/transport.js';
import { startBrowserTestBroker, until } from './support.js';

const dial = (o: Partial<DialOptions> = {}): DialOptions => ({
  protocol: 'ws',
  host: '127.0.0.1',
  port: 1,
  path: '/mqtt',
  timeout: 2000,
  tls: {},
  wsProtocol: 'mqtt',
  ...o,
});

interface Event {
  readonly data: unknown;
  readonly code: number;
  readonly reason: string;
}
type Listener = (event: Event) => void;

/** A WebSocket the test drives: open(), message(), fail(), bufferedAmount. */
class ScriptedWebSocket implements BrowserWebSocket {
  static last: ScriptedWebSocket | undefined;
  binaryType = 'blob';
  readyState = 0;
  bufferedAmount = 0;
  readonly sent: Uint8Array[] = [];
  readonly closes: (number | undefined)[] = [];
  private readonly listeners = new Map<string, Listener[]>();

  constructor(
    readonly url: string,
    readonly protocols: string | string[],
  ) {
    ScriptedWebSocket.last = this;
  }

  send(data: Uint8Array): void {
    this.sent.push(data);
  }
  close(code?: number): void {
    this.closes.push(code);
  }
  addEventListener(type: string, listener: Listener): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }
  emit(type: string, event: Partial<Event> = {}): void {
    for (const l of this.listeners.get(type) ?? []) l({ data: undefined, code: 1005, reason: '', ...event });
  }
  open(): void {
    this.readyState = 1;
    this.emit('open');
  }
  closed(code = 1006): void {
    this.readyState = 3;
    this.emit('close', { code, reason: '' });
  }
}

const Scripted = ScriptedWebSocket as BrowserWebSocketConstructor;

/** Dials with the scripted WebSocket and opens it; returns the transport and the socket. */
async function openScripted(o: Partial<DialOptions> = {}) {
  const pending = createBrowserDialer(Scripted)(dial(o));
  const ws = ScriptedWebSocket.last;
  assert.ok(ws);
  ws.open();
  return { transport: await pending, ws };
}

test('browser dialer: ws:// URL with the subprotocol, arraybuffer messages, IPv6 hosts bracketed', async () => {
  const { ws } = await openScripted({ protocol: 'wss', host: 'example.org', port: 8084, path: '/mq', wsProtocol: 'mqttv3.1' });
  assert.equal(ws.url, 'wss://example.org:8084/mq');
  assert.equal(ws.protocols, 'mqttv3.1');
  assert.equal(ws.binaryType, 'arraybuffer');
  assert.equal(webSocketUrl(dial({ host: '::1', port: 8083 })), 'ws://[::1]:8083/mqtt');
});

test('browser dialer: mqtt:// and mqtts:// are refused, browsers have no TCP', async () => {
  for (const protocol of ['mqtt', 'mqtts'] as const) {
    await assert.rejects(createBrowserDialer(Scripted)(dial({ protocol })), (e: ClientError) => {
      assert.equal(e.code, 'INVALID_ARGUMENT');
      assert.match(e.message, /use ws:\/\/ or wss:\/\//);
      return true;
    });
  }
});

test('browser dialer: without a WebSocket on the platform the dial fails with DIAL_FAILED', async () => {
  const g = globalThis as { WebSocket?: unknown };
  const saved = g.WebSocket;
  delete g.WebSocket;
  try {
    await assert.rejects(createBrowserDialer()(dial()), { code: 'DIAL_FAILED', message: 'this platform has no WebSocket' });
  } finally {
    if (saved !== undefined) g.WebSocket = saved;
  }
});

test('browser dialer: a throwing constructor, a failed handshake and a timeout all reject with DIAL_FAILED', async () => {
  const Throwing = class {
    constructor() {
      throw new SyntaxError('bad URL');
    }
  } as unknown as BrowserWebSocketConstructor;
  await assert.rejects(createBrowserDialer(Throwing)(dial()), { code: 'DIAL_FAILED', message: /bad URL/ });

  const failing = createBrowserDialer(Scripted)(dial());
  const ws = ScriptedWebSocket.last;
  assert.ok(ws);
  ws.emit('error');
  ws.closed();
  await assert.rejects(failing, { code: 'DIAL_FAILED', message: /failed to open/ });

  const closing = createBrowserDialer(Scripted)(dial());
  ScriptedWebSocket.last?.closed(1002);
  await assert.rejects(closing, { code: 'DIAL_FAILED', message: /code 1002/ });

  const slow = createBrowserDialer(Scripted)(dial({ timeout: 20 }));
  const silent = ScriptedWebSocket.last;
  await assert.rejects(slow, { code: 'DIAL_FAILED', message: /no WebSocket upgrade within 20 ms/ });
  assert.deepEqual(silent?.closes, [undefined]);
  silent?.open(); // too late: ignored
});

test('browser dialer: messages and a close that come before the handlers are kept for them', async () => {
  const { transport, ws } = await openScripted();
  ws.emit('message', { data: new Uint8Array([1, 2]).buffer });
  const got: number[][] = [];
  transport.onData((bytes) => got.push([...bytes]));
  ws.emit('message', { data: new Uint8Array([3]).buffer });
  assert.deepEqual(got, [[1, 2], [3]]);
  ws.emit('error');
  ws.closed();
  let error: Error | undefined;
  let calls = 0;
  transport.onClose((e) => {
    calls++;
    error = e;
  });
  assert.equal(calls, 1);
  assert.equal((error as ClientError | undefined)?.code, 'CONNECTION_LOST');
});

test('browser dialer: a text message is a protocol error that closes the connection [MQTT-6.0.0-1]', async () => {
  const { transport, ws } = await openScripted();
  const closes: (Error | undefined)[] = [];
  transport.onClose((e) => closes.push(e));
  transport.onClose((e) => closes.push(e));
  ws.emit('message', { data: 'hello' });
  assert.deepEqual(ws.closes, [undefined]);
  ws.closed(1005);
  assert.equal(closes.length, 2);
  assert.equal((closes[0] as ClientError | undefined)?.code, 'PROTOCOL_ERROR');
});

test('browser dialer: write() reports buffering above 64 KiB and drain follows when the socket catches up', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { transport, ws } = await openScripted();
  let drains = 0;
  transport.onDrain(() => drains++);
  assert.equal(transport.write(new Uint8Array([1])), true);
  ws.bufferedAmount = 100_000;
  assert.equal(transport.write(new Uint8Array([2])), false);
  assert.equal(transport.write(new Uint8Array([3])), false);
  t.mock.timers.tick(10);
  assert.equal(drains, 0, 'still above the mark');
  ws.bufferedAmount = 0;
  t.mock.timers.tick(10);
  assert.equal(drains, 1);
  assert.equal(ws.sent.length, 3);

  ws.bufferedAmount = 100_000;
  assert.equal(transport.write(new Uint8Array([4])), false);
  ws.closed();
  t.mock.timers.tick(50);
  assert.equal(drains, 1, 'no drain after close');
  assert.equal(transport.write(new Uint8Array([5])), true, 'a closed socket drops writes; the close tells the client');
  assert.equal(ws.sent.length, 4);
});

test('browser dialer: end() and destroy() close with 1000 (browsers cannot drop a socket)', async () => {
  const { transport, ws } = await openScripted();
  transport.end();
  transport.destroy();
  assert.deepEqual(ws.closes, [1000, 1000]);
});

// ---- against our broker, with the ws package standing in for the browser's WebSocket -------------

async function wsBroker(t: TestContext) {
  const b = await startBrowserTestBroker([{ type: 'ws', port: 0 }]);
  t.after(() => b.stop());
  return { url: `ws://127.0.0.1:${b.listeners[0]?.port}/mqtt`, drop: b.drop, broker: b.server.broker };
}

const NodeWebSocket = WebSocket as unknown as BrowserWebSocketConstructor;

test('browser dialer over ws (Node): QoS 0/1/2 with 5.0 properties, then a reconnect after the broker drops the link', async (t) => {
  const { url, drop, broker } = await wsBroker(t);
  const client = new MqttClient(
    url,
    { protocolVersion: 5, clientId: 'dialer-node', clean: false, properties: { sessionExpiryInterval: 60 }, reconnect: { initial: 50 } },
    createBrowserDialer(NodeWebSocket),
  );
  t.after(() => client.end({ force: true }));
  const messages: { topic: string; payload: string; qos: number; contentType?: string }[] = [];
  client.on('message', (topic, payload, packet) =>
    messages.push({
      topic,
      payload: payload.toString(),
      qos: packet.qos,
      ...(packet.properties?.contentType === undefined ? {} : { contentType: packet.properties.contentType }),
    }),
  );
  await client.start();
  await client.subscribe('dialer/#', { qos: 2 });
  await client.publish('dialer/0', 'zero');
  await client.publish('dialer/1', 'one', { qos: 1, properties: { contentType: 'text/plain' } });
  await client.publish('dialer/2', 'två ✓', { qos: 2 });
  await until(() => messages.length === 3);
  assert.deepEqual(messages, [
    { topic: 'dialer/0', payload: 'zero', qos: 0 },
    { topic: 'dialer/1', payload: 'one', qos: 1, contentType: 'text/plain' },
    { topic: 'dialer/2', payload: 'två ✓', qos: 2 },
  ]);

  const reconnected = new Promise<boolean>((resolve) => client.once('connect', (ack) => resolve(ack.sessionPresent)));
  assert.equal(drop('dialer-node'), 1);
  assert.equal(await reconnected, true, 'the session (and its subscription) survived');
  assert.ok(broker.isConnected('dialer-node'));
  await client.publish('dialer/after', 'back', { qos: 1 });
  await until(() => messages.length === 4);
  assert.equal(messages[3]?.payload, 'back');
});

test('browser entry (unbundled): connectAsync() dials with the platform WebSocket, connect() takes options alone', async (t) => {
  const { url } = await wsBroker(t);
  // Node 20 has no global WebSocket and Node 22's finds nothing on port 1: DIAL_FAILED either way.
  await assert.rejects(browserEntry.connectAsync('ws://127.0.0.1:1/mqtt', { reconnect: false, connectTimeout: 2000 }), {
    code: 'DIAL_FAILED',
  });
  const port = Number(new URL(url).port);
  const client = browserEntry.connect({ protocol: 'ws', host: '127.0.0.1', port, dialer: createBrowserDialer(NodeWebSocket) });
  t.after(() => client.end({ force: true }));
  await new Promise((resolve) => client.once('connect', resolve));
  const viaUrl = await browserEntry.connectAsync(url, { dialer: createBrowserDialer(NodeWebSocket) });
  await viaUrl.end();
  assert.equal(browserEntry.browserDialer.length, 1);
});
