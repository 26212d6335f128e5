/**
 * Socket-level fuzz: a broker on TCP takes a few seconds of abuse from many concurrent "bad" clients
 * (random bytes, mutated valid packets, garbage after a valid CONNECT, huge Remaining Lengths, slowloris
 * dribbles), while two well-behaved MQTT.js clients keep exchanging QoS 1 messages. Every good message
 * must arrive intact and in order, the process must never see an uncaught exception, the broker must log
 * no internal error, every bad connection must end closed, and the broker must be left with exactly the
 * two good connections.
 *
 * Inputs are deterministic from one seed (MOZZIE_FUZZ_SEED, default below); network timing is not, so a
 * failure prints the seed to rerun the same inputs with.
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { connect as netConnect, type Socket } from 'node:net';
import { type TestContext, test } from 'node:test';
import fc from 'fast-check';
import { Broker } from '../../src/broker/broker.js';
import type { Connection } from '../../src/broker/connection.js';
import type { Logger } from '../../src/broker/logger.js';
import { type ConnectPacket, encodePacket, Framer, type Packet, PacketType, type ProtocolVersion } from '../../src/protocol/index.js';
import { listenTcp } from '../../src/transport/tcp.js';
import { waitUntil } from '../helpers/child.js';
import { Inbox, mqttjs } from '../interop/mqttjs-support.js';
import { anyPacket, connectPacket } from '../protocol/arbitraries.js';

const SEED = Number(process.env['MOZZIE_FUZZ_SEED'] ?? 0x6d6f7a7a);
/** How long new bad clients keep being started. */
const FUZZ_MS = 2500;
/** Bad clients open at once. */
const CONCURRENCY = 24;
const MAX_PACKET = 32 * 1024;
const CONNECT_TIMEOUT = 600;
/** How long a bad client waits for the broker to close it before closing itself. */
const LINGER_MS = CONNECT_TIMEOUT + 600;

/** mulberry32: small, fast, seedable. */
class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  }
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  bool(p = 0.5): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)] as T;
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(0, 255);
    return b;
  }
}

type Kind =
  | 'random-bytes'
  | 'mutated'
  | 'connect-then-invalid'
  | 'connect-then-garbage'
  | 'huge-length'
  | 'slowloris-before-connect'
  | 'slowloris-keepalive'
  | 'chunked-valid';

interface Plan {
  readonly n: number;
  readonly kind: Kind;
  readonly version: ProtocolVersion;
  /** Byte chunks to send, with a pause (ms) before each. */
  readonly chunks: readonly { readonly pause: number; readonly bytes: Buffer }[];
  /** The broker must close this connection (not the test at the end of its linger). */
  readonly mustClose: boolean;
  /** 5.0 only: the DISCONNECT Reason Codes acceptable before the close (any >= 0x80 when empty). */
  readonly reasons?: readonly number[];
  readonly lingerMs: number;
  readonly label: string;
}

interface Outcome {
  readonly plan: Plan;
  closedByBroker: boolean;
  received: Buffer;
  /** The broker's side of the connection. */
  connection: Connection | undefined;
  openedAt: number;
  closedAt: number;
}

// ---- plans ----------------------------------------------------------------------------------------

const versions: readonly ProtocolVersion[] = [3, 4, 5];

/** Valid packets from the codec's own arbitraries, deterministic from the seed. */
function samplePackets(seed: number): { connects: Map<ProtocolVersion, ConnectPacket[]>; others: Map<ProtocolVersion, Packet[]> } {
  const connects = new Map<ProtocolVersion, ConnectPacket[]>();
  const others = new Map<ProtocolVersion, Packet[]>();
  for (const v of versions) {
    connects.set(v, fc.sample(connectPacket(v), { seed: seed + v, numRuns: 150 }));
    others.set(v, fc.sample(anyPacket(v), { seed: seed + 10 + v, numRuns: 400 }));
  }
  return { connects, others };
}

function validConnect(version: ProtocolVersion, n: number, keepAlive = 0): Buffer {
  return encodePacket({ type: PacketType.Connect, protocolVersion: version, clientId: `fz${n}`, clean: true, keepAlive }, version);
}

