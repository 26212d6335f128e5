import type { Buffer } from 'node:buffer';
import { PacketType } from './constants.js';
import { MqttError, malformed, protocolError } from './errors.js';
import type { Reader } from './reader.js';
import { ReasonCode } from './reason-codes.js';
import {
  binaryLength,
  checkVarint,
  utf8Length,
  varintLength,
  writeBinary,
  writeUint16,
  writeUint32,
  writeUtf8,
  writeVarint,
} from './writer.js';

/** MQTT 5.0 Property Identifiers (section 2.2.2.2). */
export const PropertyId = {
  PayloadFormatIndicator: 0x01,
  MessageExpiryInterval: 0x02,
  ContentType: 0x03,
  ResponseTopic: 0x08,
  CorrelationData: 0x09,
  SubscriptionIdentifier: 0x0b,
  SessionExpiryInterval: 0x11,
  AssignedClientIdentifier: 0x12,
  ServerKeepAlive: 0x13,
  AuthenticationMethod: 0x15,
  AuthenticationData: 0x16,
  RequestProblemInformation: 0x17,
  WillDelayInterval: 0x18,
  RequestResponseInformation: 0x19,
  ResponseInformation: 0x1a,
  ServerReference: 0x1c,
  ReasonString: 0x1f,
  ReceiveMaximum: 0x21,
  TopicAliasMaximum: 0x22,
  TopicAlias: 0x23,
  MaximumQoS: 0x24,
  RetainAvailable: 0x25,
  UserProperty: 0x26,
  MaximumPacketSize: 0x27,
  WildcardSubscriptionAvailable: 0x28,
  SubscriptionIdentifierAvailable: 0x29,
  SharedSubscriptionAvailable: 0x2a,
} as const;

/** A User Property: a name/value pair. Order is significant and names may repeat ([MQTT-3.3.2-18]). */
export type UserProperty = readonly [name: string, value: string];

export interface WillProperties {
  readonly willDelayInterval?: number;
  readonly payloadFormatIndicator?: number;
  readonly messageExpiryInterval?: number;
  readonly contentType?: string;
  readonly responseTopic?: string;
  readonly correlationData?: Buffer;
  readonly userProperties?: readonly UserProperty[];
}

export interface ConnectProperties {
  readonly sessionExpiryInterval?: number;
  readonly receiveMaximum?: number;
  readonly maximumPacketSize?: number;
  readonly topicAliasMaximum?: number;
  readonly requestResponseInformation?: boolean;
  readonly requestProblemInformation?: boolean;
  readonly userProperties?: readonly UserProperty[];
  readonly authenticationMethod?: string;
  readonly authenticationData?: Buffer;
}

export interface ConnackProperties {
  readonly sessionExpiryInterval?: number;
  readonly receiveMaximum?: number;
  readonly maximumQoS?: number;
  readonly retainAvailable?: boolean;
  readonly maximumPacketSize?: number;
  readonly assignedClientIdentifier?: string;
  readonly topicAliasMaximum?: number;
  readonly reasonString?: string;
  readonly userProperties?: readonly UserProperty[];
  readonly wildcardSubscriptionAvailable?: boolean;
  readonly subscriptionIdentifiersAvailable?: boolean;
  readonly sharedSubscriptionAvailable?: boolean;
  readonly serverKeepAlive?: number;
  readonly responseInformation?: string;
  readonly serverReference?: string;
  readonly authenticationMethod?: string;
  readonly authenticationData?: Buffer;
}

export interface PublishProperties {
  readonly payloadFormatIndicator?: number;
  readonly messageExpiryInterval?: number;
  readonly topicAlias?: number;
  readonly responseTopic?: string;
  readonly correlationData?: Buffer;
  readonly userProperties?: readonly UserProperty[];
  /** Server to Client only; one per matching subscription that has an identifier. */
  readonly subscriptionIdentifiers?: readonly number[];
  readonly contentType?: string;
}

/** PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK and UNSUBACK carry only these. */
export interface AckProperties {
  readonly reasonString?: string;
  readonly userProperties?: readonly UserProperty[];
}

export interface SubscribeProperties {
  readonly subscriptionIdentifier?: number;
  readonly userProperties?: readonly UserProperty[];
}

export interface UnsubscribeProperties {
  readonly userProperties?: readonly UserProperty[];
}

export interface DisconnectProperties {
  readonly sessionExpiryInterval?: number;
  readonly reasonString?: string;
  readonly userProperties?: readonly UserProperty[];
  readonly serverReference?: string;
}

export interface AuthProperties {
  readonly authenticationMethod?: string;
  readonly authenticationData?: Buffer;
  readonly reasonString?: string;
  readonly userProperties?: readonly UserProperty[];
}

/** Where a property list appears: a packet type, or the Will Properties of CONNECT. */
export const WILL_PROPERTIES = 16;
export type PropertyContext = PacketType | typeof WILL_PROPERTIES;

type ValueType = 'byte' | 'bool' | 'uint16' | 'uint32' | 'varint' | 'utf8' | 'binary' | 'pair';

interface PropertyDef {
  readonly id: number;
  readonly name: string;
  readonly label: string;
  readonly type: ValueType;
  readonly contexts: readonly PropertyContext[];
  /** May appear more than once (User Property everywhere; Subscription Identifier in PUBLISH). */
  readonly repeatable: boolean;
  /** Smallest value that is not a Protocol Error, for integers. */
  readonly min?: number;
  /** Largest value that is not a Protocol Error, for integers. */
  readonly max?: number;
  /** Reason code when the value is out of range (default Protocol Error). */
  readonly rangeReason?: number;
}

const P = PacketType;
const W = WILL_PROPERTIES;
const ACKS: readonly PropertyContext[] = [P.Puback, P.Pubrec, P.Pubrel, P.Pubcomp, P.Suback, P.Unsuback];
const ALL: readonly PropertyContext[] = [P.Connect, P.Connack, P.Publish, W, ...ACKS, P.Subscribe, P.Unsubscribe, P.Disconnect, P.Auth];

