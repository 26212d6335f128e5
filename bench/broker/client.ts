import { Buffer } from 'node:buffer';
import { connect, type Socket } from 'node:net';
import { encodePacket, PacketType, type QoS } from '../../src/protocol/index.js';

/**
 * A load-generator MQTT 3.1.1 connection on a raw socket. It writes pre-encoded bytes and reads only the
 * fixed header of each incoming packet: PUBLISH packets are counted (and skipped over without a copy)
 * unless a handler asks for their bytes; the few control packets the benchmark waits for resolve waiters.
 *
 * 3.1.1 is used because it is the version all three brokers speak (Aedes has no MQTT 5).
 */

/** Called with a whole PUBLISH packet: `first` is its first byte, the body spans [bodyStart, end). */
export type PublishHandler = (conn: Conn, buf: Buffer, first: number, bodyStart: number, end: number) => void;

export interface ConnOptions {
  readonly port: number;
  readonly clientId: string;
  readonly keepAlive?: number;
  /** Counts every PUBLISH received by any connection that shares it. */
  readonly counter?: Counter;
  /** Receives whole PUBLISH packets; without one they are only counted. */
  readonly onPublish?: PublishHandler;
  /** After every socket chunk has been read: the place to top publishers up and write batched acks. */
  readonly afterData?: (conn: Conn) => void;
  /** Socket writable again after write() returned false. */
  readonly onDrain?: (conn: Conn) => void;
  /** PUBACK received (QoS 1 publishers). */
  readonly onPuback?: (conn: Conn, packetId: number) => void;
}

export class Counter {
  received = 0;
}

type Waiter = (value: number) => void;

export class Conn {
  readonly socket: Socket;
  readonly clientId: string;
  /** PUBLISH packets received on this connection. */
  received = 0;
  /** write() returned false and 'drain' has not come yet. */
  blocked = false;
  /** Free slot for the scenario's own bookkeeping (pair index, sent count...). */
  index = 0;
  sent = 0;
  closed = false;
  private readonly counter: Counter | undefined;
  private readonly onPublish: PublishHandler | undefined;
  private readonly afterData: ((conn: Conn) => void) | undefined;
  private readonly onPuback: ((conn: Conn, packetId: number) => void) | undefined;
  private readonly waiters = new Map<number, Waiter[]>();
  /** Bytes of a fixed header split across chunks. */
  private head: Buffer | undefined;
  /** Bytes still to skip of a counted PUBLISH split across chunks. */
  private skip = 0;
  /** A packet whose bytes are needed, being assembled across chunks. */
  private partial: Buffer | undefined;
  private partialFill = 0;
  private partialBody = 0;

  private constructor(socket: Socket, reader: Reader, options: ConnOptions) {
    this.socket = socket;
    reader.sink = (chunk) => this.onData(chunk);
    this.clientId = options.clientId;
    this.counter = options.counter;
    this.onPublish = options.onPublish;
    this.afterData = options.afterData;
    this.onPuback = options.onPuback;
    const onDrain = options.onDrain;
    socket.on('drain', () => {
      this.blocked = false;
      if (onDrain !== undefined) onDrain(this);
    });
    socket.on('close', () => {
      this.closed = true;
      for (const list of this.waiters.values()) for (const w of list) w(-1);
      this.waiters.clear();
    });
  }

  /** Opens the socket, sends CONNECT (clean session) and waits for a successful CONNACK. */
  static async open(options: ConnOptions): Promise<Conn> {
    const reader = new Reader();
    const socket = await openSocket(options.port, reader);
    const conn = new Conn(socket, reader, options);
    const connack = conn.wait(PacketType.Connack);
    socket.write(
      encodePacket({
        type: PacketType.Connect,
        protocolVersion: 4,
        clientId: options.clientId,
        clean: true,
        keepAlive: options.keepAlive ?? 60,
      }),
    );
    const code = await connack;
    if (code !== 0) {
      socket.destroy();
      throw new Error(`${options.clientId}: CONNACK return code ${code}`);
    }
    return conn;
  }

