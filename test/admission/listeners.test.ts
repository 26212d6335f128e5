import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { type TestContext, test } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { WebSocket } from 'ws';
import type { BrokerHooks } from '../../src/broker/hooks.js';
import { silentLogger } from '../../src/broker/logger.js';
import type { MozzieConfigInput } from '../../src/config/index.js';
import { PacketType, type ProtocolVersion, ReasonCode } from '../../src/protocol/index.js';
import { createServer, type MozzieServer } from '../../src/server/server.js';
import { webSocketStream } from '../../src/transport/ws.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { PacketClient } from '../helpers/packet-client.js';

// Linux routes all of 127.0.0.0/8 to loopback: binding the client side to 127.0.0.2 makes a second source
// address next to 127.0.0.1.
const FLOOD = '127.0.0.2';
const OTHER = '127.0.0.1';
const noOpenssl = existsSync('/usr/bin/openssl') ? false : 'openssl not installed';

interface Running {
  readonly server: MozzieServer;
  readonly clock: FakeClock;
  port(kind: string): number;
  /** Registers a client stream to destroy when the test ends (before the server stops). */
  track(s: Duplex): Duplex;
}

async function start(t: TestContext, config: MozzieConfigInput, hooks: readonly BrokerHooks[] = []): Promise<Running> {
  const clock = new FakeClock();
  const track = tracker(t);
  const server = createServer(
    { listeners: [{ type: 'tcp', host: '127.0.0.1', port: 0 }], sys: { interval: 0 }, ...config },
    { clock, logger: silentLogger, hooks },
  );
  await server.start();
  t.after(() => server.stop());
  return {
    server,
    clock,
    track,
    port: (kind) => {
      const l = server.listeners.find((x) => x.kind === kind);
      assert.ok(l !== undefined, kind);
      return l.port;
    },
  };
}

/** Every client a test opens, closed when it ends (after hooks run in order: before the server stops). */
function tracker(t: TestContext): (s: Duplex) => Duplex {
  const open: Duplex[] = [];
  t.after(() => {
    for (const s of open) s.destroy();
  });
  return (s) => {
    open.push(s);
    return s;
  };
}

function settled(s: Duplex, event: string): Promise<boolean> {
  return new Promise((resolve) => {
    s.once(event, () => resolve(true));
    s.once('error', () => resolve(false));
    s.once('close', () => resolve(false));
  });
}

function tcp(port: number, from: string): Socket {
  return netConnect({ host: '127.0.0.1', port, localAddress: from });
}

type Outcome = number | 'closed';

/**
 * Opens a connection from `from`, sends CONNECT once it is up, and says what came back: the CONNACK
 * reason code, or 'closed' when the connection was closed without one.
 */
async function attempt(
  open: () => Duplex | Promise<Duplex | undefined>,
  version: ProtocolVersion = 5,
  fields: Partial<{ clientId: string; username: string; password: Buffer }> = {},
): Promise<{ outcome: Outcome; client: PacketClient | undefined }> {
  const stream = await open();
  if (stream === undefined) return { outcome: 'closed', client: undefined };
  const client = new PacketClient(stream, version);
  client.send({
    type: PacketType.Connect,
    protocolVersion: version,
    clientId: fields.clientId ?? '',
    clean: true,
    keepAlive: 0,
    ...fields,
  });
  // Polled rather than awaited with expect(): no timer outlives the answer.
  await waitFor(() => client.closed || client.received.some((p) => p.type === PacketType.Connack), 3000);
  const ack = client.received.find((p) => p.type === PacketType.Connack);
  return { outcome: ack?.type === PacketType.Connack ? ack.reasonCode : 'closed', client };
}

/** A TCP connection that reports up or closed. */
function tcpOpener(port: number, from: string, track: (s: Duplex) => Duplex): () => Promise<Duplex | undefined> {
  return async () => {
    const s = track(tcp(port, from));
    return (await settled(s, 'connect')) ? s : undefined;
  };
}

