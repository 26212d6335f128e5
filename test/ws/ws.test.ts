/**
 * MQTT over WebSocket (MQTT 5.0 chapter 6) and secure WebSocket on loopback: MQTT.js and our client over
 * ws and wss, subprotocol negotiation, binary frames only, packets split across and combined in frames,
 * wrong paths and plain HTTP requests, mutual TLS and certificate reload on wss.
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { Duplex } from 'node:stream';
import { after, before, type TestContext, test } from 'node:test';
import { connectAsync as mqttjsConnect } from 'mqtt';
import WebSocket, { WebSocketServer } from 'ws';
import { issueServerCertificate } from '../../src/certs/index.js';
import { encodePacket, PacketType } from '../../src/protocol/index.js';
import { waitUntil } from '../helpers/child.js';
import { PacketClient } from '../helpers/packet-client.js';
import {
  CLIENT_CN,
  makePki,
  nextMessage,
  ourClient,
  type Pki,
  type Running,
  servedCertificate,
  startServer,
} from '../transport/helpers.js';

let pki: Pki;
before(() => {
  pki = makePki();
});
after(() => pki.remove());

const read = (path: string) => readFileSync(path);

/** A broker with a ws listener (index 0) and a wss listener (index 1), both on /mqtt. */
function startWs(t: TestContext, wss: Record<string, unknown> = {}): Promise<Running> {
  return startServer(t, {
    listeners: [
      { type: 'ws', host: '127.0.0.1', port: 0 },
      { type: 'wss', host: '127.0.0.1', port: 0, cert: pki.server.cert, key: pki.server.key, ...wss },
    ],
  });
}

/**
 * A raw WebSocket as a PacketClient: every write is exactly one binary frame, so tests choose how MQTT
 * bytes fall into frames. Records whether each received frame was binary and the close code.
 */
interface RawWs {
  readonly ws: WebSocket;
  readonly client: PacketClient;
  readonly frames: boolean[];
  closed: Promise<number>;
}

async function rawWs(t: TestContext, url: string, protocols: string[] = ['mqtt']): Promise<RawWs> {
  const ws = new WebSocket(url, protocols, { perMessageDeflate: false });
  t.after(() => ws.terminate());
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const frames: boolean[] = [];
  const stream = new Duplex({
    read() {
      // Frames are pushed as they arrive.
    },
    write(chunk: Buffer, _enc, callback) {
      ws.send(chunk, { binary: true }, callback);
    },
  });
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    frames.push(isBinary);
    stream.push(data);
  });
  const closed = new Promise<number>((resolve) => {
    ws.once('close', (code: number) => {
      stream.push(null);
      stream.destroy();
      resolve(code);
    });
  });
  ws.on('error', () => undefined);
  return { ws, client: new PacketClient(stream, 5), frames, closed };
}

test('[MQTT-6.0.0-3] [MQTT-6.0.0-4] our client and MQTT.js over ws and wss exchange messages (subprotocol "mqtt")', async (t) => {
  const r = await startWs(t);
  const wsUrl = `ws://localhost:${r.port(0)}/mqtt`;
  const wssUrl = `wss://localhost:${r.port(1)}/mqtt`;
  const ours = await ourClient(t, wsUrl, { clientId: 'ours-ws' });
  await ours.subscribe('ws/#', { qos: 1 });
  const oursTls = await ourClient(t, wssUrl, { clientId: 'ours-wss', tls: { ca: read(pki.ca.cert) } });
  await oursTls.subscribe('ws/#', { qos: 1 });

  const mqttjsWs = await mqttjsConnect(wsUrl, { clientId: 'mqttjs-ws', reconnectPeriod: 0, connectTimeout: 3000 });
  t.after(() => mqttjsWs.endAsync(true));
  const mqttjsWss = await mqttjsConnect(wssUrl, {
    clientId: 'mqttjs-wss',
    ca: read(pki.ca.cert),
    reconnectPeriod: 0,
    connectTimeout: 3000,
  });
  t.after(() => mqttjsWss.endAsync(true));

  const a = nextMessage(ours, 'ws/from-wss');
  const b = nextMessage(oursTls, 'ws/from-ws');
  await mqttjsWss.publishAsync('ws/from-wss', 'over wss', { qos: 1 });
  await mqttjsWs.publishAsync('ws/from-ws', 'over ws', { qos: 1 });
  assert.equal(await a, 'over wss');
  assert.equal(await b, 'over ws');

  // A message larger than any single frame a browser would send travels whole.
  const big = Buffer.alloc(512 * 1024, 7);
  const gotBig = new Promise<number>((resolve) => ours.on('message', (tp, payload) => tp === 'ws/big' && resolve(payload.length)));
  await oursTls.publish('ws/big', big, { qos: 1 });
  assert.equal(await gotBig, big.length);

  const transports = new Map(r.connected.map((c) => [c.clientId, c.transport]));
  assert.equal(transports.get('ours-ws'), 'ws');
  assert.equal(transports.get('mqttjs-ws'), 'ws');
  assert.equal(transports.get('ours-wss'), 'wss');
  assert.equal(transports.get('mqttjs-wss'), 'wss');
});

