import { Buffer } from 'node:buffer';
import { generate, parser, type Packet as TheirPacket, writeToStream } from 'mqtt-packet';
import { decodePacket } from '../../src/protocol/decode.js';
import { encodePacket } from '../../src/protocol/encode.js';
import { Framer } from '../../src/protocol/framer.js';
import type { Packet } from '../../src/protocol/packet.js';
import { encodePublishHeader } from '../../src/protocol/packets/publish.js';
import type { BenchCase } from './cases.js';
import type { Contender } from './harness.js';

/**
 * The three operations measured per case, each as a pair of equivalent contenders:
 *
 * - encode: packet object -> one Buffer holding the whole packet. Both sides copy the payload into it.
 * - encode to wire (PUBLISH only): packet object -> the buffers a socket write needs, without copying the
 *   payload: our encodePublishHeader + the payload itself, against mqtt-packet's writeToStream (what
 *   MQTT.js uses on sockets) into a stream that only keeps what it is given.
 * - decode stream: one chunk holding many copies of the packet, as one socket read would, pushed through
 *   our Framer / mqtt-packet's parser, both reused across chunks like a connection's. The chunk holds whole
 *   packets only, so neither side copies payload bytes: both hand out views of the chunk.
 * - decode single: one buffer holding exactly one packet: decodePacket / the same reused parser.
 *
 * Each sink counts the packets and keeps the last one, so no result is dead code.
 */
export type Operation = 'encode' | 'encode to wire' | 'decode stream' | 'decode single';
export const OPERATIONS: readonly Operation[] = ['encode', 'encode to wire', 'decode stream', 'decode single'];

/** Whether an operation applies to a case (encode to wire is for PUBLISH). */
export function appliesTo(op: Operation, c: BenchCase): boolean {
  return op !== 'encode to wire' || c.ours.type === 3;
}

export interface Pair {
  readonly ours: Contender;
  readonly theirs: Contender;
}

/** Bytes of one socket read we model: the stream chunk holds about this much (and at least 16 packets). */
const CHUNK_TARGET = 64 * 1024;
const MIN_PACKETS_PER_CHUNK = 16;

class Sink<T> {
  count = 0;
  last: T | undefined;
  readonly push = (packet: T): void => {
    this.count++;
    this.last = packet;
  };
}

export function theirOptions(c: BenchCase): { protocolVersion: number } {
  return { protocolVersion: c.version };
}

/** A chunk of whole packets, `count` copies of `packet`. */
export function streamOf(packet: Buffer, minBytes: number, minCount: number): { chunk: Buffer; count: number } {
  const count = Math.max(minCount, Math.ceil(minBytes / packet.length));
  return { chunk: Buffer.concat(new Array<Buffer>(count).fill(packet)), count };
}

export function theirParser(version: number, onPacket: (p: TheirPacket) => void) {
  const p = parser({ protocolVersion: version });
  p.on('packet', onPacket);
  p.on('error', (err: unknown) => {
    throw err;
  });
  return p;
}

function encodePair(c: BenchCase): Pair {
  const opts = theirOptions(c);
  const ourSink = new Sink<Buffer>();
  const theirSink = new Sink<Buffer>();
  return {
    ours: {
      opsPerIteration: 1,
      work: (n) => {
        for (let i = 0; i < n; i++) ourSink.push(encodePacket(c.ours, c.version));
      },
    },
    theirs: {
      opsPerIteration: 1,
      work: (n) => {
        for (let i = 0; i < n; i++) theirSink.push(generate(c.theirs, opts));
      },
    },
  };
}

function encodeToWirePair(c: BenchCase): Pair {
  const opts = theirOptions(c);
  const packet = c.ours;
  if (packet.type !== 3) throw new Error('encode to wire is for PUBLISH cases');
  const ourSink = new Sink<Buffer>();
  const theirSink = new Sink<Buffer>();
  // A stream that keeps what it is handed, as a socket's write queue would (no copy on either side).
  const stream = {
    write: (chunk: Buffer) => {
      theirSink.push(chunk);
      return true;
    },
  } as unknown as NodeJS.WritableStream;
  return {
    ours: {
      opsPerIteration: 1,
      work: (n) => {
        for (let i = 0; i < n; i++) {
          ourSink.push(encodePublishHeader(packet, c.version));
          ourSink.push(packet.payload);
        }
      },
    },
    theirs: {
      opsPerIteration: 1,
      work: (n) => {
        for (let i = 0; i < n; i++) writeToStream(c.theirs, stream, opts);
      },
    },
  };
}

function decodeStreamPair(c: BenchCase, bytes: Buffer): Pair {
  const { chunk, count } = streamOf(bytes, CHUNK_TARGET, MIN_PACKETS_PER_CHUNK);
  const ourSink = new Sink<Packet>();
  const theirSink = new Sink<TheirPacket>();
  const framer = new Framer({ protocolVersion: c.version });
  const p = theirParser(c.version, theirSink.push);
  return {
    ours: {
      opsPerIteration: count,
      work: (n) => {
        for (let i = 0; i < n; i++) framer.push(chunk, ourSink.push);
      },
    },
    theirs: {
      opsPerIteration: count,
      work: (n) => {
        for (let i = 0; i < n; i++) p.parse(chunk);
      },
    },
  };
}

function decodeSinglePair(c: BenchCase, bytes: Buffer): Pair {
  const ourSink = new Sink<Packet>();
  const theirSink = new Sink<TheirPacket>();
  const p = theirParser(c.version, theirSink.push);
  return {
    ours: {
      opsPerIteration: 1,
      work: (n) => {
        for (let i = 0; i < n; i++) ourSink.push(decodePacket(bytes, c.version));
      },
    },
    theirs: {
      opsPerIteration: 1,
      work: (n) => {
        for (let i = 0; i < n; i++) p.parse(bytes);
      },
    },
  };
}

/** `bytes` is the encoded packet both decoders are fed (our encoding; the runner checks theirs matches). */
export function pairFor(op: Operation, c: BenchCase, bytes: Buffer): Pair {
  switch (op) {
    case 'encode':
      return encodePair(c);
    case 'encode to wire':
      return encodeToWirePair(c);
    case 'decode stream':
      return decodeStreamPair(c, bytes);
    case 'decode single':
      return decodeSinglePair(c, bytes);
  }
}
