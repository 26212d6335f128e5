/**
 * Wire-level constants shared by every packet codec.
 * Names follow the MQTT 5.0 specification, section 2.1.2 (MQTT Control Packet type).
 */

/** MQTT Control Packet types, the high nibble of the first fixed-header byte. */
export const PacketType = {
  Connect: 1,
  Connack: 2,
  Publish: 3,
  Puback: 4,
  Pubrec: 5,
  Pubrel: 6,
  Pubcomp: 7,
  Subscribe: 8,
  Suback: 9,
  Unsubscribe: 10,
  Unsuback: 11,
  Pingreq: 12,
  Pingresp: 13,
  Disconnect: 14,
  Auth: 15,
} as const;
export type PacketType = (typeof PacketType)[keyof typeof PacketType];

export const packetTypeNames: Readonly<Record<PacketType, string>> = {
  1: 'CONNECT',
  2: 'CONNACK',
  3: 'PUBLISH',
  4: 'PUBACK',
  5: 'PUBREC',
  6: 'PUBREL',
  7: 'PUBCOMP',
  8: 'SUBSCRIBE',
  9: 'SUBACK',
  10: 'UNSUBSCRIBE',
  11: 'UNSUBACK',
  12: 'PINGREQ',
  13: 'PINGRESP',
  14: 'DISCONNECT',
  15: 'AUTH',
};

/**
 * Protocol Level byte of CONNECT: 3 is MQTT 3.1 ("MQIsdp"), 4 is MQTT 3.1.1, 5 is MQTT 5.0.
 */
export type ProtocolVersion = 3 | 4 | 5;
export const ProtocolVersion = { V31: 3, V311: 4, V5: 5 } as const;

export type QoS = 0 | 1 | 2;

/** The largest Remaining Length a Variable Byte Integer of four bytes can carry ([MQTT-1.5.5-1]). */
export const MAX_VARIABLE_BYTE_INTEGER = 268_435_455;

/** The largest packet any version allows: 1 type byte + 4 length bytes + the maximum Remaining Length. */
export const MAX_PACKET_SIZE = MAX_VARIABLE_BYTE_INTEGER + 5;

/** UTF-8 Encoded Strings and Binary Data are prefixed by a Two Byte Integer length. */
export const MAX_STRING_BYTES = 65_535;

export const MAX_PACKET_ID = 65_535;
