import { Buffer } from 'node:buffer';
import { encodePacket, PacketType, type ProtocolVersion, type QoS } from '../protocol/index.js';

/**
 * Packets the load generator writes, encoded once with the codec and then only patched: a PUBLISH template
 * whose Packet Identifier and send-time stamp are overwritten in place, and the four-byte acknowledgements.
 */

/**
 * The first bytes of a stamped payload: a marker, then the send time (milliseconds since the epoch, a
 * float64, little-endian). The marker tells our messages from anybody else's in `mozzie bench sub`.
 */
export const STAMP_MARKER = 0x4d5a4201; // "MZB" 0x01, read as a big-endian uint32
export const STAMP_BYTES = 12;

/** One encoded PUBLISH and where to patch it. */
export interface PublishTemplate {
  readonly packet: Buffer;
  /** Offset of the Packet Identifier (QoS 1/2), else -1. */
  readonly idOffset: number;
  /** Offset of the stamp within the packet, -1 when the payload is too small to carry one. */
  readonly stampOffset: number;
}

/** A payload of `size` bytes: the stamp marker (time filled in per message) and filler. */
export function makePayload(size: number): Buffer {
  const payload = Buffer.alloc(size, 0x78);
  if (size >= STAMP_BYTES) {
    payload.writeUInt32BE(STAMP_MARKER, 0);
    payload.writeDoubleLE(0, 4);
  }
  return payload;
}

export function publishTemplate(topic: string, payload: Buffer, qos: QoS, version: ProtocolVersion): PublishTemplate {
  const packet = encodePacket(
    qos === 0
      ? { type: PacketType.Publish, topic, payload, qos, retain: false, dup: false }
      : { type: PacketType.Publish, topic, payload, qos, retain: false, dup: false, packetId: 1 },
    version,
  );
  let header = 1;
  while (((packet[header] as number) & 0x80) !== 0) header++;
  header++;
  const topicLength = packet.readUInt16BE(header);
  return {
    packet,
    idOffset: qos === 0 ? -1 : header + 2 + topicLength,
    stampOffset: payload.length >= STAMP_BYTES ? packet.length - payload.length : -1,
  };
}

/** `count` copies of a packet back to back: any prefix of whole packets is one copy away. */
export function repeat(packet: Buffer, count: number): Buffer {
  const out = Buffer.allocUnsafe(packet.length * count);
  for (let i = 0; i < count; i++) packet.copy(out, i * packet.length);
  return out;
}

/**
 * PUBACK, PUBREC, PUBREL or PUBCOMP with Reason Code 0 in its four-byte form (valid in every version:
 * 5.0 allows the Reason Code to be left out when it is 0 and there are no properties).
 */
export function writeAck(buf: Buffer, pos: number, type: number, packetId: number): number {
  buf[pos] = type === PacketType.Pubrel ? 0x62 : type << 4;
  buf[pos + 1] = 2;
  buf[pos + 2] = packetId >>> 8;
  buf[pos + 3] = packetId & 0xff;
  return pos + 4;
}

export const PINGREQ: Buffer = Buffer.from([0xc0, 0x00]);

export function disconnectPacket(version: ProtocolVersion): Buffer {
  return encodePacket({ type: PacketType.Disconnect, reasonCode: 0 }, version);
}
