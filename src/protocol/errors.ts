import { ReasonCode, reasonCodeName } from './reason-codes.js';

/**
 * Stable error codes. Programs match on these strings; messages may change wording, codes do not.
 * Each names what went wrong, not where: the message adds the packet field.
 */
export type MqttErrorCode =
  // framing
  | 'MQTT_REMAINING_LENGTH_INVALID'
  | 'MQTT_PACKET_TOO_LARGE'
  | 'MQTT_PACKET_TYPE_INVALID'
  | 'MQTT_FIXED_HEADER_FLAGS_INVALID'
  | 'MQTT_PACKET_TRUNCATED'
  | 'MQTT_PACKET_TRAILING_BYTES'
  // primitives
  | 'MQTT_UTF8_INVALID'
  | 'MQTT_UTF8_NULL_CHARACTER'
  | 'MQTT_STRING_TOO_LONG'
  | 'MQTT_VARIABLE_BYTE_INTEGER_INVALID'
  // properties
  | 'MQTT_PROPERTY_UNKNOWN'
  | 'MQTT_PROPERTY_NOT_ALLOWED'
  | 'MQTT_PROPERTY_DUPLICATE'
  | 'MQTT_PROPERTY_VALUE_INVALID'
  | 'MQTT_PROPERTY_LENGTH_INVALID'
  // packet content
  | 'MQTT_PROTOCOL_NAME_INVALID'
  | 'MQTT_PROTOCOL_VERSION_UNSUPPORTED'
  | 'MQTT_CONNECT_FLAGS_INVALID'
  | 'MQTT_QOS_INVALID'
  | 'MQTT_PACKET_ID_INVALID'
  | 'MQTT_REASON_CODE_INVALID'
  | 'MQTT_TOPIC_NAME_INVALID'
  | 'MQTT_TOPIC_FILTER_INVALID'
  | 'MQTT_SHARED_SUBSCRIPTION_INVALID'
  | 'MQTT_SUBSCRIPTION_OPTIONS_INVALID'
  | 'MQTT_PAYLOAD_EMPTY'
  | 'MQTT_PAYLOAD_FORMAT_INVALID'
  | 'MQTT_FLAGS_INVALID'
  | 'MQTT_NOT_IN_VERSION'
  // behaviour (used by broker and client above the codec)
  | 'MQTT_PROTOCOL_ERROR';

export interface MqttErrorOptions {
  /** The normative statement this error enforces, e.g. `MQTT-1.5.4-2`. */
  readonly specId?: string;
  /** The packet field at fault, e.g. `PUBLISH.topicName`. */
  readonly field?: string;
  readonly cause?: unknown;
}

/**
 * The one error type of the protocol layer. It carries the MQTT 5.0 Reason Code that the peer should
 * be told (Malformed Packet, Protocol Error, Packet too large, ...), so exactly one place in the broker
 * and client turns it into a CONNACK or DISCONNECT.
 */
export class MqttError extends Error {
  override readonly name = 'MqttError';
  readonly reasonCode: number;
  readonly code: MqttErrorCode;
  readonly specId: string | undefined;
  readonly field: string | undefined;

  constructor(code: MqttErrorCode, reasonCode: number, message: string, options: MqttErrorOptions = {}) {
    const where = options.field === undefined ? '' : `${options.field}: `;
    const spec = options.specId === undefined ? '' : ` [${options.specId}]`;
    super(`${where}${message}${spec}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.reasonCode = reasonCode;
    this.specId = options.specId;
    this.field = options.field;
  }

  /** The reason code's name, as the specification spells it. */
  get reasonName(): string {
    return reasonCodeName(this.reasonCode);
  }
}

export function isMqttError(value: unknown): value is MqttError {
  return value instanceof MqttError;
}

/** A Malformed Packet (0x81): the bytes cannot be parsed according to the specification. */
export function malformed(code: MqttErrorCode, field: string, message: string, specId?: string): MqttError {
  return new MqttError(code, ReasonCode.MalformedPacket, message, specId === undefined ? { field } : { field, specId });
}

/** A Protocol Error (0x82): the bytes parse, but break a rule of the protocol. */
export function protocolError(code: MqttErrorCode, field: string, message: string, specId?: string): MqttError {
  return new MqttError(code, ReasonCode.ProtocolError, message, specId === undefined ? { field } : { field, specId });
}
