import { Buffer } from 'node:buffer';
import { connect, type Socket } from 'node:net';
import {
  type ConnackPacket,
  decodePacket,
  encodePacket,
  type Packet,
  PacketType,
  type ProtocolVersion,
  type QoS,
  reasonCodeName,
} from '../protocol/index.js';
import { BenchError, describeSocketError } from './errors.js';
import { disconnectPacket, PINGREQ, STAMP_BYTES, STAMP_MARKER, writeAck } from './packets.js';
import { ACK_BATCH_BYTES, type RunContext } from './run-context.js';
import { epochNow, type Stats } from './stats.js';

/** Where to connect and how to introduce ourselves. */
export interface Endpoint {
  readonly host: string;
  readonly port: number;
  readonly version: ProtocolVersion;
  readonly username?: string;
  readonly password?: string;
  readonly keepAlive: number;
  readonly connectTimeoutMs: number;
}

/** What a connection reports to the role that owns it (publisher, subscriber, churner). */
export interface ConnectionHandler {
  /** PUBACK, PUBREC or PUBCOMP for one of our publishes. */
  onAck(conn: Connection, type: number, packetId: number, reasonCode: number): void;
  /** After a socket read has been handled and its acknowledgements written. */
  afterRead(conn: Connection): void;
  /** write() returned false earlier and the socket can take more now. */
  onDrain(conn: Connection): void;
  /** The connection closed; `reason` is set unless we closed it ourselves. */
  onClose(conn: Connection, reason: string | undefined): void;
}

interface Waiter {
  readonly type: number;
  resolve(packet: Packet): void;
  reject(error: Error): void;
}

/** Packets of this size or above are refused: a broker is not expected to send them to a benchmark. */
const MAX_INBOUND = 256 * 1024 * 1024;

/**
 * One MQTT connection on a raw socket, with the least work per packet the benchmark allows. Reads land in
 * a buffer shared by every connection of the run (Node's `onread`: no Buffer and no stream event per read)
 * and are scanned in place: a PUBLISH is counted, its stamp read for the latency and its acknowledgement
 * queued, without decoding the rest; acknowledgements of one read go out in one write. The rare control
 * packets (CONNACK, SUBACK, DISCONNECT) are copied out and decoded with the codec.
 */
export class Connection {
  readonly socket: Socket;
  readonly index: number;
  readonly version: ProtocolVersion;
  readonly where: string;
  handler: ConnectionHandler;
  /** write() returned false; 'drain' has not come yet. */
  blocked = false;
  closed = false;
  /** Set by the owner that closes the connection on purpose: the close is then not an error. */
  closing = false;
  /** Limits the server announced in CONNACK (5.0). */
  serverReceiveMaximum = 65_535;
  serverMaximumQoS: QoS = 2;
  serverMaximumPacketSize = Number.POSITIVE_INFINITY;
  private readonly stats: Stats;
  private readonly context: RunContext;
  private readonly readBuffer: Buffer;
  private readTime = 0;
  private marked = false;
  /** Acknowledgements wait in RunContext's deferred list. */
  private deferred = false;
  /** CONNACK accepted: from now on a close is reported to the handler. */
  private established = false;
  /** A fixed header split across reads. */
  private head: Buffer | undefined;
  /** A packet split across reads, being filled; its body starts at `partialBody`. */
  private partial: Buffer | undefined;
  private partialFill = 0;
  private partialBody = 0;
  /** Acknowledgements produced while handling one read. */
  private acks: Buffer | undefined;
  private acksLength = 0;
  private waiter: Waiter | undefined;
  private error: Error | undefined;
  private closeReason: string | undefined;

  private constructor(socket: Socket, index: number, endpoint: Endpoint, context: RunContext, handler: ConnectionHandler) {
    this.socket = socket;
    this.index = index;
    this.version = endpoint.version;
    this.where = `${endpoint.host}:${endpoint.port}`;
    this.context = context;
    this.stats = context.stats;
    this.readBuffer = context.readBuffer;
    this.handler = handler;
  }