/** The table of section 2.2.2.2: identifier, name, type and the packets that may carry each property. */
const DEFS: readonly PropertyDef[] = [
  {
    id: 0x01,
    name: 'payloadFormatIndicator',
    label: 'Payload Format Indicator',
    type: 'byte',
    contexts: [P.Publish, W],
    repeatable: false,
    min: 0,
    max: 1,
  },
  {
    id: 0x02,
    name: 'messageExpiryInterval',
    label: 'Message Expiry Interval',
    type: 'uint32',
    contexts: [P.Publish, W],
    repeatable: false,
  },
  { id: 0x03, name: 'contentType', label: 'Content Type', type: 'utf8', contexts: [P.Publish, W], repeatable: false },
  { id: 0x08, name: 'responseTopic', label: 'Response Topic', type: 'utf8', contexts: [P.Publish, W], repeatable: false },
  { id: 0x09, name: 'correlationData', label: 'Correlation Data', type: 'binary', contexts: [P.Publish, W], repeatable: false },
  // A Subscription Identifier of 0 is a Protocol Error (section 3.8.2.1.2).
  {
    id: 0x0b,
    name: 'subscriptionIdentifiers',
    label: 'Subscription Identifier',
    type: 'varint',
    contexts: [P.Publish],
    repeatable: true,
    min: 1,
  },
  {
    id: 0x0b,
    name: 'subscriptionIdentifier',
    label: 'Subscription Identifier',
    type: 'varint',
    contexts: [P.Subscribe],
    repeatable: false,
    min: 1,
  },
  {
    id: 0x11,
    name: 'sessionExpiryInterval',
    label: 'Session Expiry Interval',
    type: 'uint32',
    contexts: [P.Connect, P.Connack, P.Disconnect],
    repeatable: false,
  },
  {
    id: 0x12,
    name: 'assignedClientIdentifier',
    label: 'Assigned Client Identifier',
    type: 'utf8',
    contexts: [P.Connack],
    repeatable: false,
  },
  { id: 0x13, name: 'serverKeepAlive', label: 'Server Keep Alive', type: 'uint16', contexts: [P.Connack], repeatable: false },
  {
    id: 0x15,
    name: 'authenticationMethod',
    label: 'Authentication Method',
    type: 'utf8',
    contexts: [P.Connect, P.Connack, P.Auth],
    repeatable: false,
  },
  {
    id: 0x16,
    name: 'authenticationData',
    label: 'Authentication Data',
    type: 'binary',
    contexts: [P.Connect, P.Connack, P.Auth],
    repeatable: false,
  },
  {
    id: 0x17,
    name: 'requestProblemInformation',
    label: 'Request Problem Information',
    type: 'bool',
    contexts: [P.Connect],
    repeatable: false,
  },
  { id: 0x18, name: 'willDelayInterval', label: 'Will Delay Interval', type: 'uint32', contexts: [W], repeatable: false },
  {
    id: 0x19,
    name: 'requestResponseInformation',
    label: 'Request Response Information',
    type: 'bool',
    contexts: [P.Connect],
    repeatable: false,
  },
  { id: 0x1a, name: 'responseInformation', label: 'Response Information', type: 'utf8', contexts: [P.Connack], repeatable: false },
  { id: 0x1c, name: 'serverReference', label: 'Server Reference', type: 'utf8', contexts: [P.Connack, P.Disconnect], repeatable: false },
  {
    id: 0x1f,
    name: 'reasonString',
    label: 'Reason String',
    type: 'utf8',
    contexts: [P.Connack, ...ACKS, P.Disconnect, P.Auth],
    repeatable: false,
  },
  // Receive Maximum and Maximum Packet Size of 0 are Protocol Errors (sections 3.1.2.11.3, 3.1.2.11.4).
  {
    id: 0x21,
    name: 'receiveMaximum',
    label: 'Receive Maximum',
    type: 'uint16',
    contexts: [P.Connect, P.Connack],
    repeatable: false,
    min: 1,
  },
  {
    id: 0x22,
    name: 'topicAliasMaximum',
    label: 'Topic Alias Maximum',
    type: 'uint16',
    contexts: [P.Connect, P.Connack],
    repeatable: false,
  },
  // A Topic Alias of 0 is not permitted: the receiver answers Topic Alias invalid. [MQTT-3.3.2-8]
  {
    id: 0x23,
    name: 'topicAlias',
    label: 'Topic Alias',
    type: 'uint16',
    contexts: [P.Publish],
    repeatable: false,
    min: 1,
    rangeReason: ReasonCode.TopicAliasInvalid,
  },
  { id: 0x24, name: 'maximumQoS', label: 'Maximum QoS', type: 'byte', contexts: [P.Connack], repeatable: false, min: 0, max: 1 },
  { id: 0x25, name: 'retainAvailable', label: 'Retain Available', type: 'bool', contexts: [P.Connack], repeatable: false },
  { id: 0x26, name: 'userProperties', label: 'User Property', type: 'pair', contexts: ALL, repeatable: true },
  {
    id: 0x27,
    name: 'maximumPacketSize',
    label: 'Maximum Packet Size',
    type: 'uint32',
    contexts: [P.Connect, P.Connack],
    repeatable: false,
    min: 1,
  },
  {
    id: 0x28,
    name: 'wildcardSubscriptionAvailable',
    label: 'Wildcard Subscription Available',
    type: 'bool',
    contexts: [P.Connack],
    repeatable: false,
  },
  {
    id: 0x29,
    name: 'subscriptionIdentifiersAvailable',
    label: 'Subscription Identifier Available',
    type: 'bool',
    contexts: [P.Connack],
    repeatable: false,
  },
  {
    id: 0x2a,
    name: 'sharedSubscriptionAvailable',
    label: 'Shared Subscription Available',
    type: 'bool',
    contexts: [P.Connack],
    repeatable: false,
  },
];

