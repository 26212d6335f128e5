import type { ProtocolVersion } from '../constants.js';
import { MqttError, malformed, protocolError } from '../errors.js';
import type { Reader } from '../reader.js';
import { ReasonCode } from '../reason-codes.js';

/** Picks the statement id of the version at hand: the 5.0 id, or the 3.1.1 id for 3.1 and 3.1.1. */
export function sid(version: ProtocolVersion, v5: string, v311: string): string {
  return version === 5 ? v5 : v311;
}

/** Reads a Packet Identifier, which MUST be non-zero where present. [MQTT-2.2.1-3] [MQTT-2.3.1-1] */
export function readPacketId(r: Reader, version: ProtocolVersion, field: string): number {
  const id = r.uint16(field);
  if (id === 0) {
    throw protocolError(
      'MQTT_PACKET_ID_INVALID',
      field,
      'Packet Identifier must be non-zero',
      sid(version, 'MQTT-2.2.1-3', 'MQTT-2.3.1-1'),
    );
  }
  return id;
}

export function checkPacketId(id: unknown, field: string): number {
  if (typeof id !== 'number' || !Number.isInteger(id) || id < 1 || id > 0xffff) {
    throw new MqttError(
      'MQTT_PACKET_ID_INVALID',
      ReasonCode.ProtocolError,
      `Packet Identifier ${String(id)} is not an integer from 1 to 65535`,
      {
        field,
        specId: 'MQTT-2.2.1-3',
      },
    );
  }
  return id;
}

/** A packet's content must end exactly where its Remaining Length says. */
export function expectEnd(r: Reader, field: string): void {
  if (r.pos !== r.end) {
    throw malformed('MQTT_PACKET_TRAILING_BYTES', field, `${r.end - r.pos} unexpected byte(s) after the last field`);
  }
}

/** The decoder saw a Reason Code that the packet type does not allow. */
export function badReasonCode(field: string, code: number, specId: string): MqttError {
  return protocolError(
    'MQTT_REASON_CODE_INVALID',
    field,
    `Reason Code 0x${code.toString(16).padStart(2, '0')} is not allowed here`,
    specId,
  );
}

/** The encoder was asked for something the chosen protocol version cannot carry. */
export function notInVersion(field: string, version: ProtocolVersion, what: string): MqttError {
  return new MqttError('MQTT_NOT_IN_VERSION', ReasonCode.ProtocolError, `${what} cannot be sent with protocol version ${version}`, {
    field,
  });
}

export function checkQoS(qos: unknown, field: string, specId = 'MQTT-3.3.1-4'): 0 | 1 | 2 {
  if (qos !== 0 && qos !== 1 && qos !== 2) {
    throw new MqttError('MQTT_QOS_INVALID', ReasonCode.MalformedPacket, `QoS ${String(qos)} is not 0, 1 or 2`, {
      field,
      specId,
    });
  }
  return qos;
}

export function checkByte(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xff) {
    throw new MqttError('MQTT_REASON_CODE_INVALID', ReasonCode.ProtocolError, `${String(value)} is not a byte`, { field });
  }
  return value;
}
