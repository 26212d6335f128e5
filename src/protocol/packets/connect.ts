import { Buffer } from 'node:buffer';
import { PacketType, type ProtocolVersion } from '../constants.js';
import { MqttError, malformed } from '../errors.js';
import type { ConnectPacket, Will } from '../packet.js';
import { decodeProperties, propertiesLength, WILL_PROPERTIES, writeProperties } from '../properties.js';
import type { Reader } from '../reader.js';
import { ReasonCode } from '../reason-codes.js';
import { validateTopicName } from '../topic.js';
import { allocPacket, binaryLength, fixedHeaderLength, utf8Length, varintLength, writeBinary, writeUint16, writeUtf8 } from '../writer.js';
import { checkQoS, notInVersion, sid } from './common.js';

const FLAG_RESERVED = 0x01;
const FLAG_CLEAN = 0x02;
const FLAG_WILL = 0x04;
const FLAG_WILL_RETAIN = 0x20;
const FLAG_PASSWORD = 0x40;
const FLAG_USERNAME = 0x80;

const EMPTY = Buffer.alloc(0);

/**
 * CONNECT (section 3.1). The Protocol Name and Level pick the version: "MQIsdp"/3 is 3.1,
 * "MQTT"/4 is 3.1.1 and "MQTT"/5 is 5.0. Anything else is answered with Unsupported Protocol Version
 * (the broker turns that into CONNACK 0x01 or 0x84). [MQTT-3.1.2-1] [MQTT-3.1.2-2]
 */
export function decodeConnect(r: Reader): ConnectPacket {
  const protocolName = r.utf8('CONNECT.protocolName');
  const level = r.byte('CONNECT.protocolLevel');
  const version = protocolVersionOf(protocolName, level);
  r.version = version;

  const flags = r.byte('CONNECT.connectFlags');
  // The Server MUST validate that the reserved flag in the CONNECT packet is set to 0. [MQTT-3.1.2-3]
  if ((flags & FLAG_RESERVED) !== 0) {
    throw malformed('MQTT_CONNECT_FLAGS_INVALID', 'CONNECT.connectFlags', 'reserved flag bit 0 must be 0', 'MQTT-3.1.2-3');
  }
  const willFlag = (flags & FLAG_WILL) !== 0;
  const willQoS = (flags >> 3) & 0x03;
  const willRetain = (flags & FLAG_WILL_RETAIN) !== 0;
  if (willQoS === 3) {
    throw malformed('MQTT_QOS_INVALID', 'CONNECT.willQoS', 'Will QoS must not be 3', sid(version, 'MQTT-3.1.2-12', 'MQTT-3.1.2-14'));
  }
  if (!willFlag && willQoS !== 0) {
    throw malformed(
      'MQTT_CONNECT_FLAGS_INVALID',
      'CONNECT.willQoS',
      'Will QoS must be 0 when the Will Flag is 0',
      sid(version, 'MQTT-3.1.2-11', 'MQTT-3.1.2-13'),
    );
  }
  if (!willFlag && willRetain) {
    throw malformed(
      'MQTT_CONNECT_FLAGS_INVALID',
      'CONNECT.willRetain',
      'Will Retain must be 0 when the Will Flag is 0',
      sid(version, 'MQTT-3.1.2-13', 'MQTT-3.1.2-15'),
    );
  }
  const hasUsername = (flags & FLAG_USERNAME) !== 0;
  const hasPassword = (flags & FLAG_PASSWORD) !== 0;
  // 3.1.1: If the User Name Flag is set to 0, the Password Flag MUST be set to 0. [MQTT-3.1.2-22]
  // (5.0 allows a password without a user name.)
  if (version < 5 && hasPassword && !hasUsername) {
    throw malformed(
      'MQTT_CONNECT_FLAGS_INVALID',
      'CONNECT.passwordFlag',
      'Password Flag must be 0 when the User Name Flag is 0',
      'MQTT-3.1.2-22',
    );
  }
  const keepAlive = r.uint16('CONNECT.keepAlive');
  const properties = version === 5 ? decodeProperties(r, PacketType.Connect, 'CONNECT.properties') : undefined;

  // The Client Identifier MUST be present and is the first field in the payload. [MQTT-3.1.3-3] [MQTT-3.1.3-4]
  const clientId = r.utf8('CONNECT.clientId');
  let will: Will | undefined;
  if (willFlag) {
    // If the Will Flag is 1, the Will Properties, Topic and Payload MUST be present. [MQTT-3.1.2-9]
    const willProperties = version === 5 ? decodeProperties(r, WILL_PROPERTIES, 'CONNECT.willProperties') : undefined;
    const topic = r.utf8('CONNECT.willTopic');
    validateTopicName(topic, 'CONNECT.willTopic', version);
    const payload = r.binary('CONNECT.willPayload');
    will = {
      topic,
      payload,
      qos: willQoS as 0 | 1 | 2,
      retain: willRetain,
      ...(willProperties === undefined ? {} : { properties: willProperties }),
    };
  }
  // User Name and Password are present exactly when their flags are set. [MQTT-3.1.2-17] [MQTT-3.1.2-19]
  // (3.1.1: [MQTT-3.1.2-19] [MQTT-3.1.2-21])
  const username = hasUsername ? r.utf8('CONNECT.username') : undefined;
  const password = hasPassword ? r.binary('CONNECT.password') : undefined;
  if (r.pos !== r.end) {
    throw malformed('MQTT_PACKET_TRAILING_BYTES', 'CONNECT', `${r.end - r.pos} unexpected byte(s) after the last field`);
  }
  const packet: {
    -readonly [K in keyof ConnectPacket]: ConnectPacket[K];
  } = { type: PacketType.Connect, protocolVersion: version, clientId, clean: (flags & FLAG_CLEAN) !== 0, keepAlive };
  if (username !== undefined) packet.username = username;
  if (password !== undefined) packet.password = password;
  if (will !== undefined) packet.will = will;
  if (properties !== undefined) packet.properties = properties;
  return packet;
}