const MAX_ID = 0x2a;
const CONTEXTS = 17;
/** byContext[context][id]: the definition that context may carry, if any. */
const byContext: (PropertyDef | undefined)[][] = [];
/** byName[context]: the property names that context may carry. */
const byName: Map<string, PropertyDef>[] = [];
const known: (PropertyDef | undefined)[] = [];
for (let c = 0; c < CONTEXTS; c++) {
  byContext.push(new Array<PropertyDef | undefined>(MAX_ID + 1).fill(undefined));
  byName.push(new Map());
}
for (const def of DEFS) {
  known[def.id] = def;
  for (const c of def.contexts) {
    (byContext[c] as (PropertyDef | undefined)[])[def.id] = def;
    (byName[c] as Map<string, PropertyDef>).set(def.name, def);
  }
}

/** Names of properties by id, for messages and tools. */
export function propertyLabel(id: number): string | undefined {
  return known[id]?.label;
}

const contextNames: Record<number, string> = { [W]: 'Will Properties' };
function contextName(ctx: PropertyContext): string {
  return (
    contextNames[ctx] ??
    ([
      '',
      'CONNECT',
      'CONNACK',
      'PUBLISH',
      'PUBACK',
      'PUBREC',
      'PUBREL',
      'PUBCOMP',
      'SUBSCRIBE',
      'SUBACK',
      'UNSUBSCRIBE',
      'UNSUBACK',
      'PINGREQ',
      'PINGRESP',
      'DISCONNECT',
      'AUTH',
    ][ctx] as string)
  );
}

/**
 * Reads a Property Length and the properties it covers (section 2.2.2). Returns undefined when the
 * length is zero, so packets without properties allocate nothing for them.
 */
export function decodeProperties(r: Reader, ctx: PropertyContext, field: string): Record<string, unknown> | undefined {
  const length = r.varint(field);
  if (length === 0) return undefined;
  const packetEnd = r.end;
  const end = r.pos + length;
  if (end > packetEnd) {
    throw malformed(
      'MQTT_PROPERTY_LENGTH_INVALID',
      field,
      `Property Length ${length} exceeds the ${packetEnd - r.pos} bytes left in the packet`,
    );
  }
  // Reads past the property section must fail rather than eat into the payload.
  r.end = end;
  const table = byContext[ctx] as (PropertyDef | undefined)[];
  const props: Record<string, unknown> = {};
  let seenLow = 0;
  let seenHigh = 0;
  while (r.pos < end) {
    const id = r.varint(field);
    const def = id <= MAX_ID ? table[id] : undefined;
    if (def === undefined) {
      const other = known[id];
      if (other === undefined) {
        throw malformed('MQTT_PROPERTY_UNKNOWN', field, `unknown Property Identifier 0x${id.toString(16)}`);
      }
      throw malformed('MQTT_PROPERTY_NOT_ALLOWED', field, `${other.label} is not allowed in ${contextName(ctx)}`);
    }
    if (!def.repeatable) {
      const bit = 1 << (id & 31);
      const seen = id < 32 ? seenLow : seenHigh;
      if ((seen & bit) !== 0) {
        throw protocolError('MQTT_PROPERTY_DUPLICATE', field, `${def.label} appears more than once`);
      }
      if (id < 32) seenLow |= bit;
      else seenHigh |= bit;
    }
    readValue(r, def, props);
  }
  r.end = packetEnd;
  checkCombinations(props, ctx, field);
  return props;
}

