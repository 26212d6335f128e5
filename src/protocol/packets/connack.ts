import type { Buffer } from 'node:buffer';
import { PacketType, type ProtocolVersion } from '../constants.js';
import { malformed, protocolError } from '../errors.js';
import type { ConnackPacket } from '../packet.js';
import { decodeProperties, propertiesLength, writeProperties } from '../properties.js';
import type { Reader } from '../reader.js';
import { allowedReasonCodes } from '../reason-codes.js';
import { allocPacket, fixedHeaderLength, varintLength } from '../writer.js';
import { badReasonCode, checkByte, expectEnd, notInVersion, sid } from './common.js';

const allowed = allowedReasonCodes[PacketType.Connack] as ReadonlySet<number>;

/** CONNACK (section 3.2). */
export function decodeConnack(r: Reader, version: ProtocolVersion): ConnackPacket {
  const flags = r.byte('CONNACK.acknowledgeFlags');
  // Bits 7-1 are reserved and MUST be set to 0. [MQTT-3.2.2-1] (3.1 has no Session Present: all reserved)
  if ((flags & 0xfe) !== 0 || (version === 3 && flags !== 0)) {
    throw malformed(
      'MQTT_FLAGS_INVALID',
      'CONNACK.acknowledgeFlags',
      'reserved bits must be 0',
      sid(version, 'MQTT-3.2.2-1', 'MQTT-2.2.2-1'),
    );
  }
  const sessionPresent = flags === 1;
  const reasonCode = r.byte('CONNACK.reasonCode');
  if (version === 5 ? !allowed.has(reasonCode) : reasonCode > 5) {
    throw badReasonCode('CONNACK.reasonCode', reasonCode, sid(version, 'MQTT-3.2.2-8', 'MQTT-3.2.2-6'));
  }
  // A CONNACK with a non-zero Reason Code MUST have Session Present 0. [MQTT-3.2.2-6] [MQTT-3.2.2-4]
  if (sessionPresent && reasonCode !== 0) {
    throw protocolError(
      'MQTT_FLAGS_INVALID',
      'CONNACK.sessionPresent',
      'Session Present must be 0 with a non-zero Reason Code',
      sid(version, 'MQTT-3.2.2-6', 'MQTT-3.2.2-4'),
    );
  }
  const properties = version === 5 ? decodeProperties(r, PacketType.Connack, 'CONNACK.properties') : undefined;
  expectEnd(r, 'CONNACK');
  return properties === undefined
    ? { type: PacketType.Connack, sessionPresent, reasonCode }
    : { type: PacketType.Connack, sessionPresent, reasonCode, properties };
}

export function encodeConnack(p: ConnackPacket, version: ProtocolVersion): Buffer {
  const reasonCode = checkByte(p.reasonCode, 'CONNACK.reasonCode');
  let length = 2;
  let propsLength = 0;
  if (version === 5) {
    propsLength = propertiesLength(p.properties, PacketType.Connack);
    length += varintLength(propsLength) + propsLength;
  } else if (p.properties !== undefined && propertiesLength(p.properties, PacketType.Connack) > 0) {
    throw notInVersion('CONNACK.properties', version, 'properties');
  }
  const buf = allocPacket(PacketType.Connack << 4, length);
  let pos = fixedHeaderLength(length);
  // 3.1 has no Session Present flag.
  buf[pos++] = p.sessionPresent && version !== 3 ? 1 : 0;
  buf[pos++] = reasonCode;
  if (version === 5) writeProperties(buf, pos, p.properties, PacketType.Connack, propsLength);
  return buf;
}
