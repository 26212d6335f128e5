import type { Buffer } from 'node:buffer';
import { PacketType, type ProtocolVersion } from '../constants.js';
import { MqttError, malformed, protocolError } from '../errors.js';
import type { RetainHandling, SubscribePacket, Subscription } from '../packet.js';
import type { SubscribeProperties } from '../properties.js';
import { decodeProperties, propertiesLength, writeProperties } from '../properties.js';
import type { Reader } from '../reader.js';
import { ReasonCode } from '../reason-codes.js';
import { isSharedSubscription, validateTopicFilter } from '../topic.js';
import { allocPacket, fixedHeaderLength, utf8Length, varintLength, writeUint16, writeUtf8 } from '../writer.js';
import { checkPacketId, checkQoS, notInVersion, readPacketId, sid } from './common.js';

/** SUBSCRIBE (section 3.8). Fixed header flags 0010 are checked by the dispatcher. [MQTT-3.8.1-1] */
export function decodeSubscribe(r: Reader, version: ProtocolVersion): SubscribePacket {
  const packetId = readPacketId(r, version, 'SUBSCRIBE.packetId');
  const properties =
    version === 5 ? (decodeProperties(r, PacketType.Subscribe, 'SUBSCRIBE.properties') as SubscribeProperties | undefined) : undefined;
  const subscriptions: Subscription[] = [];
  while (r.remaining > 0) {
    // The Topic Filters MUST be a UTF-8 Encoded String. [MQTT-3.8.3-1]
    const topicFilter = r.utf8('SUBSCRIBE.topicFilter');
    validateTopicFilter(topicFilter, 'SUBSCRIBE.topicFilter', version);
    const options = r.byte('SUBSCRIBE.subscriptionOptions');
    subscriptions.push(decodeOptions(topicFilter, options, version));
  }
  // The payload MUST contain at least one Topic Filter and Subscription Options pair. [MQTT-3.8.3-2] [MQTT-3.8.3-3]
  if (subscriptions.length === 0) {
    throw (version === 5 ? protocolError : malformed)(
      'MQTT_PAYLOAD_EMPTY',
      'SUBSCRIBE.payload',
      'SUBSCRIBE must contain at least one Topic Filter',
      sid(version, 'MQTT-3.8.3-2', 'MQTT-3.8.3-3'),
    );
  }
  return properties === undefined
    ? { type: PacketType.Subscribe, packetId, subscriptions }
    : { type: PacketType.Subscribe, packetId, subscriptions, properties };
}

function decodeOptions(topicFilter: string, options: number, version: ProtocolVersion): Subscription {
  const qos = options & 0x03;
  if (qos === 3) {
    // 5.0: "It is a Protocol Error if the Maximum QoS field has the value 3" (section 3.8.3.1; no statement id).
    // 3.1.1: malformed. [MQTT-3.8.3-4] (3.1.1)
    if (version === 5) throw protocolError('MQTT_QOS_INVALID', 'SUBSCRIBE.qos', 'Maximum QoS must not be 3');
    throw malformed('MQTT_QOS_INVALID', 'SUBSCRIBE.qos', 'Requested QoS must not be 3', 'MQTT-3.8.3-4');
  }
  if (version < 5) {
    // Bits 7-2 of the Requested QoS byte are reserved and MUST be 0. [MQTT-3.8.3-4] (3.1.1)
    if ((options & 0xfc) !== 0) {
      throw malformed('MQTT_SUBSCRIPTION_OPTIONS_INVALID', 'SUBSCRIBE.requestedQoS', 'reserved bits 7-2 must be 0', 'MQTT-3.8.3-4');
    }
    return { topicFilter, qos: qos as 0 | 1 | 2, noLocal: false, retainAsPublished: false, retainHandling: 0 };
  }
  // Bits 7 and 6 of the Subscription Options are reserved. [MQTT-3.8.3-5]
  if ((options & 0xc0) !== 0) {
    throw malformed('MQTT_SUBSCRIPTION_OPTIONS_INVALID', 'SUBSCRIBE.subscriptionOptions', 'reserved bits 7-6 must be 0', 'MQTT-3.8.3-5');
  }
  const retainHandling = (options >> 4) & 0x03;
  if (retainHandling === 3) {
    // It is a Protocol Error to send a Retain Handling value of 3 (section 3.8.3.1).
    throw protocolError('MQTT_SUBSCRIPTION_OPTIONS_INVALID', 'SUBSCRIBE.retainHandling', 'Retain Handling must not be 3');
  }
  const noLocal = (options & 0x04) !== 0;
  // It is a Protocol Error to set the No Local bit to 1 on a Shared Subscription. [MQTT-3.8.3-4]
  if (noLocal && isSharedSubscription(topicFilter)) {
    throw protocolError(
      'MQTT_SUBSCRIPTION_OPTIONS_INVALID',
      'SUBSCRIBE.noLocal',
      'No Local must not be set on a Shared Subscription',
      'MQTT-3.8.3-4',
    );
  }
  return {
    topicFilter,
    qos: qos as 0 | 1 | 2,
    noLocal,
    retainAsPublished: (options & 0x08) !== 0,
    retainHandling: retainHandling as RetainHandling,
  };
}