/** Rules that span properties or need a property's meaning, not just its type. */
function checkCombinations(props: Record<string, unknown>, ctx: PropertyContext, field: string): void {
  const responseTopic = props['responseTopic'];
  if (typeof responseTopic === 'string' && (responseTopic.length === 0 || responseTopic.includes('+') || responseTopic.includes('#'))) {
    // The Response Topic is a Topic Name: not empty, no wildcard characters. [MQTT-3.3.2-14]
    throw protocolError(
      'MQTT_PROPERTY_VALUE_INVALID',
      `${field}.responseTopic`,
      'Response Topic must be a Topic Name without wildcards',
      'MQTT-3.3.2-14',
    );
  }
  if (props['authenticationData'] !== undefined && props['authenticationMethod'] === undefined && ctx !== WILL_PROPERTIES) {
    // It is a Protocol Error to include Authentication Data if there is no Authentication Method (3.1.2.11.10).
    throw protocolError(
      'MQTT_PROPERTY_VALUE_INVALID',
      `${field}.authenticationData`,
      'Authentication Data without an Authentication Method',
    );
  }
}

function readValue(r: Reader, def: PropertyDef, props: Record<string, unknown>): void {
  const label = def.label;
  switch (def.type) {
    case 'byte':
      props[def.name] = checkRange(def, r.byte(label));
      return;
    case 'bool': {
      const v = r.byte(label);
      if (v > 1) throw protocolError('MQTT_PROPERTY_VALUE_INVALID', label, `value ${v} is neither 0 nor 1`);
      props[def.name] = v === 1;
      return;
    }
    case 'uint16':
      props[def.name] = checkRange(def, r.uint16(label));
      return;
    case 'uint32':
      props[def.name] = checkRange(def, r.uint32(label));
      return;
    case 'varint': {
      const v = checkRange(def, r.varint(label));
      if (def.repeatable) {
        const list = props[def.name] as number[] | undefined;
        if (list === undefined) props[def.name] = [v];
        else list.push(v);
      } else {
        props[def.name] = v;
      }
      return;
    }
    case 'utf8':
      props[def.name] = r.utf8(label);
      return;
    case 'binary':
      props[def.name] = r.binary(label);
      return;
    case 'pair': {
      // Both the name and the value must be valid UTF-8 strings. [MQTT-1.5.7-1]
      const pair: UserProperty = [r.utf8(label), r.utf8(label)];
      const list = props[def.name] as UserProperty[] | undefined;
      if (list === undefined) props[def.name] = [pair];
      else list.push(pair);
      return;
    }
  }
}

function checkRange(def: PropertyDef, v: number): number {
  if ((def.min !== undefined && v < def.min) || (def.max !== undefined && v > def.max)) {
    throw new MqttError('MQTT_PROPERTY_VALUE_INVALID', def.rangeReason ?? ReasonCode.ProtocolError, `value ${v} is out of range`, {
      field: def.label,
    });
  }
  return v;
}

/** The number of bytes the properties take, not counting the Property Length prefix. */
export function propertiesLength(props: object | undefined, ctx: PropertyContext): number {
  if (props === undefined) return 0;
  const names = byName[ctx] as Map<string, PropertyDef>;
  let n = 0;
  for (const key in props) {
    const value = (props as Record<string, unknown>)[key];
    if (value === undefined) continue;
    const def = names.get(key);
    if (def === undefined) {
      throw new MqttError('MQTT_PROPERTY_NOT_ALLOWED', ReasonCode.MalformedPacket, `${key} is not a property of ${contextName(ctx)}`, {
        field: key,
      });
    }
    n += valueLength(def, value);
  }
  return n;
}

function valueLength(def: PropertyDef, value: unknown): number {
  const idLength = 1;
  switch (def.type) {
    case 'byte':
    case 'bool':
      checkEncodable(def, value);
      return idLength + 1;
    case 'uint16':
      checkEncodable(def, value);
      return idLength + 2;
    case 'uint32':
      checkEncodable(def, value);
      return idLength + 4;
    case 'varint': {
      if (def.repeatable) {
        let n = 0;
        for (const v of asArray(def, value) as number[]) {
          checkEncodable(def, v);
          n += idLength + varintLength(v);
        }
        return n;
      }
      checkEncodable(def, value);
      return idLength + varintLength(value as number);
    }
    case 'utf8':
      if (typeof value !== 'string') throw encodeError(def, 'must be a string');
      return idLength + 2 + utf8Length(value, def.label);
    case 'binary':
      if (!(value instanceof Uint8Array)) throw encodeError(def, 'must be a Buffer or Uint8Array');
      return idLength + 2 + binaryLength(value, def.label);
    case 'pair': {
      let n = 0;
      for (const pair of asArray(def, value) as UserProperty[]) {
        if (!Array.isArray(pair) || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') {
          throw encodeError(def, 'must be a list of [name, value] string pairs');
        }
        n += idLength + 4 + utf8Length(pair[0], def.label) + utf8Length(pair[1], def.label);
      }
      return n;
    }
  }
}

