/**
 * PROXY protocol v1 and v2 (HAProxy's spec) on a TCP listener: the broker reports the client address the
 * load balancer sends; a connection without the header, or with a malformed one, is closed. Parser cases
 * first, then real sockets, then MQTT.js through a small load balancer written here.
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { createServer as createNetServer, connect as netConnect, type Socket } from 'node:net';
import { type TestContext, test } from 'node:test';
import { connectAsync as mqttjsConnect } from 'mqtt';
import { encodePacket, PacketType } from '../../src/protocol/index.js';
import { parse } from '../../src/transport/proxy-protocol.js';
import { waitUntil } from '../helpers/child.js';
import { PacketClient } from '../helpers/packet-client.js';
import { ourClient, startServer } from './helpers.js';

const SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

/** A v2 header: PROXY (or LOCAL) over TCP, IPv4 or IPv6, with optional TLV bytes after the addresses. */
function v2(family: 4 | 6, source: string, sourcePort: number, options: { local?: boolean; tlv?: Buffer } = {}): Buffer {
  const addresses =
    family === 4
      ? Buffer.concat([Buffer.from(source.split('.').map(Number)), Buffer.from([127, 0, 0, 1])])
      : Buffer.concat([ipv6(source), ipv6('::1')]);
  const ports = Buffer.alloc(4);
  ports.writeUInt16BE(sourcePort, 0);
  ports.writeUInt16BE(1883, 2);
  const body = Buffer.concat([addresses, ports, options.tlv ?? Buffer.alloc(0)]);
  const head = Buffer.alloc(4);
  head[0] = options.local === true ? 0x20 : 0x21;
  head[1] = family === 4 ? 0x11 : 0x21;
  head.writeUInt16BE(body.length, 2);
  return Buffer.concat([SIGNATURE, head, body]);
}

function ipv6(text: string): Buffer {
  const [left = '', right = ''] = text.split('::');
  const l = left === '' ? [] : left.split(':');
  const r = right === '' ? [] : right.split(':');
  const words = text.includes('::') ? [...l, ...Array<string>(8 - l.length - r.length).fill('0'), ...r] : l;
  const out = Buffer.alloc(16);
  words.forEach((w, i) => {
    out.writeUInt16BE(Number.parseInt(w, 16), i * 2);
  });
  return out;
}

const connectBytes = (clientId: string) =>
  encodePacket({ type: PacketType.Connect, protocolVersion: 5, clientId, clean: true, keepAlive: 0 }, 5);

test('PROXY parser: v1 TCP4, TCP6 and UNKNOWN; partial headers wait for more bytes', () => {
  const v1 = Buffer.from('PROXY TCP4 203.0.113.7 192.0.2.1 51234 1883\r\nMQTT');
  assert.deepEqual(parse(v1), { address: { remoteAddress: '203.0.113.7', remotePort: 51234 }, length: v1.length - 4 });
  assert.deepEqual(parse(Buffer.from('PROXY TCP6 2001:db8::7 2001:db8::1 4000 1883\r\n'))?.address, {
    remoteAddress: '2001:db8::7',
    remotePort: 4000,
  });
  assert.deepEqual(parse(Buffer.from('PROXY UNKNOWN\r\n'))?.address, { remoteAddress: undefined, remotePort: undefined });
  for (let i = 0; i < v1.length - 4; i++) assert.equal(parse(v1.subarray(0, i)), undefined, `prefix of ${i} bytes`);
});

test('PROXY parser: v2 IPv4, IPv6 (canonical text), LOCAL and TLVs; partial headers wait for more bytes', () => {
  const h4 = v2(4, '198.51.100.9', 40000);
  assert.deepEqual(parse(h4), { address: { remoteAddress: '198.51.100.9', remotePort: 40000 }, length: h4.length });
  assert.equal(parse(v2(6, '2001:db8:0:0:0:0:0:7', 5))?.address.remoteAddress, '2001:db8::7');
  assert.equal(parse(v2(6, '::ffff:a01:203', 5))?.address.remoteAddress, '::ffff:10.1.2.3');
  assert.deepEqual(parse(v2(4, '198.51.100.9', 1, { local: true }))?.address, { remoteAddress: undefined, remotePort: undefined });
  const withTlv = v2(4, '198.51.100.9', 2, { tlv: Buffer.from([0x04, 0x00, 0x02, 0xab, 0xcd]) });
  assert.equal(parse(withTlv)?.length, withTlv.length);
  for (let i = 0; i < h4.length; i++) assert.equal(parse(h4.subarray(0, i)), undefined, `prefix of ${i} bytes`);
});

test('PROXY parser: malformed headers are refused', () => {
  const bad = [
    Buffer.from([0x10, 0x10, 0x00, 0x04]), // an MQTT CONNECT, no header
    Buffer.from('GET / HTTP/1.1\r\n'),
    Buffer.from('PROXY TCP4 not-an-address 192.0.2.1 1 1883\r\n'),
    Buffer.from('PROXY TCP4 2001:db8::7 192.0.2.1 1 1883\r\n'), // family mismatch
    Buffer.from('PROXY TCP4 203.0.113.7 192.0.2.1 70000 1883\r\n'),
    Buffer.from('PROXY TCP4 203.0.113.7 192.0.2.1 -1 1883\r\n'),
    Buffer.from('PROXY TCP5 203.0.113.7 192.0.2.1 1 1883\r\n'),
    Buffer.from(`PROXY TCP4 ${'1'.repeat(120)}`), // no CRLF within 107 bytes
    Buffer.concat([SIGNATURE, Buffer.from([0x31, 0x11, 0x00, 0x0c]), Buffer.alloc(12)]), // version 3
    Buffer.concat([SIGNATURE, Buffer.from([0x22, 0x11, 0x00, 0x0c]), Buffer.alloc(12)]), // command 2
    Buffer.concat([SIGNATURE, Buffer.from([0x21, 0x11, 0x10, 0x00])]), // 4 KB of addresses
  ];
  for (const b of bad) assert.throws(() => parse(b), Error, b.toString('latin1'));
});

