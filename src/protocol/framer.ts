import { Buffer } from 'node:buffer';
import { MAX_PACKET_SIZE, PacketType, type ProtocolVersion } from './constants.js';
import { checkFirstByte, decodeBody } from './decode.js';
import { MqttError, malformed } from './errors.js';
import type { Packet } from './packet.js';
import { Reader } from './reader.js';
import { ReasonCode } from './reason-codes.js';

export interface FramerOptions {
  /**
   * The largest packet accepted, fixed header included (MQTT 5.0 Maximum Packet Size). A packet whose
   * fixed header announces more fails before any of its body is buffered.
   */
  readonly maximumPacketSize?: number;
  /** Version for packets other than CONNECT; set automatically when a CONNECT is decoded. */
  readonly protocolVersion?: ProtocolVersion;
}

export type PacketSink = (packet: Packet) => void;

const EMPTY = Buffer.alloc(0);

/**
 * Incremental framer: feed it socket chunks of any size and it hands complete packets to the sink.
 *
 * - A packet wholly inside a chunk is decoded in place, with no copy: its payload is a view of the chunk.
 * - A packet split across chunks is collected piece by piece (after its fixed header has been checked
 *   against the maximum packet size) and joined once when complete.
 * - `needed` says how many more bytes complete the current packet (0 between packets).
 *
 * After a push throws, the framer is unusable: the connection is expected to close.
 */
export class Framer {
  protocolVersion: ProtocolVersion;
  maximumPacketSize: number;
  private readonly reader = new Reader(EMPTY);
  /** Bytes of a fixed header split across chunks (type byte + up to 4 length bytes). */
  /** Allocated the first time a fixed header is split across chunks (rare: most connections never need it). */
  private header: Buffer | undefined;
  private headerLength = 0;
  /**
   * Body of a packet split across chunks, as the pieces received so far: memory grows with the bytes that
   * actually arrive, not with what a (possibly lying) fixed header announces.
   */
  private parts: Buffer[] | undefined;
  private partsLength = 0;
  private bodyLength = 0;
  private bodyFirst = 0;
  private failed: MqttError | undefined;

  constructor(options: FramerOptions = {}) {
    this.protocolVersion = options.protocolVersion ?? 5;
    this.maximumPacketSize = options.maximumPacketSize ?? MAX_PACKET_SIZE;
  }

  /** Bytes still needed to complete the packet in progress; 0 when none is in progress. */
  get needed(): number {
    if (this.parts !== undefined) return this.bodyLength - this.partsLength;
    return this.headerLength > 0 ? 1 : 0;
  }

  /** Bytes held for a packet in progress. */
  get buffered(): number {
    return this.parts !== undefined ? this.partsLength : this.headerLength;
  }

  push(chunk: Buffer, sink: PacketSink): void {
    if (this.failed !== undefined) throw this.failed;
    try {
      this.consume(chunk, sink);
    } catch (err) {
      // Whatever failed (a malformed packet, or the sink), the stream position is lost: stay failed.
      this.failed =
        err instanceof MqttError
          ? err
          : new MqttError('MQTT_PROTOCOL_ERROR', ReasonCode.ImplementationSpecificError, 'packet handler failed', { cause: err });
      this.parts = undefined;
      throw err;
    }
  }

  private consume(chunk: Buffer, sink: PacketSink): void {
    const len = chunk.length;
    let pos = 0;
    if (this.parts !== undefined) {
      pos = this.fillBody(chunk, sink);
      if (pos === -1) return;
    } else if (this.headerLength > 0) {
      pos = this.fillHeader(chunk, sink);
      if (pos === -1) return;
    }
    while (pos < len) {
      const first = chunk[pos] as number;
      checkFirstByte(first, this.protocolVersion);
      // Remaining Length: a Variable Byte Integer of at most four bytes. [MQTT-1.5.5-1]
      let remaining = 0;
      let multiplier = 1;
      let i = pos + 1;
      let complete = false;
      while (i < len && i - pos <= 4) {
        const b = chunk[i++] as number;
        remaining += (b & 0x7f) * multiplier;
        if ((b & 0x80) === 0) {
          if (b === 0 && i - pos > 2) throw nonMinimal();
          complete = true;
          break;
        }
        multiplier *= 128;
      }
      if (!complete) {
        if (i - pos > 4) throw tooLongVarint();
        // Keep the partial fixed header (at most 5 bytes) for the next chunk.
        if (this.header === undefined) this.header = Buffer.alloc(5);
        chunk.copy(this.header, 0, pos, len);
        this.headerLength = len - pos;
        return;
      }
      this.checkSize(i - pos + remaining);
      if (len - i >= remaining) {
        this.dispatch(chunk, i, i + remaining, first, sink);
        pos = i + remaining;
      } else {
        this.startBody(first, remaining, chunk, i);
        return;
      }
    }
  }

