import { Buffer } from 'node:buffer';
import { connect, type Socket } from 'node:net';
import { encodePacket, PacketType, type QoS } from '../../src/protocol/index.js';

/**
 * A load-generator MQTT 3.1.1 connection for the durability benchmark: like bench/broker/client.ts (raw
 * socket, Node's `onread` into one shared buffer, fixed headers only) but with Clean Session chosen per
 * connection and the Session Present flag reported, so sessions can outlive their connections.
 */

export interface DurableConnOptions {
  readonly port: number;
  readonly clientId: string;
  /** false: a persistent session (3.1.1 Clean Session 0), kept across connections and restarts. */
  readonly clean: boolean;
  readonly keepAlive?: number;
  /** The scenario's index for this connection, set before CONNECT (a PUBLISH may follow the CONNACK at once). */
  readonly index?: number;
  /** QoS 1 PUBLISH received: its Packet Identifier (the packet's bytes are not kept). */
  readonly onPublish?: (conn: DurableConn, packetId: number) => void;
  /** PUBACK received (QoS 1 publishers). */
  readonly onPuback?: (conn: DurableConn, packetId: number) => void;
}

type Waiter = (value: number) => void;

export class DurableConn {
  readonly socket: Socket;
  readonly clientId: string;
  /** PUBLISH packets received. */
  received = 0;
  /** PUBACK packets received. */
  acked = 0;
  /** Free slots for the scenario's bookkeeping. */
  index = 0;
  sent = 0;
  closed = false;
  sessionPresent = false;
  private readonly onPublish: ((conn: DurableConn, packetId: number) => void) | undefined;
  private readonly onPuback: ((conn: DurableConn, packetId: number) => void) | undefined;
  private readonly waiters = new Map<number, Waiter[]>();
  /** The start of a packet split across reads. */
  private rest: Buffer | undefined;

  private constructor(socket: Socket, reader: Reader, options: DurableConnOptions) {
    this.socket = socket;
    reader.sink = (chunk) => this.onData(chunk);
    this.clientId = options.clientId;
    this.index = options.index ?? 0;
    this.onPublish = options.onPublish;
    this.onPuback = options.onPuback;
    socket.on('close', () => {
      this.closed = true;
      for (const list of this.waiters.values()) for (const w of list) w(-1);
      this.waiters.clear();
    });
  }

  /** Opens the socket, sends CONNECT and waits for a successful CONNACK. */
  static async open(options: DurableConnOptions): Promise<DurableConn> {
    const reader = new Reader();
    const socket = await openSocket(options.port, reader);
    const conn = new DurableConn(socket, reader, options);
    const connack = conn.wait(PacketType.Connack);
    socket.write(
      encodePacket({
        type: PacketType.Connect,
        protocolVersion: 4,
        clientId: options.clientId,
        clean: options.clean,
        keepAlive: options.keepAlive ?? 120,
      }),
    );
    const value = await connack;
    if ((value & 0xff) !== 0) {
      socket.destroy();
      throw new Error(`${options.clientId}: CONNACK return code ${value & 0xff}`);
    }
    conn.sessionPresent = (value & 0x100) !== 0;
    return conn;
  }

  /** Resolves with a value read from the next packet of that type (-1 rejects: connection closed). */
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

  /** SUBSCRIBE and wait for the SUBACK; throws if a filter was refused. */
  async subscribe(filters: readonly string[], qos: QoS): Promise<void> {
    const suback = this.wait(PacketType.Suback);
    this.socket.write(
      encodePacket(
        {
          type: PacketType.Subscribe,
          packetId: 1,
          subscriptions: filters.map((topicFilter) => ({ topicFilter, qos, noLocal: false, retainAsPublished: false, retainHandling: 0 })),
        },
        4,
      ),
    );
    const code = await suback;
    if (code >= 0x80) throw new Error(`${this.clientId}: subscription refused (0x${code.toString(16)})`);
  }

  /** DISCONNECT (normal: no Will) and wait until the broker closes the socket. */
  async disconnect(): Promise<void> {
    if (this.closed) return;
    const closed = new Promise<void>((resolve) => this.socket.once('close', () => resolve()));
    this.socket.end(DISCONNECT);
    await closed;
  }

  write(buf: Buffer): boolean {
    return this.socket.write(buf);
  }

  destroy(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    let buf = chunk;
    if (this.rest !== undefined) {
      buf = Buffer.concat([this.rest, chunk]);
      this.rest = undefined;
    }
    const len = buf.length;
    let pos = 0;
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
      const end = i + remaining;
      if (!complete || end > len) {
        // Copied: the read buffer is reused by the next read.
        this.rest = Buffer.from(buf.subarray(pos));
        return;
      }
      this.packet(buf, first, i, end);
      pos = end;
    }
  }

  /** One whole packet: first byte, body in [body, end). */
  private packet(buf: Buffer, first: number, body: number, end: number): void {
    const type = first >> 4;
    if (type === PacketType.Publish) {
      this.received++;
      const qos = (first >> 1) & 3;
      if (qos > 0 && this.onPublish !== undefined) {
        const topicLength = buf.readUInt16BE(body);
        this.onPublish(this, buf.readUInt16BE(body + 2 + topicLength));
      }
      return;
    }
    if (type === PacketType.Puback) {
      this.acked++;
      if (this.onPuback !== undefined) this.onPuback(this, buf.readUInt16BE(body));
      return;
    }
    const waiter = this.waiters.get(type)?.shift();
    if (waiter === undefined) return;
    let value = 0;
    // CONNACK: return code, with Session Present as bit 8; SUBACK: the worst return code.
    if (type === PacketType.Connack) value = (buf[body + 1] ?? 0) | (((buf[body] ?? 0) & 1) << 8);
    else if (type === PacketType.Suback) for (let k = body + 2; k < end; k++) value = Math.max(value, buf[k] as number);
    waiter(value);
  }
}

const DISCONNECT = Buffer.from([0xe0, 0x00]);

/** Socket reads land in this one buffer (Node's `onread`), shared by every connection of the process. */
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
      socket.on('error', () => socket.destroy());
      resolve(socket);
    });
  });
}

/** Opens many connections, at most `concurrency` handshakes at a time, in index order. */
export async function openAll(count: number, concurrency: number, make: (i: number) => DurableConnOptions): Promise<DurableConn[]> {
  const conns: DurableConn[] = new Array(count);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      conns[i] = await DurableConn.open({ ...make(i), index: i });
    }
  };
  const workers: Promise<void>[] = [];
  for (let w = 0; w < Math.min(concurrency, count); w++) workers.push(worker());
  await Promise.all(workers);
  return conns;
}