  /** Resolves with the first byte after the fixed header of the next packet of that type (-1 on close). */
  wait(type: number): Promise<number> {
    return new Promise((resolve, reject) => {
      if (this.closed) {
        reject(new Error(`${this.clientId}: connection closed`));
        return;
      }
      let list = this.waiters.get(type);
      if (list === undefined) {
        list = [];
        this.waiters.set(type, list);
      }
      list.push((value) => (value < 0 ? reject(new Error(`${this.clientId}: connection closed`)) : resolve(value)));
    });
  }

  /** SUBSCRIBE with one packet and wait for the SUBACK; throws if any filter was refused. */
  async subscribe(filters: readonly string[], qos: QoS, packetId = 1): Promise<void> {
    const suback = this.wait(PacketType.Suback);
    this.socket.write(
      encodePacket(
        {
          type: PacketType.Subscribe,
          packetId,
          subscriptions: filters.map((topicFilter) => ({ topicFilter, qos, noLocal: false, retainAsPublished: false, retainHandling: 0 })),
        },
        4,
      ),
    );
    const code = await suback;
    if (code >= 0x80) throw new Error(`${this.clientId}: subscription refused (0x${code.toString(16)})`);
  }

  /** PINGREQ / PINGRESP round trip: everything sent before has been read by the broker. */
  async ping(): Promise<void> {
    const pong = this.wait(PacketType.Pingresp);
    this.socket.write(PINGREQ);
    await pong;
  }

  write(buf: Buffer): boolean {
    const ok = this.socket.write(buf);
    if (!ok) this.blocked = true;
    return ok;
  }

  destroy(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    let buf = chunk;
    let pos = 0;
    if (this.partial !== undefined) {
      const p = this.partial;
      const n = Math.min(p.length - this.partialFill, chunk.length);
      chunk.copy(p, this.partialFill, 0, n);
      this.partialFill += n;
      pos = n;
      if (this.partialFill < p.length) return;
      this.partial = undefined;
      this.packet(p, this.partialBody, p.length);
    } else if (this.skip > 0) {
      const n = Math.min(this.skip, chunk.length);
      this.skip -= n;
      pos = n;
      if (this.skip > 0) return;
    } else if (this.head !== undefined) {
      buf = Buffer.concat([this.head, chunk]);
      this.head = undefined;
    }
    this.scan(buf, pos);
    if (this.afterData !== undefined) this.afterData(this);
  }

  private scan(buf: Buffer, pos: number): void {
    const len = buf.length;
    const countOnly = this.onPublish === undefined;
    while (pos < len) {
      const first = buf[pos] as number;
      let i = pos + 1;
      let remaining = 0;
      let multiplier = 1;
      let complete = false;
      while (i < len) {
        const b = buf[i++] as number;
        remaining += (b & 0x7f) * multiplier;
        if (b < 0x80) {
          complete = true;
          break;
        }
        multiplier *= 128;
      }
      if (!complete) {
        this.head = Buffer.from(buf.subarray(pos));
        return;
      }
      const end = i + remaining;
      if (countOnly && first >> 4 === PacketType.Publish) {
        this.received++;
        if (this.counter !== undefined) this.counter.received++;
        if (end > len) {
          this.skip = end - len;
          return;
        }
        pos = end;
        continue;
      }
      if (end > len) {
        const p = Buffer.allocUnsafe(end - pos);
        buf.copy(p, 0, pos, len);
        this.partial = p;
        this.partialFill = len - pos;
        this.partialBody = i - pos;
        return;
      }
      this.packet(buf.subarray(pos, end), i - pos, end - pos);
      pos = end;
    }
  }

  /** One whole packet in buf[0, end), its body starting at bodyStart. */
  private packet(buf: Buffer, bodyStart: number, end: number): void {
    const first = buf[0] as number;
    const type = first >> 4;
    if (type === PacketType.Publish) {
      this.received++;
      if (this.counter !== undefined) this.counter.received++;
      if (this.onPublish !== undefined) this.onPublish(this, buf, first, bodyStart, end);
      return;
    }
    if (type === PacketType.Puback && this.onPuback !== undefined) {
      this.onPuback(this, buf.readUInt16BE(bodyStart));
      return;
    }
    const list = this.waiters.get(type);
    const waiter = list?.shift();
    if (waiter === undefined) return;
    // CONNACK: return code is the second body byte; SUBACK: first return code after the packet id.
    let value = 0;
    if (type === PacketType.Connack) value = buf[bodyStart + 1] ?? 0;
    else if (type === PacketType.Suback) value = suback(buf, bodyStart, end);
    waiter(value);
  }
}