  /**
   * Opens the TCP connection, sends CONNECT and waits for CONNACK; rejects with a BenchError that says
   * what happened (refused, timed out, CONNACK refusal). Resolves with the connection and the CONNACK.
   */
  static open(
    endpoint: Endpoint,
    index: number,
    clientId: string,
    context: RunContext,
    handler: ConnectionHandler,
  ): Promise<{ conn: Connection; connack: ConnackPacket }> {
    return new Promise((resolve, reject) => {
      let conn: Connection | undefined;
      const socket = connect({
        host: endpoint.host,
        port: endpoint.port,
        noDelay: true,
        onread: { buffer: context.readBuffer, callback: (n: number) => (conn === undefined ? true : conn.onRead(n)) },
      });
      conn = new Connection(socket, index, endpoint, context, handler);
      const c = conn;
      const timer = setTimeout(() => {
        fail(new BenchError(`no CONNACK from ${c.where} within ${endpoint.connectTimeoutMs / 1000} s.`));
      }, endpoint.connectTimeoutMs);
      let settled = false;
      const fail = (error: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        c.closing = true;
        socket.destroy();
        reject(error);
      };
      socket.on('error', (err) => {
        c.error = err;
      });
      socket.on('close', () => {
        c.onSocketClose();
        // Refused, reset or closed before CONNACK: say so now rather than at the timeout.
        fail(
          new BenchError(
            c.closeReason ??
              (c.error === undefined
                ? `the broker at ${c.where} closed the connection before CONNACK.`
                : describeSocketError(c.error, c.where)),
          ),
        );
      });
      socket.on('drain', () => {
        c.blocked = false;
        c.handler.onDrain(c);
      });
      socket.once('connect', () => {
        c.expect(PacketType.Connack).then((packet) => {
          clearTimeout(timer);
          const connack = packet as ConnackPacket;
          if (connack.reasonCode !== 0) {
            const name = reasonCodeName(connack.reasonCode, PacketType.Connack, endpoint.version);
            fail(new BenchError(`the broker at ${c.where} refused the connection: ${name} (0x${hex(connack.reasonCode)}).`));
            return;
          }
          c.applyConnack(connack);
          settled = true;
          c.established = true;
          resolve({ conn: c, connack });
        }, fail);
        socket.write(
          encodePacket({
            type: PacketType.Connect,
            protocolVersion: endpoint.version,
            clientId,
            clean: true,
            keepAlive: endpoint.keepAlive,
            ...(endpoint.username === undefined ? {} : { username: endpoint.username }),
            ...(endpoint.password === undefined ? {} : { password: Buffer.from(endpoint.password) }),
          }),
        );
      });
    });
  }

  private applyConnack(connack: ConnackPacket): void {
    const p = connack.properties;
    if (p === undefined) return;
    if (p.receiveMaximum !== undefined) this.serverReceiveMaximum = p.receiveMaximum;
    if (p.maximumQoS !== undefined) this.serverMaximumQoS = p.maximumQoS as QoS;
    if (p.maximumPacketSize !== undefined) this.serverMaximumPacketSize = p.maximumPacketSize;
  }