test('[MQTT-6.0.0-4] subprotocol negotiation: "mqtt" and "mqttv3.1" are selected ("mqtt" first); none offered is accepted', async (t) => {
  const r = await startWs(t);
  const url = `ws://127.0.0.1:${r.port(0)}/mqtt`;
  const selected = async (offered: string[]) => {
    const raw = await rawWs(t, url, offered);
    const protocol = raw.ws.protocol;
    raw.ws.close();
    return protocol;
  };
  assert.equal(await selected(['mqtt']), 'mqtt');
  assert.equal(await selected(['mqttv3.1']), 'mqttv3.1');
  assert.equal(await selected(['mqttv3.1', 'mqtt']), 'mqtt');
  assert.equal(await selected(['foo', 'mqttv3.1']), 'mqttv3.1');
  // No subprotocol at all: some embedded clients send none; accepted, without a Sec-WebSocket-Protocol.
  const none = await rawWs(t, url, []);
  assert.equal(none.ws.protocol, '');
  assert.equal((await none.client.connect({ clientId: 'no-subprotocol' })).reasonCode, 0);
  // Only non-MQTT subprotocols: the server selects none, and a conforming client gives up.
  const foreign = new WebSocket(url, ['chat']);
  const failure = await new Promise<Error>((resolve) => foreign.once('error', resolve));
  assert.match(failure.message, /no subprotocol/i);

  // MQTT 3.1 clients offer "mqttv3.1".
  await ourClient(t, url, { protocolVersion: 3, clientId: 'v31' });
  assert.equal(r.connected.find((c) => c.clientId === 'v31')?.protocolVersion, 3);
});

