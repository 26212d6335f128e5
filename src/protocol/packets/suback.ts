import type { Buffer } from 'node:buffer';
import { PacketType, type ProtocolVersion } from '../constants.js';
import { malformed } from '../errors.js';
import type { SubackPacket, UnsubackPacket } from '../packet.js';
import { decodeProperties, propertiesLength, writeProperties } from '../properties.js';
import type { Reader } from '../reader.js';
import { allowedReasonCodes, v3SubackReturnCodes } from '../reason-codes.js';
import { allocPacket, fixedHeaderLength, varintLength, writeUint16 } from '../writer.js';
import { badReasonCode, checkByte, checkPacketId, expectEnd, notInVersion, readPacketId } from './common.js';

type AckType = typeof PacketType.Suback | typeof PacketType.Unsuback;

/**
 * SUBACK (section 3.9) and UNSUBACK (section 3.11): a Packet Identifier, 5.0 properties, then one
 * Reason Code per Topic Filter of the request. A 3.1.1 UNSUBACK has no payload.
 */
export function decodeSuback(r: Reader, version: ProtocolVersion): SubackPacket {
  const packetId = readPacketId(r, version, 'SUBACK.packetId');
  const properties = version === 5 ? decodeProperties(r, PacketType.Suback, 'SUBACK.properties') : undefined;
  const allowed = version === 5 ? (allowedReasonCodes[PacketType.Suback] as ReadonlySet<number>) : v3SubackReturnCodes;
  const reasonCodes = readCodes(r, allowed, 'SUBACK', 'MQTT-3.9.3-2');
  return properties === undefined
    ? { type: PacketType.Suback, packetId, reasonCodes }
    : { type: PacketType.Suback, packetId, reasonCodes, properties };
}

export function decodeUnsuback(r: Reader, version: ProtocolVersion): UnsubackPacket {
  const packetId = readPacketId(r, version, 'UNSUBACK.packetId');
  if (version < 5) {
    expectEnd(r, 'UNSUBACK');
    return { type: PacketType.Unsuback, packetId, reasonCodes: [] };
  }
  const properties = decodeProperties(r, PacketType.Unsuback, 'UNSUBACK.properties');
  const reasonCodes = readCodes(r, allowedReasonCodes[PacketType.Unsuback] as ReadonlySet<number>, 'UNSUBACK', 'MQTT-3.11.3-2');
  return properties === undefined
    ? { type: PacketType.Unsuback, packetId, reasonCodes }
    : { type: PacketType.Unsuback, packetId, reasonCodes, properties };
}

function readCodes(r: Reader, allowed: ReadonlySet<number>, name: string, specId: string): number[] {
  const codes: number[] = [];
  while (r.remaining > 0) {
    const code = r.byte(name);
    if (!allowed.has(code)) throw badReasonCode(`${name}.reasonCode`, code, specId);
    codes.push(code);
  }
  if (codes.length === 0) throw malformed('MQTT_PAYLOAD_EMPTY', `${name}.payload`, 'must contain at least one Reason Code');
  return codes;
}

export function encodeSuback(p: SubackPacket, version: ProtocolVersion): Buffer {
  return encodeAck(PacketType.Suback, 'SUBACK', p.packetId, p.reasonCodes, p.properties, version);
}

export function encodeUnsuback(p: UnsubackPacket, version: ProtocolVersion): Buffer {
  if (version < 5) {
    if (p.reasonCodes.some((c) => c !== 0)) throw notInVersion('UNSUBACK.reasonCodes', version, 'Reason Codes');
    return encodeAck(PacketType.Unsuback, 'UNSUBACK', p.packetId, [], p.properties, version);
  }
  return encodeAck(PacketType.Unsuback, 'UNSUBACK', p.packetId, p.reasonCodes, p.properties, version);
}

function encodeAck(
  type: AckType,
  name: string,
  packetId: number,
  codes: readonly number[],
  properties: object | undefined,
  version: ProtocolVersion,
): Buffer {
  checkPacketId(packetId, `${name}.packetId`);
  let length = 2 + codes.length;
  let propsLength = 0;
  if (version === 5) {
    propsLength = propertiesLength(properties, type);
    length += varintLength(propsLength) + propsLength;
  } else if (properties !== undefined && propertiesLength(properties, type) > 0) {
    throw notInVersion(`${name}.properties`, version, 'properties');
  }
  const buf = allocPacket(type << 4, length);
  let pos = writeUint16(buf, fixedHeaderLength(length), packetId);
  if (version === 5) pos = writeProperties(buf, pos, properties, type, propsLength);
  for (const code of codes) buf[pos++] = checkByte(code, `${name}.reasonCode`);
  return buf;
}
