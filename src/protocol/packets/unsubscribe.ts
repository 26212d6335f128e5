import type { Buffer } from 'node:buffer';
import { PacketType, type ProtocolVersion } from '../constants.js';
import { MqttError, malformed, protocolError } from '../errors.js';
import type { UnsubscribePacket } from '../packet.js';
import { decodeProperties, propertiesLength, writeProperties } from '../properties.js';
import type { Reader } from '../reader.js';
import { ReasonCode } from '../reason-codes.js';
import { validateTopicFilter } from '../topic.js';
import { allocPacket, fixedHeaderLength, utf8Length, varintLength, writeUint16, writeUtf8 } from '../writer.js';
import { checkPacketId, notInVersion, readPacketId } from './common.js';

/** UNSUBSCRIBE (section 3.10). Fixed header flags 0010 are checked by the dispatcher. [MQTT-3.10.1-1] */
export function decodeUnsubscribe(r: Reader, version: ProtocolVersion): UnsubscribePacket {
  const packetId = readPacketId(r, version, 'UNSUBSCRIBE.packetId');
  const properties = version === 5 ? decodeProperties(r, PacketType.Unsubscribe, 'UNSUBSCRIBE.properties') : undefined;
  const topicFilters: string[] = [];
  while (r.remaining > 0) {
    // The Topic Filters MUST be UTF-8 Encoded Strings. [MQTT-3.10.3-1]
    const filter = r.utf8('UNSUBSCRIBE.topicFilter');
    validateTopicFilter(filter, 'UNSUBSCRIBE.topicFilter', version);
    topicFilters.push(filter);
  }
  // The Payload MUST contain at least one Topic Filter. [MQTT-3.10.3-2]
  if (topicFilters.length === 0) {
    throw (version === 5 ? protocolError : malformed)(
      'MQTT_PAYLOAD_EMPTY',
      'UNSUBSCRIBE.payload',
      'UNSUBSCRIBE must contain at least one Topic Filter',
      'MQTT-3.10.3-2',
    );
  }
  return properties === undefined
    ? { type: PacketType.Unsubscribe, packetId, topicFilters }
    : { type: PacketType.Unsubscribe, packetId, topicFilters, properties };
}

export function encodeUnsubscribe(p: UnsubscribePacket, version: ProtocolVersion): Buffer {
  checkPacketId(p.packetId, 'UNSUBSCRIBE.packetId');
  if (p.topicFilters.length === 0) {
    throw new MqttError('MQTT_PAYLOAD_EMPTY', ReasonCode.ProtocolError, 'UNSUBSCRIBE must contain at least one Topic Filter', {
      field: 'UNSUBSCRIBE.payload',
      specId: 'MQTT-3.10.3-2',
    });
  }
  let length = 2;
  let propsLength = 0;
  if (version === 5) {
    propsLength = propertiesLength(p.properties, PacketType.Unsubscribe);
    length += varintLength(propsLength) + propsLength;
  } else if (p.properties !== undefined && propertiesLength(p.properties, PacketType.Unsubscribe) > 0) {
    throw notInVersion('UNSUBSCRIBE.properties', version, 'properties');
  }
  const lengths = p.topicFilters.map((f) => utf8Length(f, 'UNSUBSCRIBE.topicFilter'));
  for (const n of lengths) length += 2 + n;
  const buf = allocPacket((PacketType.Unsubscribe << 4) | 0x02, length);
  let pos = writeUint16(buf, fixedHeaderLength(length), p.packetId);
  if (version === 5) pos = writeProperties(buf, pos, p.properties, PacketType.Unsubscribe, propsLength);
  p.topicFilters.forEach((f, i) => {
    pos = writeUtf8(buf, pos, f, lengths[i] as number);
  });
  return buf;
}
