import type { Buffer } from 'node:buffer';
import { PacketType, type ProtocolVersion } from '../constants.js';
import type { PubAckLikePacket } from '../packet.js';
import { decodeProperties, propertiesLength, writeProperties } from '../properties.js';
import type { Reader } from '../reader.js';
import { allowedReasonCodes } from '../reason-codes.js';
import { allocPacket, fixedHeaderLength, varintLength } from '../writer.js';
import { badReasonCode, checkByte, checkPacketId, expectEnd, notInVersion, readPacketId } from './common.js';

export type PubAckType = typeof PacketType.Puback | typeof PacketType.Pubrec | typeof PacketType.Pubrel | typeof PacketType.Pubcomp;

const NAMES = { 4: 'PUBACK', 5: 'PUBREC', 6: 'PUBREL', 7: 'PUBCOMP' } as const;
/** The statement requiring the sender to use one of the packet's Reason Codes. */
const REASON_SPEC = { 4: 'MQTT-3.4.2-1', 5: 'MQTT-3.5.2-1', 6: 'MQTT-3.6.2-1', 7: 'MQTT-3.7.2-1' } as const;

/**
 * PUBACK, PUBREC, PUBREL and PUBCOMP (sections 3.4 to 3.7): a Packet Identifier, then in 5.0 an optional
 * Reason Code and optional properties. A Remaining Length of 2 means Success with no properties.
 */
export function decodePubAckLike<T extends PubAckType>(r: Reader, type: T, version: ProtocolVersion): PubAckLikePacket<T> {
  const name = NAMES[type];
  const packetId = readPacketId(r, version, name);
  if (version < 5 || r.remaining === 0) {
    expectEnd(r, name);
    return { type, packetId, reasonCode: 0 };
  }
  const reasonCode = r.byte(name);
  if (!(allowedReasonCodes[type] as ReadonlySet<number>).has(reasonCode)) {
    throw badReasonCode(name, reasonCode, REASON_SPEC[type]);
  }
  if (r.remaining === 0) return { type, packetId, reasonCode };
  const properties = decodeProperties(r, type, name);
  expectEnd(r, name);
  return properties === undefined ? { type, packetId, reasonCode } : { type, packetId, reasonCode, properties };
}

export function encodePubAckLike(p: PubAckLikePacket<PubAckType>, version: ProtocolVersion): Buffer {
  const type = p.type;
  const name = NAMES[type];
  checkPacketId(p.packetId, name);
  // PUBREL's fixed header flags are 0010. [MQTT-3.6.1-1]
  const first = (type << 4) | (type === PacketType.Pubrel ? 0x02 : 0);
  const reasonCode = checkByte(p.reasonCode ?? 0, name);
  if (version < 5) {
    if (reasonCode !== 0) throw notInVersion(name, version, 'a non-zero Reason Code');
    if (p.properties !== undefined && propertiesLength(p.properties, type) > 0) throw notInVersion(name, version, 'properties');
    const buf = allocPacket(first, 2);
    buf[2] = p.packetId >>> 8;
    buf[3] = p.packetId & 0xff;
    return buf;
  }
  const propsLength = propertiesLength(p.properties, type);
  // The Reason Code and Property Length can be omitted for Success without properties.
  const length = propsLength > 0 ? 3 + varintLength(propsLength) + propsLength : reasonCode !== 0 ? 3 : 2;
  const buf = allocPacket(first, length);
  let pos = fixedHeaderLength(length);
  buf[pos++] = p.packetId >>> 8;
  buf[pos++] = p.packetId & 0xff;
  if (length > 2) buf[pos++] = reasonCode;
  if (propsLength > 0) writeProperties(buf, pos, p.properties, type, propsLength);
  return buf;
}