/** Packets no server may accept after CONNECT: each must close the connection. */
function invalidAfterConnect(version: ProtocolVersion, n: number): { label: string; bytes: Buffer; reasons: readonly number[] }[] {
  const v5 = version === 5;
  const props = v5 ? [0x00] : [];
  return [
    { label: 'reserved packet type 0', bytes: Buffer.from([0x00, 0x00]), reasons: [0x81] },
    { label: 'PUBLISH with QoS 3', bytes: Buffer.from([0x36, 0x06, 0x00, 0x01, 0x61, 0x00, 0x01, 0x78]), reasons: [0x81] },
    {
      label: 'SUBSCRIBE with flags 0',
      bytes: Buffer.from([0x80, 0x06 + props.length, 0x00, 0x01, ...props, 0x00, 0x01, 0x61, 0x00]),
      reasons: [0x81],
    },
    { label: 'PUBREL with flags 0', bytes: Buffer.from([0x60, 0x02, 0x00, 0x01]), reasons: [0x81] },
    { label: 'PINGREQ with a body', bytes: Buffer.from([0xc0, 0x01, 0x00]), reasons: [0x81] },
    { label: 'a second CONNECT', bytes: validConnect(version, n), reasons: [0x82] },
    { label: 'CONNACK from a client', bytes: Buffer.from([0x20, 0x02 + props.length, 0x00, 0x00, ...props]), reasons: [0x81, 0x82] },
    {
      label: 'PUBLISH to an empty topic',
      bytes: Buffer.from([0x30, 0x02 + props.length, 0x00, 0x00, ...props]),
      reasons: [0x81, 0x82, 0x90],
    },
    {
      label: 'PUBLISH to a wildcard topic',
      bytes: Buffer.from([0x30, 0x05 + props.length, 0x00, 0x03, 0x61, 0x2f, 0x23, ...props]),
      reasons: [0x81, 0x82, 0x90],
    },
    {
      label: 'SUBSCRIBE with no topic filter',
      bytes: Buffer.from([0x82, 0x02 + props.length, 0x00, 0x01, ...props]),
      reasons: [0x81, 0x82],
    },
    {
      label: 'PUBLISH QoS 1 with Packet Identifier 0',
      bytes: Buffer.from([0x32, 0x05 + props.length, 0x00, 0x01, 0x61, 0x00, 0x00, ...props]),
      reasons: [0x81, 0x82],
    },
    { label: 'Remaining Length of 5 bytes', bytes: Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]), reasons: [0x81] },
    {
      label: 'Remaining Length over the maximum packet size',
      bytes: Buffer.from([0x30, 0xff, 0xff, 0xff, 0x7f, 0x00, 0x01]),
      reasons: [0x95],
    },
  ];
}

function mutate(rng: Rng, bytes: Buffer): Buffer {
  let b = Buffer.from(bytes);
  const steps = rng.int(1, 4);
  for (let s = 0; s < steps && b.length > 0; s++) {
    const i = rng.int(0, b.length - 1);
    switch (rng.int(0, 5)) {
      case 0: // flip bits
        b[i] = (b[i] ?? 0) ^ (1 << rng.int(0, 7));
        break;
      case 1: // truncate
        b = b.subarray(0, i);
        break;
      case 2: {
        // duplicate a slice
        const j = rng.int(i, Math.min(b.length, i + 64));
        b = Buffer.concat([b.subarray(0, j), b.subarray(i, j), b.subarray(j)]);
        break;
      }
      case 3: // insert random bytes
        b = Buffer.concat([b.subarray(0, i), rng.bytes(rng.int(1, 16)), b.subarray(i)]);
        break;
      case 4: // random byte
        b[i] = rng.int(0, 255);
        break;
      default: {
        // swap two bytes
        const j = rng.int(0, b.length - 1);
        const x = b[i] ?? 0;
        b[i] = b[j] ?? 0;
        b[j] = x;
      }
    }
  }
  return b;
}

/** Splits bytes into chunks of random sizes with short random pauses. */
function chunked(rng: Rng, bytes: Buffer, maxPause = 3): { pause: number; bytes: Buffer }[] {
  const out: { pause: number; bytes: Buffer }[] = [];
  let i = 0;
  while (i < bytes.length) {
    const size = rng.bool(0.3) ? 1 : rng.int(1, 200);
    out.push({ pause: rng.bool(0.5) ? 0 : rng.int(0, maxPause), bytes: bytes.subarray(i, i + size) });
    i += size;
  }
  return out;
}

