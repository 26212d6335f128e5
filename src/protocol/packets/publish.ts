import type { Buffer } from 'node:buffer';
import { PacketType, type ProtocolVersion, type QoS } from '../constants.js';
import { MqttError, malformed, protocolError } from '../errors.js';
import type { PublishPacket } from '../packet.js';
import type { PublishProperties } from '../properties.js';
import { decodeProperties, propertiesLength, writeProperties } from '../properties.js';
import { type Reader, utf8Error } from '../reader.js';
import { ReasonCode } from '../reason-codes.js';
import { checkUtf8, Utf8Check } from '../utf8.js';
import { allocPacket, allocPacketHeader, fixedHeaderLength, utf8Length, varintLength, writeUint16, writeUtf8 } from '../writer.js';
import { checkPacketId, checkQoS, notInVersion, readPacketId } from './common.js';

/** PUBLISH (section 3.3). `flags` is the low nibble of the fixed header: DUP, QoS, RETAIN. */
export function decodePublish(r: Reader, flags: number, version: ProtocolVersion): PublishPacket {
  const qos = (flags >> 1) & 0x03;
  // A PUBLISH Packet MUST NOT have both QoS bits set to 1. [MQTT-3.3.1-4]
  if (qos === 3) throw malformed('MQTT_QOS_INVALID', 'PUBLISH.qos', 'QoS must not be 3', 'MQTT-3.3.1-4');
  const dup = (flags & 0x08) !== 0;
  // The DUP flag MUST be set to 0 for all QoS 0 messages. [MQTT-3.3.1-2]
  if (dup && qos === 0) throw malformed('MQTT_FLAGS_INVALID', 'PUBLISH.dup', 'DUP must be 0 for QoS 0', 'MQTT-3.3.1-2');
  const topic = readTopicName(r);
  // A PUBLISH packet MUST NOT contain a Packet Identifier if its QoS value is 0. [MQTT-2.2.1-2] (3.1.1: [MQTT-2.3.1-5])
  const packetId = qos > 0 ? readPacketId(r, version, 'PUBLISH.packetId') : 0;
  const properties =
    version === 5 ? (decodeProperties(r, PacketType.Publish, 'PUBLISH.properties') as PublishProperties | undefined) : undefined;
  if (topic.length === 0 && properties?.topicAlias === undefined) {
    // 5.0: a zero-length Topic Name is only allowed with a Topic Alias (section 3.3.2.1);
    // before 5.0 every Topic Name must be at least one character long [MQTT-4.7.3-1].
    throw version === 5
      ? protocolError('MQTT_TOPIC_NAME_INVALID', 'PUBLISH.topicName', 'Topic Name is empty and there is no Topic Alias', 'MQTT-3.3.2-1')
      : malformed('MQTT_TOPIC_NAME_INVALID', 'PUBLISH.topicName', 'Topic Name must be at least one character long', 'MQTT-4.7.3-1');
  }
  const payload = r.rest();
  const retain = (flags & 0x01) !== 0;
  if (qos === 0) {
    return properties === undefined
      ? { type: PacketType.Publish, topic, payload, qos, retain, dup }
      : { type: PacketType.Publish, topic, payload, qos, retain, dup, properties };
  }
  return properties === undefined
    ? { type: PacketType.Publish, topic, payload, qos: qos as QoS, retain, dup, packetId }
    : { type: PacketType.Publish, topic, payload, qos: qos as QoS, retain, dup, packetId, properties };
}

/**
 * Reads the Topic Name in one pass over its bytes: well-formed UTF-8 without U+0000 [MQTT-3.3.2-1],
 * and no wildcard characters [MQTT-3.3.2-2].
 */
function readTopicName(r: Reader): string {
  const len = r.uint16('PUBLISH.topicName');
  if (r.end - r.pos < len) {
    throw malformed('MQTT_PACKET_TRUNCATED', 'PUBLISH.topicName', `needs ${len} bytes but only ${r.end - r.pos} remain in the packet`);
  }
  const buf = r.buf;
  const start = r.pos;
  const end = start + len;
  let ascii = true;
  for (let i = start; i < end; i++) {
    const b = buf[i] as number;
    if (b === 0x2b || b === 0x23) {
      throw new MqttError('MQTT_TOPIC_NAME_INVALID', ReasonCode.TopicNameInvalid, 'Topic Name must not contain wildcards', {
        field: 'PUBLISH.topicName',
        specId: 'MQTT-3.3.2-2',
      });
    }
    if (b === 0 || b >= 0x80) ascii = false;
  }
  if (!ascii) {
    const check = checkUtf8(buf, start, end);
    if (check !== Utf8Check.Valid) throw utf8Error(check, 'PUBLISH.topicName', r.version);
  }
  r.pos = end;
  return ascii ? buf.toString('latin1', start, end) : buf.toString('utf8', start, end);
}

export function encodePublish(p: PublishPacket, version: ProtocolVersion): Buffer {
  return writePublish(p, version, true);
}

/**
 * Everything of a PUBLISH but its payload: the fixed header (with the Remaining Length of the whole
 * packet), topic, packet identifier and properties. Writing this and then `p.payload` puts the exact bytes
 * of encodePublish on the wire without copying the payload (writev), which is what large messages and
 * messages shared by many subscribers want.
 */
export function encodePublishHeader(p: PublishPacket, version: ProtocolVersion): Buffer {
  return writePublish(p, version, false);
}

function writePublish(p: PublishPacket, version: ProtocolVersion, withPayload: boolean): Buffer {
  const qos = checkQoS(p.qos, 'PUBLISH.qos');
  const topicLength = utf8Length(p.topic, 'PUBLISH.topicName');
  let propsLength = 0;
  let length = 2 + topicLength + p.payload.length;
  if (qos > 0) {
    checkPacketId(p.packetId, 'PUBLISH.packetId');
    length += 2;
  }
  if (version === 5) {
    propsLength = propertiesLength(p.properties, PacketType.Publish);
    length += varintLength(propsLength) + propsLength;
  } else if (p.properties !== undefined && propertiesLength(p.properties, PacketType.Publish) > 0) {
    throw notInVersion('PUBLISH.properties', version, 'properties');
  }
  if (topicLength === 0 && (version < 5 || p.properties?.topicAlias === undefined)) {
    throw new MqttError('MQTT_TOPIC_NAME_INVALID', ReasonCode.TopicNameInvalid, 'Topic Name is empty', {
      field: 'PUBLISH.topicName',
      specId: 'MQTT-4.7.3-1',
    });
  }
  // DUP is only meaningful for QoS > 0. [MQTT-3.3.1-2]
  const first = (PacketType.Publish << 4) | (p.dup && qos > 0 ? 0x08 : 0) | (qos << 1) | (p.retain ? 1 : 0);
  const buf = withPayload ? allocPacket(first, length) : allocPacketHeader(first, length, length - p.payload.length);
  let pos = writeUtf8(buf, fixedHeaderLength(length), p.topic, topicLength);
  if (qos > 0) pos = writeUint16(buf, pos, p.packetId as number);
  if (version === 5) pos = writeProperties(buf, pos, p.properties, PacketType.Publish, propsLength);
  if (withPayload) buf.set(p.payload, pos);
  return buf;
}
