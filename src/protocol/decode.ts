import type { Buffer } from 'node:buffer';
import { PacketType, type ProtocolVersion, packetTypeNames } from './constants.js';
import { MqttError, malformed } from './errors.js';
import type { Packet } from './packet.js';
import { expectEnd, sid } from './packets/common.js';
import { decodeConnack } from './packets/connack.js';
import { decodeConnect } from './packets/connect.js';
import { decodeAuth, decodeDisconnect } from './packets/disconnect.js';
import { decodePubAckLike } from './packets/pubacks.js';
import { decodePublish } from './packets/publish.js';
import { decodeSuback, decodeUnsuback } from './packets/suback.js';
import { decodeSubscribe } from './packets/subscribe.js';
import { decodeUnsubscribe } from './packets/unsubscribe.js';
import { Reader } from './reader.js';

/**
 * Fixed-header flags every packet type but PUBLISH must carry (MQTT 5.0 table 2-2, 3.1.1 table 2.2).
 * Reserved flag bits MUST be set to the listed value; anything else is a Malformed Packet.
 * [MQTT-2.1.3-1] [MQTT-2.2.2-1] [MQTT-2.2.2-2] [MQTT-3.6.1-1] [MQTT-3.8.1-1] [MQTT-3.10.1-1] [MQTT-3.14.1-1] [MQTT-3.15.1-1]
 */
const REQUIRED_FLAGS: readonly number[] = [-1, 0, 0, -1, 0, 0, 2, 0, 2, 0, 2, 0, 0, 0, 0, 0];
const FLAG_SPEC: Readonly<Record<number, string>> = {
  6: 'MQTT-3.6.1-1',
  8: 'MQTT-3.8.1-1',
  10: 'MQTT-3.10.1-1',
  14: 'MQTT-3.14.1-1',
  15: 'MQTT-3.15.1-1',
};

/**
 * Checks the first byte of a fixed header: a known packet type for the version, with the required flags.
 * The framer calls this before buffering a body, so garbage fails on its first byte.
 */
export function checkFirstByte(first: number, version: ProtocolVersion): void {
  const type = first >> 4;
  if (type === 0 || (type === PacketType.Auth && version < 5)) {
    throw malformed(
      'MQTT_PACKET_TYPE_INVALID',
      'fixedHeader.type',
      `packet type ${type} is reserved${type === 15 ? ' before MQTT 5.0' : ''}`,
    );
  }
  const required = REQUIRED_FLAGS[type] as number;
  if (required >= 0 && (first & 0x0f) !== required) {
    const name = packetTypeNames[type as PacketType];
    throw malformed(
      'MQTT_FIXED_HEADER_FLAGS_INVALID',
      `${name}.flags`,
      `fixed header flags must be ${required.toString(2).padStart(4, '0')}, got ${(first & 0x0f).toString(2).padStart(4, '0')}`,
      FLAG_SPEC[type] ?? sid(version, 'MQTT-2.1.3-1', 'MQTT-2.2.2-1'),
    );
  }
}

/**
 * Decodes the packet whose first fixed-header byte is `first` and whose variable header and payload
 * span `r.pos .. r.end`. `version` is ignored for CONNECT, which names its own. The first byte must
 * already have passed checkFirstByte.
 */
export function decodeBody(r: Reader, first: number, version: ProtocolVersion): Packet {
  r.version = version;
  const type = (first >> 4) as PacketType;
  switch (type) {
    case PacketType.Connect:
      return decodeConnect(r);
    case PacketType.Connack:
      return decodeConnack(r, version);
    case PacketType.Publish:
      return decodePublish(r, first & 0x0f, version);
    case PacketType.Puback:
    case PacketType.Pubrec:
    case PacketType.Pubrel:
    case PacketType.Pubcomp:
      return decodePubAckLike(r, type, version);
    case PacketType.Subscribe:
      return decodeSubscribe(r, version);
    case PacketType.Suback:
      return decodeSuback(r, version);
    case PacketType.Unsubscribe:
      return decodeUnsubscribe(r, version);
    case PacketType.Unsuback:
      return decodeUnsuback(r, version);
    case PacketType.Pingreq:
      expectEnd(r, 'PINGREQ');
      return { type };
    case PacketType.Pingresp:
      expectEnd(r, 'PINGRESP');
      return { type };
    case PacketType.Disconnect:
      return decodeDisconnect(r, version);
    case PacketType.Auth:
      return decodeAuth(r);
    default:
      return exhaustive(type);
  }
}

function exhaustive(value: never): never {
  throw new Error(`unreachable: ${String(value)}`);
}

/**
 * Decodes exactly one whole packet (fixed header included) from `buf`. For tools and tests;
 * connections use the Framer, which also handles partial and concatenated packets.
 */
export function decodePacket(buf: Buffer, version: ProtocolVersion = 5): Packet {
  if (buf.length < 2) throw malformed('MQTT_PACKET_TRUNCATED', 'fixedHeader', 'a packet has at least two bytes');
  const first = buf[0] as number;
  const r = new Reader(buf, 1, buf.length);
  let remainingLength: number;
  try {
    remainingLength = r.varint('fixedHeader.remainingLength');
  } catch (err) {
    // Report a bad Remaining Length with the code the Framer uses for the same bytes. [MQTT-1.5.5-1]
    if (!(err instanceof MqttError) || err.code !== 'MQTT_VARIABLE_BYTE_INTEGER_INVALID') throw err;
    throw malformed(
      'MQTT_REMAINING_LENGTH_INVALID',
      'fixedHeader.remainingLength',
      'Remaining Length is not a minimally encoded Variable Byte Integer of at most four bytes',
      'MQTT-1.5.5-1',
    );
  }
  if (r.remaining !== remainingLength) {
    throw malformed(
      r.remaining < remainingLength ? 'MQTT_PACKET_TRUNCATED' : 'MQTT_PACKET_TRAILING_BYTES',
      'fixedHeader.remainingLength',
      `Remaining Length says ${remainingLength} bytes but ${r.remaining} follow`,
    );
  }
  checkFirstByte(first, version);
  return decodeBody(r, first, version);
}