function makePlan(rng: Rng, n: number, pool: ReturnType<typeof samplePackets>): Plan {
  const version = rng.pick(versions);
  const kind = rng.pick<Kind>([
    'random-bytes',
    'mutated',
    'mutated',
    'connect-then-invalid',
    'connect-then-garbage',
    'huge-length',
    'slowloris-before-connect',
    'slowloris-keepalive',
    'chunked-valid',
  ]);
  const base = { n, kind, version, lingerMs: LINGER_MS };
  const sequence = (): Buffer => {
    const connect = rng.pick(pool.connects.get(version) ?? []);
    const packets: Buffer[] = [encodePacket(connect, version)];
    const others = pool.others.get(version) ?? [];
    for (let i = rng.int(0, 5); i > 0; i--) packets.push(encodePacket(rng.pick(others), version));
    return Buffer.concat(packets);
  };
  switch (kind) {
    case 'random-bytes': {
      const bytes = rng.bytes(rng.int(1, 1500));
      return { ...base, chunks: chunked(rng, bytes), mustClose: false, label: `${bytes.length} random bytes` };
    }
    case 'mutated':
      return { ...base, chunks: chunked(rng, mutate(rng, sequence())), mustClose: false, label: 'mutated packets' };
    case 'chunked-valid':
      return { ...base, chunks: chunked(rng, sequence(), 10), mustClose: false, label: 'valid packets in small chunks' };
    case 'connect-then-invalid': {
      const bad = rng.pick(invalidAfterConnect(version, n));
      return {
        ...base,
        chunks: [{ pause: 0, bytes: validConnect(version, n) }, ...chunked(rng, bad.bytes)],
        mustClose: true,
        reasons: bad.reasons,
        label: bad.label,
      };
    }
    case 'connect-then-garbage': {
      // Type 0 is reserved: whatever follows, the first byte is already malformed.
      const garbage = Buffer.concat([Buffer.from([rng.int(0x00, 0x0f)]), rng.bytes(rng.int(0, 300))]);
      return {
        ...base,
        chunks: [{ pause: 0, bytes: validConnect(version, n) }, ...chunked(rng, garbage)],
        mustClose: true,
        reasons: [0x81],
        label: 'CONNECT then garbage',
      };
    }
    case 'huge-length': {
      const before = rng.bool();
      const length = rng.pick([MAX_PACKET + 1, 1_000_000, 268_435_455]);
      const header = Buffer.from([before ? 0x10 : 0x30, ...vbi(length)]);
      const bytes = Buffer.concat([before ? Buffer.alloc(0) : validConnect(version, n), header, rng.bytes(rng.int(0, 64))]);
      return {
        ...base,
        chunks: chunked(rng, bytes),
        mustClose: true,
        reasons: [0x95],
        label: `Remaining Length ${length} ${before ? 'before' : 'after'} CONNECT`,
      };
    }
    case 'slowloris-before-connect': {
      const bytes = validConnect(version, n).subarray(0, rng.int(1, 12));
      return {
        ...base,
        chunks: [...bytes].map((b) => ({ pause: 150, bytes: Buffer.from([b]) })),
        mustClose: true,
        label: `${bytes.length} bytes of CONNECT, one per 150 ms`,
      };
    }
    case 'slowloris-keepalive': {
      // Keep Alive 1 s, then one byte of a PUBLISH that never completes every 200 ms: bytes are not
      // Control Packets, so 1.5 s after CONNECT the server must close. [MQTT-3.1.2-22/5.0] [MQTT-3.1.2-24/3.1.1]
      const publish = encodePacket(
        { type: PacketType.Publish, topic: 'fz/slow', payload: Buffer.alloc(100), qos: 0, retain: false, dup: false },
        version,
      );
      const dribble = [...publish.subarray(0, 12)].map((b) => ({ pause: 200, bytes: Buffer.from([b]) }));
      return {
        ...base,
        chunks: [{ pause: 0, bytes: validConnect(version, n, 1) }, ...dribble],
        mustClose: true,
        reasons: [0x8d],
        lingerMs: 2400,
        label: 'keep alive 1 s, partial PUBLISH dribbled',
      };
    }
  }
}

function vbi(value: number): number[] {
  const out: number[] = [];
  do {
    let byte = value % 128;
    value = Math.floor(value / 128);
    if (value > 0) byte |= 0x80;
    out.push(byte);
  } while (value > 0);
  return out;
}