  /** Continues a fixed header split across chunks; returns the position after the header or -1. */
  private fillHeader(chunk: Buffer, sink: PacketSink): number {
    const h = this.header as Buffer;
    let pos = 0;
    while (pos < chunk.length) {
      const n = this.headerLength;
      h[n] = chunk[pos++] as number;
      this.headerLength = n + 1;
      const b = h[n] as number;
      if ((b & 0x80) === 0) {
        if (b === 0 && n > 1) throw nonMinimal();
        let remaining = 0;
        let multiplier = 1;
        for (let k = 1; k <= n; k++) {
          remaining += ((h[k] as number) & 0x7f) * multiplier;
          multiplier *= 128;
        }
        const first = h[0] as number;
        this.headerLength = 0;
        this.checkSize(n + 1 + remaining);
        if (chunk.length - pos >= remaining) {
          this.dispatch(chunk, pos, pos + remaining, first, sink);
          return pos + remaining;
        }
        this.startBody(first, remaining, chunk, pos);
        return -1;
      }
      if (n + 1 >= 5) throw tooLongVarint();
    }
    return -1;
  }

  /** Continues a body split across chunks; returns the position after it or -1. */
  private fillBody(chunk: Buffer, sink: PacketSink): number {
    const parts = this.parts as Buffer[];
    const n = Math.min(this.bodyLength - this.partsLength, chunk.length);
    this.keep(parts, chunk, 0, n);
    if (this.partsLength < this.bodyLength) return -1;
    this.parts = undefined;
    const body = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, this.bodyLength);
    this.dispatch(body, 0, body.length, this.bodyFirst, sink);
    return n;
  }

  private startBody(first: number, remaining: number, chunk: Buffer, from: number): void {
    this.parts = [];
    this.partsLength = 0;
    this.bodyLength = remaining;
    this.bodyFirst = first;
    this.keep(this.parts, chunk, from, chunk.length);
  }

  /**
   * Keeps a piece of a chunk. Small pieces are copied so that a sender trickling bytes cannot pin whole
   * socket read buffers; large ones are kept as views and copied once when the packet completes.
   */
  private keep(parts: Buffer[], chunk: Buffer, start: number, end: number): void {
    if (end <= start) return;
    const piece = end - start >= 16_384 ? chunk.subarray(start, end) : Buffer.from(chunk.subarray(start, end));
    parts.push(piece);
    this.partsLength += end - start;
  }

  private checkSize(total: number): void {
    if (total > this.maximumPacketSize) {
      throw new MqttError(
        'MQTT_PACKET_TOO_LARGE',
        ReasonCode.PacketTooLarge,
        `packet of ${total} bytes exceeds the maximum of ${this.maximumPacketSize}`,
        {
          field: 'fixedHeader.remainingLength',
        },
      );
    }
  }

  private dispatch(buf: Buffer, start: number, end: number, first: number, sink: PacketSink): void {
    const packet = decodeBody(this.reader.reset(buf, start, end), first, this.protocolVersion);
    // Later packets of the same connection are read in the version its CONNECT chose.
    if (packet.type === PacketType.Connect) this.protocolVersion = packet.protocolVersion;
    sink(packet);
  }
}

function nonMinimal(): MqttError {
  return malformed(
    'MQTT_REMAINING_LENGTH_INVALID',
    'fixedHeader.remainingLength',
    'Remaining Length is not minimally encoded',
    'MQTT-1.5.5-1',
  );
}

function tooLongVarint(): MqttError {
  return malformed(
    'MQTT_REMAINING_LENGTH_INVALID',
    'fixedHeader.remainingLength',
    'Remaining Length is longer than four bytes',
    'MQTT-1.5.5-1',
  );
}