function asArray(def: PropertyDef, value: unknown): readonly unknown[] {
  if (!Array.isArray(value)) throw encodeError(def, 'must be an array');
  return value;
}

function checkEncodable(def: PropertyDef, value: unknown): void {
  if (def.type === 'bool') {
    if (typeof value !== 'boolean') throw encodeError(def, 'must be a boolean');
    return;
  }
  if (def.type === 'varint') {
    if (typeof value !== 'number') throw encodeError(def, 'must be a number');
    checkVarint(value, def.label);
  } else {
    const max = def.type === 'byte' ? 0xff : def.type === 'uint16' ? 0xffff : 0xffffffff;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) {
      throw encodeError(def, `must be an integer from 0 to ${max}`);
    }
  }
  if ((def.min !== undefined && value < def.min) || (def.max !== undefined && value > def.max)) {
    throw encodeError(def, `must be from ${def.min ?? 0} to ${def.max ?? 'its type maximum'}`);
  }
}

function encodeError(def: PropertyDef, message: string): MqttError {
  return new MqttError('MQTT_PROPERTY_VALUE_INVALID', ReasonCode.ProtocolError, message, { field: def.label });
}

/** Writes the Property Length (`length` from propertiesLength) and the properties. */
export function writeProperties(buf: Buffer, pos: number, props: object | undefined, ctx: PropertyContext, length: number): number {
  pos = writeVarint(buf, pos, length);
  if (props === undefined || length === 0) return pos;
  const names = byName[ctx] as Map<string, PropertyDef>;
  for (const key in props) {
    const value = (props as Record<string, unknown>)[key];
    if (value === undefined) continue;
    const def = names.get(key) as PropertyDef;
    pos = writeValue(buf, pos, def, value);
  }
  return pos;
}

function writeValue(buf: Buffer, pos: number, def: PropertyDef, value: unknown): number {
  switch (def.type) {
    case 'byte':
      buf[pos] = def.id;
      buf[pos + 1] = value as number;
      return pos + 2;
    case 'bool':
      buf[pos] = def.id;
      buf[pos + 1] = value === true ? 1 : 0;
      return pos + 2;
    case 'uint16':
      buf[pos] = def.id;
      return writeUint16(buf, pos + 1, value as number);
    case 'uint32':
      buf[pos] = def.id;
      return writeUint32(buf, pos + 1, value as number);
    case 'varint':
      if (def.repeatable) {
        for (const v of value as number[]) {
          buf[pos] = def.id;
          pos = writeVarint(buf, pos + 1, v);
        }
        return pos;
      }
      buf[pos] = def.id;
      return writeVarint(buf, pos + 1, value as number);
    case 'utf8':
      buf[pos] = def.id;
      return writeUtf8(buf, pos + 1, value as string, utf8Length(value as string, def.label));
    case 'binary':
      buf[pos] = def.id;
      return writeBinary(buf, pos + 1, value as Uint8Array);
    case 'pair':
      for (const [k, v] of value as UserProperty[]) {
        buf[pos] = def.id;
        pos = writeUtf8(buf, pos + 1, k, utf8Length(k, def.label));
        pos = writeUtf8(buf, pos, v, utf8Length(v, def.label));
      }
      return pos;
  }
}

/** True if the object has at least one defined property. */
export function hasProperties(props: object | undefined): boolean {
  if (props === undefined) return false;
  for (const key in props) if ((props as Record<string, unknown>)[key] !== undefined) return true;
  return false;
}
