import type { Buffer } from 'node:buffer';
import { PacketType, type ProtocolVersion } from '../constants.js';
import type { AuthPacket, DisconnectPacket } from '../packet.js';
import { decodeProperties, propertiesLength, writeProperties } from '../properties.js';
import type { Reader } from '../reader.js';
import { allowedReasonCodes } from '../reason-codes.js';
import { allocPacket, fixedHeaderLength, varintLength } from '../writer.js';
import { badReasonCode, checkByte, expectEnd, notInVersion } from './common.js';

type ReasonOnlyType = typeof PacketType.Disconnect | typeof PacketType.Auth;
const NAMES = { 14: 'DISCONNECT', 15: 'AUTH' } as const;
const REASON_SPEC = { 14: 'MQTT-3.14.2-1', 15: 'MQTT-3.15.2-1' } as const;

/**
 * DISCONNECT (section 3.14) and AUTH (section 3.15): in 5.0 an optional Reason Code and optional
 * properties; a Remaining Length of 0 means Reason Code 0x00. A 3.1.1 DISCONNECT is empty.
 */
export function decodeDisconnect(r: Reader, version: ProtocolVersion): DisconnectPacket {
  if (version < 5) {
    expectEnd(r, 'DISCONNECT');
    return { type: PacketType.Disconnect, reasonCode: 0 };
  }
  return decodeReasonAndProperties(r, PacketType.Disconnect);
}

/** AUTH exists only in 5.0; the dispatcher rejects packet type 15 for earlier versions. */
export function decodeAuth(r: Reader): AuthPacket {
  return decodeReasonAndProperties(r, PacketType.Auth);
}

function decodeReasonAndProperties<T extends ReasonOnlyType>(
  r: Reader,
  type: T,
): { type: T; reasonCode: number; properties?: Record<string, unknown> } {
  const name = NAMES[type];
  if (r.remaining === 0) return { type, reasonCode: 0 };
  const reasonCode = r.byte(`${name}.reasonCode`);
  if (!(allowedReasonCodes[type] as ReadonlySet<number>).has(reasonCode)) {
    throw badReasonCode(`${name}.reasonCode`, reasonCode, REASON_SPEC[type]);
  }
  if (r.remaining === 0) return { type, reasonCode };
  const properties = decodeProperties(r, type, `${name}.properties`);
  expectEnd(r, name);
  return properties === undefined ? { type, reasonCode } : { type, reasonCode, properties };
}

export function encodeDisconnect(p: DisconnectPacket, version: ProtocolVersion): Buffer {
  if (version < 5) {
    if ((p.reasonCode ?? 0) !== 0) throw notInVersion('DISCONNECT.reasonCode', version, 'a non-zero Reason Code');
    if (p.properties !== undefined && propertiesLength(p.properties, PacketType.Disconnect) > 0) {
      throw notInVersion('DISCONNECT.properties', version, 'properties');
    }
    return allocPacket(PacketType.Disconnect << 4, 0);
  }
  return encodeReasonAndProperties(PacketType.Disconnect, p.reasonCode ?? 0, p.properties);
}

export function encodeAuth(p: AuthPacket, version: ProtocolVersion): Buffer {
  if (version < 5) throw notInVersion('AUTH', version, 'the AUTH packet');
  return encodeReasonAndProperties(PacketType.Auth, p.reasonCode ?? 0, p.properties);
}

function encodeReasonAndProperties(type: ReasonOnlyType, code: number, properties: object | undefined): Buffer {
  const reasonCode = checkByte(code, `${NAMES[type]}.reasonCode`);
  const propsLength = propertiesLength(properties, type);
  // Reason Code 0x00 without properties may be sent as a Remaining Length of 0.
  const length = propsLength > 0 ? 1 + varintLength(propsLength) + propsLength : reasonCode !== 0 ? 1 : 0;
  const buf = allocPacket(type << 4, length);
  let pos = fixedHeaderLength(length);
  if (length > 0) buf[pos++] = reasonCode;
  if (propsLength > 0) writeProperties(buf, pos, properties, type, propsLength);
  return buf;
}