/** The worst return code of a SUBACK (0x80 = refused). */
function suback(buf: Buffer, bodyStart: number, end: number): number {
  let worst = 0;
  for (let i = bodyStart + 2; i < end; i++) worst = Math.max(worst, buf[i] as number);
  return worst;
}

const PINGREQ = Buffer.from([0xc0, 0x00]);

/**
 * Reads go straight from the socket into one buffer shared by every connection (Node's `onread`): no
 * Buffer and no stream event per read. The data is handled synchronously, and whatever must outlive
 * the call (a split header or packet) is copied.
 */
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);

class Reader {
  sink: ((chunk: Buffer) => void) | undefined;
  readonly onread = (bytes: number, buf: Uint8Array): boolean => {
    if (this.sink !== undefined && bytes > 0) this.sink(Buffer.from(buf.buffer, buf.byteOffset, bytes));
    return true;
  };
}

function openSocket(port: number, reader: Reader): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, noDelay: true, onread: { buffer: READ_BUFFER, callback: reader.onread } });
    const onError = (err: Error) => reject(err);
    socket.once('error', onError);
    socket.once('connect', () => {
      socket.off('error', onError);
      // Errors after connecting (resets at teardown) end the connection through 'close'.
      socket.on('error', () => socket.destroy());
      resolve(socket);
    });
  });
}

/** A PUBLISH encoded once (3.1.1). */
export function encodePublish(topic: string, payload: Buffer, qos: QoS, retain = false, packetId = 1): Buffer {
  return encodePacket(
    qos === 0
      ? { type: PacketType.Publish, topic, payload, qos, retain, dup: false }
      : { type: PacketType.Publish, topic, payload, qos, retain, dup: false, packetId },
    4,
  );
}

/** `count` copies of one packet back to back, so any prefix of whole packets can be written as one slice. */
export function repeat(packet: Buffer, count: number): Buffer {
  const out = Buffer.allocUnsafe(packet.length * count);
  for (let i = 0; i < count; i++) packet.copy(out, i * packet.length);
  return out;
}

/** PUBACKs for the given packet ids, as one buffer. */
export function pubacks(ids: readonly number[]): Buffer {
  const out = Buffer.allocUnsafe(ids.length * 4);
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i] as number;
    const o = i * 4;
    out[o] = 0x40;
    out[o + 1] = 0x02;
    out[o + 2] = id >>> 8;
    out[o + 3] = id & 0xff;
  }
  return out;
}

/** Where the packet id of a QoS 1/2 PUBLISH sits: after the 2-byte topic length and the topic. */
export function publishPacketId(buf: Buffer, bodyStart: number): number {
  const topicLength = buf.readUInt16BE(bodyStart);
  return buf.readUInt16BE(bodyStart + 2 + topicLength);
}

/** Offset of the payload of a PUBLISH within buf. */
export function publishPayloadStart(buf: Buffer, first: number, bodyStart: number): number {
  const topicLength = buf.readUInt16BE(bodyStart);
  const qos = (first >> 1) & 3;
  return bodyStart + 2 + topicLength + (qos > 0 ? 2 : 0);
}

/** Opens many connections, at most `concurrency` handshakes at a time. */
export async function openMany(count: number, concurrency: number, make: (i: number) => ConnOptions): Promise<Conn[]> {
  const conns = new Array<Conn | undefined>(count).fill(undefined);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      conns[i] = await Conn.open(make(i));
    }
  };
  const workers: Promise<void>[] = [];
  for (let w = 0; w < Math.min(concurrency, count); w++) workers.push(worker());
  await Promise.all(workers);
  return conns.filter((c): c is Conn => c !== undefined);
}

/** A placeholder callback until the real one exists (the flood is made after its connections). */
export function noop(): void {
  // Nothing to do yet.
}
