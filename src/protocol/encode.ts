import type { Buffer } from 'node:buffer';
import { PacketType, type ProtocolVersion } from './constants.js';
import type { Packet } from './packet.js';
import { encodeConnack } from './packets/connack.js';
import { encodeConnect } from './packets/connect.js';
import { encodeAuth, encodeDisconnect } from './packets/disconnect.js';
import { encodePubAckLike } from './packets/pubacks.js';
import { encodePublish } from './packets/publish.js';
import { encodeSuback, encodeUnsuback } from './packets/suback.js';
import { encodeSubscribe } from './packets/subscribe.js';
import { encodeUnsubscribe } from './packets/unsubscribe.js';
import { allocPacket } from './writer.js';

/**
 * Encodes a packet for the given protocol version into one exactly-sized buffer.
 * CONNECT carries its own version. Throws MqttError for values that cannot be written in the packet's
 * layout (wrong types, out-of-range numbers, strings over 65,535 bytes, properties the packet or version
 * cannot carry, v5-only fields in 3.1.1). Content rules (Topic Name and Filter syntax, U+0000, Reason Code
 * sets) are the caller's: the client validates what users give it, and the broker only re-encodes what it
 * decoded and validated.
 */
export function encodePacket(packet: Packet, version: ProtocolVersion = 5): Buffer {
  switch (packet.type) {
    case PacketType.Connect:
      return encodeConnect(packet);
    case PacketType.Connack:
      return encodeConnack(packet, version);
    case PacketType.Publish:
      return encodePublish(packet, version);
    case PacketType.Puback:
    case PacketType.Pubrec:
    case PacketType.Pubrel:
    case PacketType.Pubcomp:
      return encodePubAckLike(packet, version);
    case PacketType.Subscribe:
      return encodeSubscribe(packet, version);
    case PacketType.Suback:
      return encodeSuback(packet, version);
    case PacketType.Unsubscribe:
      return encodeUnsubscribe(packet, version);
    case PacketType.Unsuback:
      return encodeUnsuback(packet, version);
    case PacketType.Pingreq:
    case PacketType.Pingresp:
      return allocPacket(packet.type << 4, 0);
    case PacketType.Disconnect:
      return encodeDisconnect(packet, version);
    case PacketType.Auth:
      return encodeAuth(packet, version);
    default:
      return exhaustive(packet);
  }
}

function exhaustive(value: never): never {
  throw new Error(`unreachable: ${JSON.stringify(value)}`);
}