function protocolVersionOf(name: string, level: number): ProtocolVersion {
  if (name === 'MQTT' && (level === 4 || level === 5)) return level;
  if (name === 'MQIsdp' && level === 3) return 3;
  if (name !== 'MQTT' && name !== 'MQIsdp') {
    throw new MqttError('MQTT_PROTOCOL_NAME_INVALID', ReasonCode.UnsupportedProtocolVersion, `unknown protocol name "${name}"`, {
      field: 'CONNECT.protocolName',
      specId: 'MQTT-3.1.2-1',
    });
  }
  throw new MqttError(
    'MQTT_PROTOCOL_VERSION_UNSUPPORTED',
    ReasonCode.UnsupportedProtocolVersion,
    `protocol level ${level} is not supported with name "${name}"`,
    {
      field: 'CONNECT.protocolLevel',
      specId: 'MQTT-3.1.2-2',
    },
  );
}

export function encodeConnect(p: ConnectPacket): Buffer {
  const version = p.protocolVersion;
  if (version !== 3 && version !== 4 && version !== 5) {
    throw new MqttError(
      'MQTT_PROTOCOL_VERSION_UNSUPPORTED',
      ReasonCode.UnsupportedProtocolVersion,
      `protocol version ${String(version)} is not 3, 4 or 5`,
      {
        field: 'CONNECT.protocolVersion',
      },
    );
  }
  const v5 = version === 5;
  if (!v5 && p.properties !== undefined && propertiesLength(p.properties, PacketType.Connect) > 0) {
    throw notInVersion('CONNECT.properties', version, 'properties');
  }
  if (!Number.isInteger(p.keepAlive) || p.keepAlive < 0 || p.keepAlive > 0xffff) {
    throw new MqttError('MQTT_CONNECT_FLAGS_INVALID', ReasonCode.ProtocolError, `Keep Alive ${p.keepAlive} is not 0..65535`, {
      field: 'CONNECT.keepAlive',
    });
  }
  if (!v5 && p.password !== undefined && p.username === undefined) {
    throw new MqttError('MQTT_CONNECT_FLAGS_INVALID', ReasonCode.ProtocolError, 'a password needs a user name before MQTT 5.0', {
      field: 'CONNECT.password',
      specId: 'MQTT-3.1.2-22',
    });
  }
  const nameLength = version === 3 ? 6 : 4;
  const propsLength = v5 ? propertiesLength(p.properties, PacketType.Connect) : 0;
  const clientIdLength = utf8Length(p.clientId, 'CONNECT.clientId');
  let length = 2 + nameLength + 1 + 1 + 2 + 2 + clientIdLength;
  if (v5) length += varintLength(propsLength) + propsLength;

  const will = p.will;
  let willPropsLength = 0;
  let willTopicLength = 0;
  let flags = p.clean ? FLAG_CLEAN : 0;
  if (will !== undefined) {
    checkQoS(will.qos, 'CONNECT.willQoS', sid(version, 'MQTT-3.1.2-12', 'MQTT-3.1.2-14'));
    if (!v5 && will.properties !== undefined && propertiesLength(will.properties, WILL_PROPERTIES) > 0) {
      throw notInVersion('CONNECT.willProperties', version, 'will properties');
    }
    willPropsLength = v5 ? propertiesLength(will.properties, WILL_PROPERTIES) : 0;
    willTopicLength = utf8Length(will.topic, 'CONNECT.willTopic');
    length += 2 + willTopicLength + 2 + binaryLength(will.payload ?? EMPTY, 'CONNECT.willPayload');
    if (v5) length += varintLength(willPropsLength) + willPropsLength;
    flags |= FLAG_WILL | (will.qos << 3) | (will.retain ? FLAG_WILL_RETAIN : 0);
  }
  let usernameLength = 0;
  if (p.username !== undefined) {
    usernameLength = utf8Length(p.username, 'CONNECT.username');
    length += 2 + usernameLength;
    flags |= FLAG_USERNAME;
  }
  if (p.password !== undefined) {
    length += 2 + binaryLength(p.password, 'CONNECT.password');
    flags |= FLAG_PASSWORD;
  }

  const buf = allocPacket(PacketType.Connect << 4, length);
  let pos = fixedHeaderLength(length);
  pos = writeUtf8(buf, pos, version === 3 ? 'MQIsdp' : 'MQTT', nameLength);
  buf[pos++] = version;
  buf[pos++] = flags;
  pos = writeUint16(buf, pos, p.keepAlive);
  if (v5) pos = writeProperties(buf, pos, p.properties, PacketType.Connect, propsLength);
  pos = writeUtf8(buf, pos, p.clientId, clientIdLength);
  if (will !== undefined) {
    if (v5) pos = writeProperties(buf, pos, will.properties, WILL_PROPERTIES, willPropsLength);
    pos = writeUtf8(buf, pos, will.topic, willTopicLength);
    pos = writeBinary(buf, pos, will.payload ?? EMPTY);
  }
  if (p.username !== undefined) pos = writeUtf8(buf, pos, p.username, usernameLength);
  if (p.password !== undefined) pos = writeBinary(buf, pos, p.password);
  return buf;
}