function wsOpener(port: number, from: string, track: (s: Duplex) => Duplex): () => Promise<Duplex | undefined> {
  return () =>
    new Promise((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/mqtt`, 'mqtt', { localAddress: from });
      ws.once('open', () => resolve(track(webSocketStream(ws))));
      ws.once('error', () => resolve(undefined));
      ws.once('close', () => resolve(undefined));
    });
}

function tlsOpener(port: number, from: string, track: (s: Duplex) => Duplex): () => Promise<Duplex | undefined> {
  return async () => {
    const s = track(tlsConnect({ socket: tcp(port, from), rejectUnauthorized: false, servername: 'localhost' }));
    return (await settled(s, 'secureConnect')) ? s : undefined;
  };
}

function certificate(t: TestContext): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'mozzie-admission-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const [cert, key] = [join(dir, 'cert.pem'), join(dir, 'key.pem')];
  execFileSync(
    '/usr/bin/openssl',
    [
      ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1'],
      ...['-keyout', key, '-out', cert, '-subj', '/CN=localhost'],
    ],
    { stdio: 'ignore' },
  );
  return { cert, key };
}

async function waitFor(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 2));
  }
}

// ---- connection rate ----------------------------------------------------------------------------------

test('connectionRate: a flood from 127.0.0.2 is throttled at accept while 127.0.0.1 connects normally; refills with time', async (t) => {
  const { server, clock, port, track } = await start(t, { admission: { connectionRate: 5, connectionBurst: 5 } });
  const flood = await Promise.all(Array.from({ length: 12 }, () => attempt(tcpOpener(port('tcp'), FLOOD, track))));
  const outcomes = flood.map((r) => r.outcome);
  assert.equal(outcomes.filter((o) => o === 0).length, 5, `admitted: ${outcomes.join(',')}`);
  assert.equal(outcomes.filter((o) => o === 'closed').length, 7);
  for (let i = 0; i < 5; i++)
    assert.equal((await attempt(tcpOpener(port('tcp'), OTHER, track))).outcome, 0, 'the other address is not throttled');
  assert.equal(server.broker.metrics.limitHits.get('connectionRate'), 7);
  assert.equal(server.broker.metrics.connectionsAccepted, 10, 'refused connections never reach the broker');
  clock.advance(400);
  assert.equal((await attempt(tcpOpener(port('tcp'), FLOOD, track))).outcome, 0, 'two tokens back after 400 ms');
  assert.equal((await attempt(tcpOpener(port('tcp'), FLOOD, track))).outcome, 0);
  assert.equal((await attempt(tcpOpener(port('tcp'), FLOOD, track))).outcome, 'closed');
});

test('connectionRate on a TLS listener: a refused connection is closed before any TLS byte is exchanged', {
  skip: noOpenssl,
}, async (t) => {
  const { cert, key } = certificate(t);
  const { server, port, track } = await start(t, {
    listeners: [{ type: 'tls', host: '127.0.0.1', port: 0, cert, key }],
    admission: { connectionRate: 1, connectionBurst: 1 },
  });
  assert.equal((await attempt(tlsOpener(port('tls'), FLOOD, track))).outcome, 0);
  // A raw TCP connection that sends nothing: admitted, the TLS server waits for a ClientHello; refused,
  // it is closed at once without a byte.
  const refused = track(tcp(port('tls'), FLOOD));
  let bytes = 0;
  refused.on('data', (b: Buffer) => {
    bytes += b.length;
  });
  assert.equal(await settled(refused, 'end'), true, 'closed by the server');
  assert.equal(bytes, 0);
  const waiting = track(tcp(port('tls'), OTHER));
  assert.equal(await settled(waiting, 'connect'), true);
  const stillOpen = await Promise.race([settled(waiting, 'end'), new Promise<string>((r) => setTimeout(() => r('open'), 150))]);
  assert.equal(stillOpen, 'open', 'an admitted connection waits for its handshake');
  assert.equal(server.broker.metrics.limitHits.get('connectionRate'), 1);
});

// ---- per-address maximum, released for every transport -------------------------------------------------

test('maxConnectionsPerAddress over TCP, WebSocket and TLS: refused at accept at the limit, released when any of them closes', {
  skip: noOpenssl,
}, async (t) => {
  const { cert, key } = certificate(t);
  const { server, port, track } = await start(t, {
    listeners: [
      { type: 'tcp', host: '127.0.0.1', port: 0 },
      { type: 'ws', host: '127.0.0.1', port: 0 },
      { type: 'tls', host: '127.0.0.1', port: 0, cert, key },
    ],
    admission: { maxConnectionsPerAddress: 3 },
  });
  const admission = server.admission;
  const viaTcp = await attempt(tcpOpener(port('tcp'), FLOOD, track));
  const viaWs = await attempt(wsOpener(port('ws'), FLOOD, track));
  const viaTls = await attempt(tlsOpener(port('tls'), FLOOD, track));
  assert.deepEqual([viaTcp.outcome, viaWs.outcome, viaTls.outcome], [0, 0, 0]);
  assert.equal(admission.connectionsFrom(FLOOD), 3);
  assert.equal((await attempt(tcpOpener(port('tcp'), FLOOD, track))).outcome, 'closed');
  assert.equal((await attempt(wsOpener(port('ws'), FLOOD, track))).outcome, 'closed');
  assert.equal((await attempt(tlsOpener(port('tls'), FLOOD, track))).outcome, 'closed');
  for (const opener of [tcpOpener(port('tcp'), OTHER, track), wsOpener(port('ws'), OTHER, track), tlsOpener(port('tls'), OTHER, track)])
    assert.equal((await attempt(opener)).outcome, 0, 'another address is not limited');
  assert.equal(server.broker.metrics.limitHits.get('maxConnectionsPerAddress'), 3);

  // Released when each transport's stream closes, whoever closes it.
  viaWs.client?.end();
  await waitFor(() => admission.connectionsFrom(FLOOD) === 2);
  const again = await attempt(wsOpener(port('ws'), FLOOD, track));
  assert.equal(again.outcome, 0);
  viaTls.client?.end();
  await waitFor(() => admission.connectionsFrom(FLOOD) === 2);
  // The server closing (a protocol error: a second CONNECT) releases too.
  viaTcp.client?.send({ type: PacketType.Connect, protocolVersion: 5, clientId: '', clean: true, keepAlive: 0 });
  await viaTcp.client?.waitClosed();
  await waitFor(() => admission.connectionsFrom(FLOOD) === 1);
  again.client?.end();
  await waitFor(() => admission.connectionsFrom(FLOOD) === 0);
});

test('maxConnectionsPerAddress: connections refused at CONNECT and dropped before it release their count', async (t) => {
  const { server, port, track } = await start(t, { allowAnonymous: false, admission: { maxConnectionsPerAddress: 2 } });
  for (let i = 0; i < 5; i++) assert.equal((await attempt(tcpOpener(port('tcp'), FLOOD, track))).outcome, ReasonCode.NotAuthorized);
  await waitFor(() => server.admission.connectionsFrom(FLOOD) === 0);
  for (let i = 0; i < 5; i++) {
    const s = track(tcp(port('tcp'), FLOOD));
    assert.equal(await settled(s, 'connect'), true);
    s.destroy();
  }
  await waitFor(() => server.admission.connectionsFrom(FLOOD) === 0);
  assert.equal(server.broker.metrics.limitHits.get('maxConnectionsPerAddress'), undefined);
});

test('PROXY protocol listener: admission control counts the address from the header, not the balancer', async (t) => {
  const { port, track } = await start(t, {
    listeners: [{ type: 'tcp', host: '127.0.0.1', port: 0, proxyProtocol: true }],
    admission: { connectionRate: 1, connectionBurst: 1 },
  });
  const via = (client: string) => async () => {
    const s = track(tcp(port('tcp'), OTHER));
    if (!(await settled(s, 'connect'))) return undefined;
    s.write(`PROXY TCP4 ${client} 127.0.0.1 40000 1883\r\n`);
    return s;
  };
  assert.equal((await attempt(via('198.51.100.1'))).outcome, 0);
  assert.equal((await attempt(via('198.51.100.1'))).outcome, 'closed');
  assert.equal((await attempt(via('198.51.100.2'))).outcome, 0, 'all come from 127.0.0.1, yet each client has its own bucket');
});

// ---- connect timeout ----------------------------------------------------------------------------------

test('limits.connectTimeout: a TCP connection that sends no CONNECT is closed when it runs out (fake clock)', async (t) => {
  const { server, clock, port, track } = await start(t, { limits: { connectTimeout: 3000 } });
  const s = track(tcp(port('tcp'), FLOOD));
  assert.equal(await settled(s, 'connect'), true);
  await waitFor(() => server.broker.connectionCount === 1);
  clock.advance(2999);
  const early = await Promise.race([settled(s, 'end'), new Promise<string>((r) => setTimeout(() => r('open'), 50))]);
  assert.equal(early, 'open');
  clock.advance(1);
  assert.equal(await settled(s, 'end'), true);
  assert.equal(server.broker.metrics.closes.get('connect-timeout'), 1);
});

// ---- bans ---------------------------------------------------------------------------------------------

const passwordHook: BrokerHooks = {
  name: 'passwords',
  authenticate: (e) => (e.password?.toString() === 'right' ? 'allow' : 'deny'),
};

test('ban by address: after 3 failed logins 127.0.0.2 is closed at accept, 127.0.0.1 is not; the ban expires', async (t) => {
  const { server, clock, port, track } = await start(
    t,
    { allowAnonymous: false, admission: { ban: { failures: 3, window: 10_000, duration: 60_000, scope: 'address' } } },
    [passwordHook],
  );
  const bad = { username: 'u', password: Buffer.from('wrong') };
  for (let i = 0; i < 3; i++)
    assert.equal(
      (await attempt(tcpOpener(port('tcp'), FLOOD, track), 5, { clientId: `c${i}`, ...bad })).outcome,
      ReasonCode.BadUserNameOrPassword,
    );
  const good = { username: 'u', password: Buffer.from('right') };
  assert.equal((await attempt(tcpOpener(port('tcp'), FLOOD, track), 5, { clientId: 'ok', ...good })).outcome, 'closed');
  assert.equal((await attempt(tcpOpener(port('tcp'), OTHER, track), 5, { clientId: 'ok', ...good })).outcome, 0);
  assert.equal(server.broker.metrics.bans, 1);
  assert.equal(server.broker.metrics.limitHits.get('banned'), 1);
  clock.advance(60_000);
  assert.equal((await attempt(tcpOpener(port('tcp'), FLOOD, track), 5, { clientId: 'ok2', ...good })).outcome, 0);
});

test('[MQTT-3.2.2-8/5.0] [MQTT-3.2.2-7/5.0] ban by client id: CONNACK 0x8A Banned even with the right password; 3.1.1 gets 5; it expires', async (t) => {
  const { server, clock, port, track } = await start(
    t,
    { allowAnonymous: false, admission: { ban: { failures: 3, window: 10_000, duration: 30_000, scope: 'clientId' } } },
    [passwordHook],
  );
  const bad = { clientId: 'device-1', username: 'u', password: Buffer.from('wrong') };
  const good = { clientId: 'device-1', username: 'u', password: Buffer.from('right') };
  // The failures come from two addresses: the client id is what is counted.
  for (const from of [FLOOD, OTHER, FLOOD]) assert.equal((await attempt(tcpOpener(port('tcp'), from, track), 5, bad)).outcome, 0x86);
  const banned = await attempt(tcpOpener(port('tcp'), OTHER, track), 5, good);
  assert.equal(banned.outcome, ReasonCode.Banned);
  await banned.client?.waitClosed();
  assert.equal((await attempt(tcpOpener(port('tcp'), OTHER, track), 4, good)).outcome, 5);
  assert.equal((await attempt(tcpOpener(port('tcp'), FLOOD, track), 5, { ...good, clientId: 'device-2' })).outcome, 0);
  assert.equal(server.broker.metrics.limitHits.get('banned'), 2);
  clock.advance(30_000);
  assert.equal((await attempt(tcpOpener(port('tcp'), OTHER, track), 5, good)).outcome, 0);
});