// ---- running bad clients ----------------------------------------------------------------------------

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Connects, sends the plan, and waits for the broker to close the socket or the linger to run out. */
async function runBad(port: number, plan: Plan, accepted: Map<number, Connection>): Promise<Outcome> {
  const socket: Socket = netConnect({ host: '127.0.0.1', port });
  socket.setNoDelay(true);
  const outcome: Outcome = {
    plan,
    closedByBroker: false,
    received: Buffer.alloc(0),
    connection: undefined,
    openedAt: Date.now(),
    closedAt: 0,
  };
  const received: Buffer[] = [];
  let closingOurselves = false;
  let closed = false;
  const done = new Promise<void>((resolve) => {
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    // Writes after the broker closed fail with EPIPE / ECONNRESET: expected, the close is what counts.
    socket.on('error', () => undefined);
    const onClosed = () => {
      if (closed) return;
      closed = true;
      outcome.closedByBroker = !closingOurselves;
      outcome.closedAt = Date.now();
      resolve();
    };
    socket.on('end', onClosed);
    socket.on('close', onClosed);
  });
  await new Promise<void>((resolve) => {
    socket.once('connect', resolve);
    socket.once('close', () => resolve());
  });
  // The broker's Connection for this socket, found by our local port (its remote port).
  const local = socket.localPort;
  if (local !== undefined) {
    for (let i = 0; i < 50 && !accepted.has(local); i++) await delay(2);
    outcome.connection = accepted.get(local);
    accepted.delete(local);
  }
  for (const chunk of plan.chunks) {
    if (closed) break;
    if (chunk.pause > 0) await delay(chunk.pause);
    if (closed || socket.destroyed) break;
    socket.write(chunk.bytes);
  }
  const lingerEnd = outcome.openedAt + plan.lingerMs;
  await Promise.race([done, delay(Math.max(0, lingerEnd - Date.now()))]);
  if (!closed) {
    closingOurselves = true;
    socket.destroy();
    await done;
  }
  outcome.received = Buffer.concat(received);
  return outcome;
}

/** The packets the broker sent on a connection (it only ever sends valid ones). */
function decodeServerBytes(bytes: Buffer, version: ProtocolVersion): Packet[] {
  const packets: Packet[] = [];
  const framer = new Framer({ protocolVersion: version });
  framer.push(bytes, (p) => packets.push(p));
  return packets;
}

// ---- good clients ---------------------------------------------------------------------------------

function goodPayload(name: string, seq: number): Buffer {
  const body = Buffer.alloc((seq * 131) % 700);
  for (let i = 0; i < body.length; i++) body[i] = (i * 7 + seq) & 0xff;
  return Buffer.concat([Buffer.from(`${name}:${seq}:`), body]);
}

// ---- the test ---------------------------------------------------------------------------------------