function encodeOptions(s: Subscription, version: ProtocolVersion): number {
  const qos = checkQoS(s.qos, 'SUBSCRIBE.qos', sid(version, 'MQTT-3.8.3-5', 'MQTT-3.8.3-4'));
  const rh = s.retainHandling ?? 0;
  if (version < 5) {
    if (s.noLocal || s.retainAsPublished || rh !== 0) {
      throw notInVersion('SUBSCRIBE.subscriptionOptions', version, 'No Local, Retain As Published and Retain Handling');
    }
    return qos;
  }
  if (rh !== 0 && rh !== 1 && rh !== 2) {
    throw new MqttError('MQTT_SUBSCRIPTION_OPTIONS_INVALID', ReasonCode.ProtocolError, `Retain Handling ${String(rh)} is not 0, 1 or 2`, {
      field: 'SUBSCRIBE.retainHandling',
    });
  }
  return qos | (s.noLocal ? 0x04 : 0) | (s.retainAsPublished ? 0x08 : 0) | (rh << 4);
}

export function encodeSubscribe(p: SubscribePacket, version: ProtocolVersion): Buffer {
  checkPacketId(p.packetId, 'SUBSCRIBE.packetId');
  if (p.subscriptions.length === 0) {
    throw new MqttError('MQTT_PAYLOAD_EMPTY', ReasonCode.ProtocolError, 'SUBSCRIBE must contain at least one Topic Filter', {
      field: 'SUBSCRIBE.payload',
      specId: sid(version, 'MQTT-3.8.3-2', 'MQTT-3.8.3-3'),
    });
  }
  let length = 2;
  let propsLength = 0;
  if (version === 5) {
    propsLength = propertiesLength(p.properties, PacketType.Subscribe);
    length += varintLength(propsLength) + propsLength;
  } else if (p.properties !== undefined && propertiesLength(p.properties, PacketType.Subscribe) > 0) {
    throw notInVersion('SUBSCRIBE.properties', version, 'properties');
  }
  const lengths: number[] = [];
  for (const s of p.subscriptions) {
    const n = utf8Length(s.topicFilter, 'SUBSCRIBE.topicFilter');
    lengths.push(n);
    length += 2 + n + 1;
  }
  // Fixed header flags 0010. [MQTT-3.8.1-1]
  const buf = allocPacket((PacketType.Subscribe << 4) | 0x02, length);
  let pos = writeUint16(buf, fixedHeaderLength(length), p.packetId);
  if (version === 5) pos = writeProperties(buf, pos, p.properties, PacketType.Subscribe, propsLength);
  p.subscriptions.forEach((s, i) => {
    pos = writeUtf8(buf, pos, s.topicFilter, lengths[i] as number);
    buf[pos++] = encodeOptions(s, version);
  });
  return buf;
}