test('[MQTT-6.0.0-3] [MQTT-6.0.0-1] our client offers "mqtt" ("mqttv3.1" for MQTT 3.1) and sends binary frames', async (t) => {
  // A bare WebSocket server that records what the client offers and how it frames CONNECT.
  const seen: { offered: string[]; binary: boolean }[] = [];
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: (offered) => [...offered][0] ?? false });
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  server.on('connection', (ws, req) => {
    const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
    ws.once('message', (_data, isBinary: boolean) => {
      seen.push({ offered, binary: isBinary });
      ws.close();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  for (const protocolVersion of [5, 4, 3] as const) {
    await assert.rejects(ourClient(t, `ws://127.0.0.1:${port}/mqtt`, { protocolVersion, connectTimeout: 1000 }));
  }
  assert.deepEqual(seen, [
    { offered: ['mqtt'], binary: true },
    { offered: ['mqtt'], binary: true },
    { offered: ['mqttv3.1'], binary: true },
  ]);
});

test('[MQTT-6.0.0-1] the server sends binary frames only and closes the connection on a text frame', async (t) => {
  const r = await startWs(t);
  const raw = await rawWs(t, `ws://127.0.0.1:${r.port(0)}/mqtt`);
  assert.equal((await raw.client.connect({ clientId: 'texter' })).reasonCode, 0);
  raw.client.send({ type: PacketType.Pingreq });
  await raw.client.expect(PacketType.Pingresp);
  assert.ok(raw.frames.length >= 2 && raw.frames.every((binary) => binary));

  // The same bytes in a text frame are not MQTT.
  raw.ws.send(encodePacket({ type: PacketType.Pingreq }, 5).toString('latin1'));
  assert.equal(await raw.closed, 1003);
  await waitUntil(() => r.disconnected.some((c) => c.clientId === 'texter'), 'the broker to drop the client');
});

test('[MQTT-6.0.0-2] packets split across frames and several packets in one frame are read as one byte stream', async (t) => {
  const r = await startWs(t);
  const raw = await rawWs(t, `ws://127.0.0.1:${r.port(0)}/mqtt`);
  // CONNECT one byte per frame.
  const connect = encodePacket({ type: PacketType.Connect, protocolVersion: 5, clientId: 'splitter', clean: true, keepAlive: 0 }, 5);
  for (const byte of connect) raw.client.sendRaw([byte]);
  assert.equal((await raw.client.expect(PacketType.Connack)).reasonCode, 0);

  // SUBSCRIBE, PUBLISH (QoS 1) and PINGREQ in one frame, followed by a PUBLISH cut in two frames.
  const subscribe = encodePacket(
    {
      type: PacketType.Subscribe,
      packetId: 1,
      subscriptions: [{ topicFilter: 'frames/#', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
    },
    5,
  );
  const publish = (payload: string, packetId: number) =>
    encodePacket(
      { type: PacketType.Publish, topic: 'frames/x', payload: Buffer.from(payload), qos: 1, retain: false, dup: false, packetId },
      5,
    );
  raw.client.sendRaw(Buffer.concat([subscribe, publish('combined', 2), encodePacket({ type: PacketType.Pingreq }, 5)]));
  await raw.client.expect(PacketType.Suback);
  await raw.client.expect(PacketType.Puback, 2000, (p) => p.packetId === 2);
  await raw.client.expect(PacketType.Pingresp);
  const split = publish('split', 3);
  raw.client.sendRaw(split.subarray(0, 5));
  raw.client.sendRaw(split.subarray(5));
  await raw.client.expect(PacketType.Puback, 2000, (p) => p.packetId === 3);
  const delivered = [
    await raw.client.expect(PacketType.Publish, 2000, (p) => p.payload.toString() === 'combined'),
    await raw.client.expect(PacketType.Publish, 2000, (p) => p.payload.toString() === 'split'),
  ];
  assert.deepEqual(
    delivered.map((p) => p.topic),
    ['frames/x', 'frames/x'],
  );
});

test('a WebSocket upgrade on another path gets 404; a plain HTTP request gets 426 Upgrade Required', async (t) => {
  const r = await startWs(t);
  const status = await new Promise<number>((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${r.port(0)}/not-mqtt`, ['mqtt']);
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.once('open', () => reject(new Error('upgraded on the wrong path')));
    ws.once('error', () => undefined);
  });
  assert.equal(status, 404);

  const res = await new Promise<{ status: number; upgrade: string | undefined; body: string }>((resolve, reject) => {
    httpGet(`http://127.0.0.1:${r.port(0)}/mqtt`, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (c: string) => {
        body += c;
      });
      response.on('end', () => resolve({ status: response.statusCode ?? 0, upgrade: response.headers.upgrade, body }));
    }).once('error', reject);
  });
  assert.equal(res.status, 426);
  assert.equal(res.upgrade, 'websocket');
  assert.match(res.body, /MQTT over WebSocket/);
  assert.equal(r.connected.length, 0);
});

test('wss with mutual TLS: the client certificate CN becomes the username; reload swaps the certificate', async (t) => {
  const own = pki.write('wss-reload', issueServerCertificate(pki.ca.issued, { hosts: ['localhost'] }));
  const r = await startWs(t, { cert: own.cert, key: own.key, ca: pki.ca.cert, requireCertificate: true, identityFrom: 'cn' });
  const url = `wss://localhost:${r.port(1)}/mqtt`;
  const tls = { ca: read(pki.ca.cert), cert: read(pki.client.cert), key: read(pki.client.key) };
  const client = await ourClient(t, url, { tls, username: 'ignored', clientId: 'wss-mtls' });
  assert.equal(r.connected.find((c) => c.clientId === 'wss-mtls')?.username, CLIENT_CN);
  await assert.rejects(ourClient(t, url, { tls: { ca: read(pki.ca.cert) } }));

  const probe = { cert: read(pki.client.cert), key: read(pki.client.key) };
  assert.equal((await servedCertificate(r.port(1), probe)).fingerprint256, own.issued.certificate.fingerprint256);
  const next = pki.write('wss-reload', issueServerCertificate(pki.ca.issued, { hosts: ['localhost'] }));
  await r.server.reload();
  assert.equal((await servedCertificate(r.port(1), probe)).fingerprint256, next.issued.certificate.fingerprint256);
  await client.subscribe('still/here', { qos: 1 });
  assert.equal(r.disconnected.length, 0);
});