test('[MQTT-4.13.1-1] [MQTT-3.1.2-22/5.0] [MQTT-3.1.2-24/3.1.1] fuzz: 24 concurrent bad clients never disturb two good MQTT.js clients', async (t: TestContext) => {
  t.diagnostic(`fuzz seed ${SEED} (rerun with MOZZIE_FUZZ_SEED=${SEED})`);
  const uncaught: unknown[] = [];
  const onUncaught = (err: unknown) => uncaught.push(err);
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);
  t.after(() => {
    process.off('uncaughtException', onUncaught);
    process.off('unhandledRejection', onUncaught);
  });

  const internalErrors: string[] = [];
  const noop = () => undefined;
  const logger: Logger = {
    debug: noop,
    info: noop,
    warn: noop,
    error: (message, fields) => internalErrors.push(`${message} ${JSON.stringify(fields)}`),
  };
  const broker = new Broker({ sysInterval: 0, logger, limits: { maxPacketSize: MAX_PACKET, connectTimeout: CONNECT_TIMEOUT } });
  const accepted = new Map<number, Connection>();
  const listener = await listenTcp({ host: '127.0.0.1', port: 0 }, (stream, info) => {
    const c = broker.handle(stream, info);
    if (info.remotePort !== undefined) accepted.set(info.remotePort, c);
  });
  t.after(async () => {
    await broker.close();
    await listener.close();
  });
  const url = `mqtt://127.0.0.1:${listener.port}`;

  try {
    // Two good clients, one per protocol version, each subscribed to both publishers' topics.
    const good = [
      { name: 'a', client: await mqttjs(t, url, { protocolVersion: 4, clientId: 'good-a', keepalive: 5 }) },
      { name: 'b', client: await mqttjs(t, url, { protocolVersion: 5, clientId: 'good-b', keepalive: 5 }) },
    ];
    const inboxes = good.map((g) => new Inbox(g.client));
    let goodCloses = 0;
    for (const g of good) {
      await g.client.subscribeAsync('good/+', { qos: 1 });
      g.client.on('close', () => goodCloses++);
    }

    const rng = new Rng(SEED);
    const pool = samplePackets(SEED);
    const deadline = Date.now() + FUZZ_MS;
    const sent = new Map<string, number>();
    const publishers = good.map(async (g) => {
      let seq = 0;
      while (Date.now() < deadline) {
        await g.client.publishAsync(`good/${g.name}`, goodPayload(g.name, seq), { qos: 1 });
        seq++;
        await delay(15);
      }
      sent.set(g.name, seq);
    });

    const outcomes: Outcome[] = [];
    let started = 0;
    const workers = Array.from({ length: CONCURRENCY }, async () => {
      while (Date.now() < deadline) {
        const plan = makePlan(rng, started++, pool);
        outcomes.push(await runBad(listener.port, plan, accepted));
      }
    });
    await Promise.all([...publishers, ...workers]);

    // Every good message arrived, once, intact and in order, at both good clients.
    for (const [i, inbox] of inboxes.entries()) {
      const total = (sent.get('a') ?? 0) + (sent.get('b') ?? 0);
      await waitUntil(
        () => inbox.messages.filter((m) => m.topic.startsWith('good/')).length >= total,
        `good client ${i} to receive ${total}`,
        5000,
      );
      for (const name of ['a', 'b']) {
        const got = inbox.messages.filter((m) => m.topic === `good/${name}`).map((m) => m.packet.payload);
        const expected = Array.from({ length: sent.get(name) ?? 0 }, (_, seq) => goodPayload(name, seq));
        assert.equal(got.length, expected.length, `good client ${i}: messages from ${name}`);
        for (const [seq, payload] of got.entries()) {
          assert.ok(
            Buffer.isBuffer(payload) && payload.equals(expected[seq] ?? Buffer.alloc(0)),
            `good client ${i}: message ${name}:${seq} intact and in order`,
          );
        }
      }
    }
    assert.equal(goodCloses, 0, 'no good client was disconnected');

    // Every bad connection ended; those the broker had to close, it closed.
    const problems: string[] = [];
    for (const o of outcomes) {
      const p = o.plan;
      const what = `#${p.n} ${p.kind} v${p.version} (${p.label})`;
      if (o.connection === undefined) {
        problems.push(`${what}: no broker connection found`);
        continue;
      }
      if (o.connection.state !== 'closed') problems.push(`${what}: broker connection still ${o.connection.state}`);
      const wasConnected = o.connection.session !== undefined;
      if (!wasConnected && !o.closedByBroker) problems.push(`${what}: never sent a complete CONNECT but the broker kept it open`);
      if (p.mustClose && !o.closedByBroker) problems.push(`${what}: the broker did not close it`);
      if (p.mustClose && wasConnected && p.version === 5) {
        let packets: Packet[] = [];
        try {
          packets = decodeServerBytes(o.received, 5);
        } catch (err) {
          problems.push(`${what}: the broker sent bytes that do not decode: ${String(err)}`);
        }
        const last = packets.at(-1);
        if (last?.type !== PacketType.Disconnect) {
          problems.push(`${what}: no DISCONNECT before the close (got ${packets.map((x) => x.type).join(',')})`);
        } else if (p.reasons !== undefined ? !p.reasons.includes(last.reasonCode) : last.reasonCode < 0x80) {
          problems.push(
            `${what}: DISCONNECT 0x${last.reasonCode.toString(16)}, expected ${p.reasons?.map((r) => `0x${r.toString(16)}`).join(' or ')}`,
          );
        }
      }
    }
    assert.deepEqual(problems, [], `${problems.length} of ${outcomes.length} bad connections misbehaved`);
    assert.ok(outcomes.length >= CONCURRENCY, `at least ${CONCURRENCY} bad connections ran (${outcomes.length})`);

    await waitUntil(
      () => broker.connectionCount === 2,
      `broker.connectionCount back to the 2 good clients (is ${broker.connectionCount})`,
      3000,
    );
    assert.equal(broker.connectedCount, 2);
    assert.deepEqual(internalErrors, [], 'the broker logged no internal error');
    assert.deepEqual(uncaught, [], 'no uncaught exception or unhandled rejection');

    const kinds = new Map<Kind, number>();
    for (const o of outcomes) kinds.set(o.plan.kind, (kinds.get(o.plan.kind) ?? 0) + 1);
    t.diagnostic(
      `${outcomes.length} bad connections (${[...kinds].map(([k, n]) => `${k} ${n}`).join(', ')}), ` +
        `${outcomes.filter((o) => o.closedByBroker).length} closed by the broker; good messages ${sent.get('a')} + ${sent.get('b')}`,
    );
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new Error(`fuzz seed ${SEED} (rerun with MOZZIE_FUZZ_SEED=${SEED}): ${message}`, { cause: err });
  }
});