/** A TCP listener expecting the PROXY protocol; returns it with the recorder. */
function proxied(t: TestContext) {
  return startServer(t, { listeners: [{ type: 'tcp', host: '127.0.0.1', port: 0, proxyProtocol: true }] });
}

async function rawTcp(t: TestContext, port: number): Promise<PacketClient> {
  const client = await PacketClient.tcp(port);
  t.after(() => client.end());
  return client;
}

test('PROXY v1: the broker reports the address from the header, even when header and CONNECT share a packet', async (t) => {
  const r = await proxied(t);
  const together = await rawTcp(t, r.port());
  together.sendRaw(Buffer.concat([Buffer.from('PROXY TCP4 203.0.113.7 127.0.0.1 51234 1883\r\n'), connectBytes('v1-together')]));
  assert.equal((await together.expect(PacketType.Connack)).reasonCode, 0);

  // The header in single bytes, CONNECT after it.
  const trickle = await rawTcp(t, r.port());
  for (const byte of Buffer.from('PROXY TCP6 2001:db8::42 ::1 443 1883\r\n')) {
    trickle.sendRaw([byte]);
    await new Promise((resolve) => setImmediate(resolve));
  }
  trickle.sendRaw(connectBytes('v1-trickle'));
  assert.equal((await trickle.expect(PacketType.Connack)).reasonCode, 0);

  const seen = new Map(r.connected.map((c) => [c.clientId, `${c.remoteAddress} ${c.remotePort}`]));
  assert.equal(seen.get('v1-together'), '203.0.113.7 51234');
  assert.equal(seen.get('v1-trickle'), '2001:db8::42 443');
});

test('PROXY v2: IPv4 and IPv6 addresses are reported; LOCAL (a health check) keeps the socket address', async (t) => {
  const r = await proxied(t);
  const cases: [string, Buffer][] = [
    ['v2-ipv4', v2(4, '198.51.100.9', 40000)],
    ['v2-ipv6', v2(6, '2001:db8::9', 40001, { tlv: Buffer.from([0x04, 0x00, 0x01, 0x00]) })],
    ['v2-local', v2(4, '198.51.100.9', 40002, { local: true })],
  ];
  for (const [id, header] of cases) {
    const c = await rawTcp(t, r.port());
    c.sendRaw(Buffer.concat([header, connectBytes(id)]));
    assert.equal((await c.expect(PacketType.Connack)).reasonCode, 0, id);
  }
  const seen = new Map(r.connected.map((c) => [c.clientId, c.remoteAddress]));
  assert.equal(seen.get('v2-ipv4'), '198.51.100.9');
  assert.equal(seen.get('v2-ipv6'), '2001:db8::9');
  assert.equal(seen.get('v2-local'), '127.0.0.1');
});

test('PROXY: a connection without the header, or with a malformed one, is closed before any MQTT', async (t) => {
  const r = await proxied(t);
  for (const bytes of [connectBytes('no-header'), Buffer.from('PROXY TCP4 evil 127.0.0.1 1 1883\r\n')]) {
    const c = await rawTcp(t, r.port());
    c.sendRaw(bytes);
    await c.waitClosed();
    assert.equal(c.received.length, 0);
  }
  // Our client connecting straight to the port (bypassing the balancer) fails.
  await assert.rejects(ourClient(t, `mqtt://127.0.0.1:${r.port()}`, { connectTimeout: 2000 }));
  assert.equal(r.connected.length, 0);
});

test('PROXY: MQTT.js and our client through a load balancer that sends a v2 header', async (t) => {
  const r = await proxied(t);
  // The balancer: accepts a client, connects to the broker, claims the client is 192.0.2.77:<its port>.
  const sockets = new Set<Socket>();
  const balancer = createNetServer((downstream) => {
    const upstream = netConnect({ host: '127.0.0.1', port: r.port() });
    sockets.add(downstream).add(upstream);
    upstream.write(v2(4, '192.0.2.77', downstream.remotePort ?? 0));
    downstream.pipe(upstream).pipe(downstream);
    const close = () => {
      downstream.destroy();
      upstream.destroy();
    };
    downstream.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
  });
  await new Promise<void>((resolve) => balancer.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => balancer.close(() => resolve()));
  });
  const address = balancer.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;

  const sub = await ourClient(t, `mqtt://127.0.0.1:${port}`, { clientId: 'behind-lb' });
  await sub.subscribe('lb/#', { qos: 1 });
  const got = new Promise<string>((resolve) => sub.on('message', (_tp, payload) => resolve(payload.toString())));
  const pub = await mqttjsConnect(`mqtt://127.0.0.1:${port}`, { clientId: 'mqttjs-lb', reconnectPeriod: 0, connectTimeout: 3000 });
  t.after(() => pub.endAsync(true));
  await pub.publishAsync('lb/x', 'through the balancer', { qos: 1 });
  assert.equal(await got, 'through the balancer');
  await waitUntil(() => r.connected.length === 2, 'both clients');
  assert.deepEqual(
    r.connected.map((c) => c.remoteAddress),
    ['192.0.2.77', '192.0.2.77'],
  );
  assert.ok(r.connected.every((c) => c.remotePort !== 0 && c.remotePort !== r.port()));
});