  /** Subscribes to one filter and waits for the SUBACK; a refusal rejects with the broker's reason. */
  async subscribe(filter: string, qos: QoS): Promise<void> {
    const suback = this.expect(PacketType.Suback);
    this.write(
      encodePacket(
        {
          type: PacketType.Subscribe,
          packetId: 1,
          subscriptions: [{ topicFilter: filter, qos, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
        },
        this.version,
      ),
    );
    const packet = await suback;
    const code = packet.type === PacketType.Suback ? (packet.reasonCodes[0] ?? 0x80) : 0x80;
    if (code >= 0x80) {
      throw new BenchError(
        `the broker refused the subscription to "${filter}": ${reasonCodeName(code, PacketType.Suback, this.version)} (0x${hex(code)}).`,
      );
    }
  }

  /** Resolves with the next packet of `type`; rejects when the connection closes first. */
  expect(type: number): Promise<Packet> {
    return new Promise((resolve, reject) => {
      if (this.closed) {
        reject(new BenchError(this.closeReason ?? `the connection to ${this.where} is closed.`));
        return;
      }
      this.waiter = { type, resolve, reject };
    });
  }

  write(bytes: Buffer): boolean {
    if (this.closed) return false;
    const ok = this.socket.write(bytes);
    if (!ok) this.blocked = true;
    return ok;
  }

  ping(): void {
    this.write(PINGREQ);
  }

  /** Sends DISCONNECT and closes; the socket is destroyed if the broker has not closed it within 1 s. */
  close(): void {
    if (this.closed) return;
    this.closing = true;
    this.write(disconnectPacket(this.version));
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  destroy(): void {
    this.closing = true;
    this.socket.destroy();
  }

  private onSocketClose(): void {
    if (this.closed) return;
    this.closed = true;
    const reason = this.closing
      ? undefined
      : (this.closeReason ??
        (this.error === undefined ? `the broker at ${this.where} closed the connection.` : describeSocketError(this.error, this.where)));
    const w = this.waiter;
    this.waiter = undefined;
    if (w !== undefined) w.reject(new BenchError(reason ?? `the connection to ${this.where} closed.`));
    if (this.established) this.handler.onClose(this, reason);
  }

  // ---- reading ---------------------------------------------------------------------------------

  private onRead(nread: number): boolean {
    if (nread <= 0 || this.closed) return true;
    this.readTime = 0;
    const buf = this.readBuffer;
    let pos = 0;
    if (this.partial !== undefined) {
      const p = this.partial;
      const n = Math.min(p.length - this.partialFill, nread);
      buf.copy(p, this.partialFill, 0, n);
      this.partialFill += n;
      if (this.partialFill < p.length) return true;
      this.partial = undefined;
      pos = n;
      if (!this.packet(p, 0, this.partialBody, p.length)) return true;
    } else if (this.head !== undefined) {
      const joined = Buffer.concat([this.head, buf.subarray(0, nread)]);
      this.head = undefined;
      if (this.scan(joined, 0, joined.length)) this.finishRead();
      return true;
    }
    if (this.scan(buf, pos, nread)) this.finishRead();
    return true;
  }

  private finishRead(): void {
    if (!this.marked) {
      this.marked = true;
      this.context.mark(this);
    }
  }

  /** After this turn's reads: writes a batch of acknowledgements (or defers a few) and lets the owner top up. */
  flush(): void {
    this.marked = false;
    if (this.closed) return;
    if (this.acksLength >= ACK_BATCH_BYTES) {
      this.writeAcks();
    } else if (this.acksLength > 0 && !this.deferred) {
      this.deferred = true;
      this.context.defer(this);
    }
    this.handler.afterRead(this);
  }

  /** Writes the acknowledgements waiting, if any. */
  writeAcks(): void {
    this.deferred = false;
    if (this.acksLength === 0 || this.closed || this.closing) return;
    const acks = (this.acks as Buffer).subarray(0, this.acksLength);
    this.acks = undefined;
    this.acksLength = 0;
    this.write(acks);
  }

  /** Handles every whole packet in buf[pos, len) and keeps what is left; false if the connection failed. */
  private scan(buf: Buffer, pos: number, len: number): boolean {
    while (pos < len) {
      const start = pos;
      let i = pos + 1;
      let remaining = 0;
      let multiplier = 1;
      let complete = false;
      while (i < len && i - start <= 4) {
        const b = buf[i++] as number;
        remaining += (b & 0x7f) * multiplier;
        if (b < 0x80) {
          complete = true;
          break;
        }
        multiplier *= 128;
      }
      if (!complete) {
        if (i - start > 4) return this.protocolError('a Remaining Length longer than four bytes');
        this.head = Buffer.from(buf.subarray(start, len));
        return true;
      }
      if (remaining > MAX_INBOUND) return this.protocolError(`a packet of ${remaining} bytes`);
      const end = i + remaining;
      if (end > len) {
        const p = Buffer.allocUnsafe(end - start);
        buf.copy(p, 0, start, len);
        this.partial = p;
        this.partialFill = len - start;
        this.partialBody = i - start;
        return true;
      }
      if (!this.packet(buf, start, i, end)) return false;
      pos = end;
    }
    return true;
  }

  /** One whole packet: buf[start] is its first byte, its body is buf[body, end). */
  private packet(buf: Buffer, start: number, body: number, end: number): boolean {
    const first = buf[start] as number;
    const type = first >> 4;
    if (type === PacketType.Publish) {
      this.publish(buf, first, body, end);
      return true;
    }
    if (type >= PacketType.Puback && type <= PacketType.Pubcomp) {
      if (end - body < 2) return this.protocolError('an acknowledgement without a Packet Identifier');
      const packetId = ((buf[body] as number) << 8) | (buf[body + 1] as number);
      if (type === PacketType.Pubrel) {
        this.queueAck(PacketType.Pubcomp, packetId);
      } else {
        const reasonCode = this.version === 5 && end - body > 2 ? (buf[body + 2] as number) : 0;
        this.handler.onAck(this, type, packetId, reasonCode);
      }
      return true;
    }
    if (type === PacketType.Pingresp) return true;
    return this.control(Buffer.from(buf.subarray(start, end)));
  }

  private publish(buf: Buffer, first: number, body: number, end: number): void {
    const qos = (first >> 1) & 3;
    let p = body + 2 + (((buf[body] as number) << 8) | (buf[body + 1] as number));
    let packetId = 0;
    if (qos > 0) {
      packetId = ((buf[p] as number) << 8) | (buf[p + 1] as number);
      p += 2;
    }
    if (this.version === 5 && p < end) {
      // Skip the properties: a Variable Byte Integer length, then that many bytes.
      let length = 0;
      let multiplier = 1;
      let b = 0x80;
      while ((b & 0x80) !== 0 && p < end) {
        b = buf[p++] as number;
        length += (b & 0x7f) * multiplier;
        multiplier *= 128;
      }
      p += length;
    }
    const stats = this.stats;
    stats.deliveredTotal++;
    if (end - p >= STAMP_BYTES && buf.readUInt32BE(p) === STAMP_MARKER) {
      const sentAt = buf.readDoubleLE(p + 4);
      // Sent during the warm-up: acknowledged, not counted.
      if (sentAt >= stats.measureFrom) {
        if (this.readTime === 0) this.readTime = epochNow();
        stats.received++;
        stats.interval.record((this.readTime - sentAt) * 1000);
      }
    } else {
      stats.received++;
    }
    if (qos === 1) this.queueAck(PacketType.Puback, packetId);
    else if (qos === 2) this.queueAck(PacketType.Pubrec, packetId);
  }

  /** Queues a four-byte acknowledgement; those of one event-loop turn are written together. */
  queueAck(type: number, packetId: number): void {
    let acks = this.acks;
    if (acks === undefined) {
      acks = Buffer.allocUnsafe(1024);
      this.acks = acks;
    } else if (this.acksLength + 4 > acks.length) {
      const bigger = Buffer.allocUnsafe(acks.length * 4);
      acks.copy(bigger, 0, 0, this.acksLength);
      acks = bigger;
      this.acks = acks;
    }
    this.acksLength = writeAck(acks, this.acksLength, type, packetId);
  }

  /** CONNACK, SUBACK, DISCONNECT and the like: decoded in full, rare. */
  private control(bytes: Buffer): boolean {
    let packet: Packet;
    try {
      packet = decodePacket(bytes, this.version);
    } catch (err) {
      return this.protocolError(err instanceof Error ? err.message : String(err));
    }
    const w = this.waiter;
    if (w !== undefined && w.type === packet.type) {
      this.waiter = undefined;
      w.resolve(packet);
      return true;
    }
    if (packet.type === PacketType.Disconnect) {
      const why = reasonCodeName(packet.reasonCode, PacketType.Disconnect, this.version);
      const text = packet.properties?.reasonString === undefined ? '' : `: ${packet.properties.reasonString}`;
      this.closeReason = `the broker at ${this.where} disconnected a client: ${why} (0x${hex(packet.reasonCode)})${text}.`;
      this.socket.destroy();
      return false;
    }
    // Nothing else is expected; a stray SUBACK (after a timeout) is harmless.
    return true;
  }

  private protocolError(what: string): boolean {
    this.closeReason = `the broker at ${this.where} sent ${what}; the connection was dropped.`;
    this.socket.destroy();
    return false;
  }
}

export function hex(code: number): string {
  return code.toString(16).padStart(2, '0');
}
