/**
 * fast-check arbitraries for random VALID MQTT packets of every type and protocol version.
 *
 * "Valid" means: every rule the decoder enforces holds, and the packet has exactly the shape the decoder
 * builds, so that `decodePacket(encodePacket(p, v), v)` deep-equals `p`:
 * - strings are well-formed UTF-8 without U+0000 and without lone surrogates [MQTT-1.5.4-1] [MQTT-1.5.4-2];
 * - Topic Names are non-empty and wildcard-free (5.0 may send an empty one with a Topic Alias);
 *   Topic Filters put `+` and `#` only where [MQTT-4.7.1-1] [MQTT-4.7.1-2] allow, `$share/{name}/{filter}`
 *   is well-formed and never has No Local [MQTT-3.8.3-4];
 * - Packet Identifiers are 1..65535, and QoS 0 PUBLISH has neither a Packet Identifier nor DUP;
 * - properties are only those the packet may carry, in range, and omitted (not `{}`) when there are none,
 *   because the decoder leaves `properties` out when the Property Length is 0; lists are never empty;
 * - reason codes come from the sets in src/protocol/reason-codes.ts;
 * - 3.1 and 3.1.1 packets carry the defaults the decoder produces: reasonCode 0, Subscription options
 *   false/false/0, UNSUBACK reasonCodes [], no AUTH, CONNECT password only with a user name, and 3.1
 *   CONNACK without Session Present.
 */
import { Buffer } from 'node:buffer';
import process from 'node:process';
import fc from 'fast-check';
import {
  type AckProperties,
  type AuthPacket,
  type AuthProperties,
  allowedReasonCodes,
  type ConnackPacket,
  type ConnackProperties,
  type ConnectPacket,
  type ConnectProperties,
  type DisconnectPacket,
  type DisconnectProperties,
  type Packet,
  PacketType,
  type PingreqPacket,
  type PingrespPacket,
  type ProtocolVersion,
  type PubAckLikePacket,
  type PublishPacket,
  type PublishProperties,
  type QoS,
  type RetainHandling,
  type SubackPacket,
  type SubscribePacket,
  type SubscribeProperties,
  type Subscription,
  type UnsubackPacket,
  type UnsubscribePacket,
  type UnsubscribeProperties,
  type UserProperty,
  v3SubackReturnCodes,
  type Will,
  type WillProperties,
} from '../../src/protocol/index.js';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export const VERSIONS: readonly ProtocolVersion[] = [3, 4, 5];

/**
 * Number of runs for a property: `n` times the FC_SCALE environment variable (default 1), so that a soak
 * run (`FC_SCALE=50 node scripts/run-tests.mjs property`) can search far longer than the everyday suite.
 */
export function runs(n: number): number {
  const { FC_SCALE } = process.env;
  const scale = Number(FC_SCALE ?? '1');
  return Math.max(1, Math.round(n * (Number.isFinite(scale) && scale > 0 ? scale : 1)));
}

export const PACKET_TYPES: readonly PacketType[] = Object.values(PacketType);

/** The packet types a version has: AUTH only exists in 5.0. */
export function packetTypesFor(version: ProtocolVersion): readonly PacketType[] {
  return version === 5 ? PACKET_TYPES : PACKET_TYPES.filter((t) => t !== PacketType.Auth);
}

// ---------------------------------------------------------------------------------------------------------
// Primitives

/**
 * One code point of a valid MQTT UTF-8 string: never U+0000, never a surrogate code unit on its own.
 * Mostly ASCII (control characters included: they are allowed, if discouraged), some BMP, some astral.
 */
export const mqttChar: fc.Arbitrary<string> = fc
  .oneof(
    { weight: 8, arbitrary: fc.integer({ min: 0x01, max: 0x7f }) },
    // BMP above ASCII with the surrogate block U+D800..U+DFFF skipped over.
    { weight: 2, arbitrary: fc.integer({ min: 0x80, max: 0xffff - 0x800 }).map((c) => (c >= 0xd800 ? c + 0x800 : c)) },
    { weight: 1, arbitrary: fc.integer({ min: 0x10000, max: 0x10ffff }) },
  )
  .map((cp) => String.fromCodePoint(cp));

/** Mostly short strings; now and then a long one, so that length prefixes above 255 bytes get exercised. */
export function mqttString(maxLength = 12, minLength = 0): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 15, arbitrary: fc.string({ unit: mqttChar, minLength, maxLength }) },
    { weight: 1, arbitrary: fc.string({ unit: mqttChar, minLength: Math.max(minLength, 60), maxLength: 400 }) },
  );
}

/** A character allowed inside one level of a topic: not a wildcard and not the separator. */
const levelChar = mqttChar.filter((c) => c !== '+' && c !== '#' && c !== '/');

/** A Topic Name: at least one character, no wildcards; levels may be empty ("/a//b/"). */
export const topicName: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.string({ unit: fc.oneof({ weight: 5, arbitrary: levelChar }, fc.constant('/')), minLength: 1, maxLength: 16 }),
  },
  {
    weight: 1,
    arbitrary: fc.string({ unit: fc.oneof({ weight: 9, arbitrary: levelChar }, fc.constant('/')), minLength: 60, maxLength: 300 }),
  },
  { weight: 1, arbitrary: fc.constantFrom('/', '//', 'a', '$SYS/broker/load', 'sport/tennis/player1', ' ', '\u{1F600}') },
);

const filterLevel = fc.oneof(
  { weight: 1, arbitrary: fc.constant('+') },
  { weight: 4, arbitrary: fc.string({ unit: levelChar, maxLength: 6 }) },
);

/** A Topic Filter that is not a Shared Subscription. */
export const plainTopicFilter: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .tuple(fc.array(filterLevel, { maxLength: 4 }), fc.boolean())
      .map(([levels, hash]) => (hash ? [...levels, '#'] : levels).join('/'))
      .filter((f) => f.length > 0 && f !== '$share' && !f.startsWith('$share/')),
  },
  { weight: 1, arbitrary: fc.constantFrom('#', '+', '/', '+/+', '/#', 'a/#', '+/#', '$SYS/#', 'sport/+/player1', '$shared/x') },
);

/** `$share/{ShareName}/{filter}`: a non-empty ShareName without `/`, `+`, `#`, then a Topic Filter. */
export const sharedTopicFilter: fc.Arbitrary<string> = fc
  .tuple(fc.string({ unit: levelChar, minLength: 1, maxLength: 6 }), plainTopicFilter)
  .map(([name, filter]) => `$share/${name}/${filter}`);

export const topicFilter: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: plainTopicFilter },
  { weight: 1, arbitrary: sharedTopicFilter },
);

export const qos: fc.Arbitrary<QoS> = fc.constantFrom<QoS>(0, 1, 2);
export const packetId: fc.Arbitrary<number> = fc.integer({ min: 1, max: 0xffff });
export const uint16: fc.Arbitrary<number> = fc.integer({ min: 0, max: 0xffff });
const uint16NonZero = fc.integer({ min: 1, max: 0xffff });
export const uint32: fc.Arbitrary<number> = fc.integer({ min: 0, max: 0xffffffff });
const uint32NonZero = fc.integer({ min: 1, max: 0xffffffff });
/** A Variable Byte Integer above 0 (Subscription Identifier). */
const varintNonZero = fc.oneof(fc.integer({ min: 1, max: 127 }), fc.integer({ min: 1, max: 268_435_455 }));

/** Binary Data: a Buffer, because the decoder hands out Buffer views and deepStrictEqual compares prototypes. */
export function binary(maxLength = 24): fc.Arbitrary<Buffer> {
  return fc
    .oneof(
      { weight: 15, arbitrary: fc.uint8Array({ maxLength }) },
      { weight: 1, arbitrary: fc.uint8Array({ minLength: 250, maxLength: 700 }) },
    )
    .map((u) => Buffer.from(u));
}

/** Mostly small payloads, sometimes big enough for a two- or three-byte Remaining Length. */
export const payload: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 12, arbitrary: binary(64) },
  { weight: 1, arbitrary: fc.integer({ min: 100, max: 20_000 }).map((n) => Buffer.alloc(n, n & 0xff)) },
);

/** User Properties: never empty (an empty list encodes to nothing); names sometimes repeat. */
export const userProperties: fc.Arbitrary<UserProperty[]> = fc.array(
  fc.tuple(fc.oneof(mqttString(8), fc.constantFrom('a', 'b', '')), mqttString(8)).map(([k, v]): UserProperty => [k, v]),
  { minLength: 1, maxLength: 4 },
);

const bool = fc.boolean();

/**
 * fc.record with plain prototypes: fast-check may otherwise build null-prototype objects, which
 * deepStrictEqual tells apart from the decoder's object literals.
 */
function record<T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> {
  return fc.record(model, { noNullPrototype: true });
}

/** A record whose every key may be absent (never present with the value undefined). */
function partialRecord<T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<Partial<T>> {
  const requiredKeys: (keyof T)[] = [];
  return fc.record(model, { requiredKeys, noNullPrototype: true });
}

/** Authentication Data only with an Authentication Method: alone it is a Protocol Error (section 3.1.2.11.10). */
function authPair<T extends { authenticationMethod?: string; authenticationData?: Buffer }>(props: T): T {
  if (props.authenticationData === undefined || props.authenticationMethod !== undefined) return props;
  const { authenticationData: _dropped, ...rest } = props;
  return rest as T;
}

/** Drops an empty property object: the decoder returns no `properties` key for a Property Length of 0. */
function nonEmpty<T extends object>(props: T): T | undefined {
  return Object.keys(props).length === 0 ? undefined : props;
}

// ---------------------------------------------------------------------------------------------------------
// Properties, per packet (section 2.2.2.2)

export const willProperties: fc.Arbitrary<WillProperties | undefined> = partialRecord({
  willDelayInterval: uint32,
  payloadFormatIndicator: fc.constantFrom(0, 1),
  messageExpiryInterval: uint32,
  contentType: mqttString(),
  responseTopic: topicName,
  correlationData: binary(),
  userProperties,
}).map(nonEmpty);

export const connectProperties: fc.Arbitrary<ConnectProperties | undefined> = partialRecord({
  sessionExpiryInterval: uint32,
  receiveMaximum: uint16NonZero,
  maximumPacketSize: uint32NonZero,
  topicAliasMaximum: uint16,
  requestResponseInformation: bool,
  requestProblemInformation: bool,
  userProperties,
  authenticationMethod: mqttString(),
  authenticationData: binary(),
})
  .map(authPair)
  .map(nonEmpty);

export const connackProperties: fc.Arbitrary<ConnackProperties | undefined> = partialRecord({
  sessionExpiryInterval: uint32,
  receiveMaximum: uint16NonZero,
  maximumQoS: fc.constantFrom(0, 1),
  retainAvailable: bool,
  maximumPacketSize: uint32NonZero,
  assignedClientIdentifier: mqttString(),
  topicAliasMaximum: uint16,
  reasonString: mqttString(),
  userProperties,
  wildcardSubscriptionAvailable: bool,
  subscriptionIdentifiersAvailable: bool,
  sharedSubscriptionAvailable: bool,
  serverKeepAlive: uint16,
  responseInformation: mqttString(),
  serverReference: mqttString(),
  authenticationMethod: mqttString(),
  authenticationData: binary(),
})
  .map(authPair)
  .map(nonEmpty);

export const publishProperties: fc.Arbitrary<PublishProperties | undefined> = partialRecord({
  payloadFormatIndicator: fc.constantFrom(0, 1),
  messageExpiryInterval: uint32,
  topicAlias: uint16NonZero,
  responseTopic: topicName,
  correlationData: binary(),
  userProperties,
  subscriptionIdentifiers: fc.array(varintNonZero, { minLength: 1, maxLength: 3 }),
  contentType: mqttString(),
}).map(nonEmpty);

export const ackProperties: fc.Arbitrary<AckProperties | undefined> = partialRecord({ reasonString: mqttString(), userProperties }).map(
  nonEmpty,
);

export const subscribeProperties: fc.Arbitrary<SubscribeProperties | undefined> = partialRecord({
  subscriptionIdentifier: varintNonZero,
  userProperties,
}).map(nonEmpty);

export const unsubscribeProperties: fc.Arbitrary<UnsubscribeProperties | undefined> = partialRecord({ userProperties }).map(nonEmpty);

export const disconnectProperties: fc.Arbitrary<DisconnectProperties | undefined> = partialRecord({
  sessionExpiryInterval: uint32,
  reasonString: mqttString(),
  userProperties,
  serverReference: mqttString(),
}).map(nonEmpty);

export const authProperties: fc.Arbitrary<AuthProperties | undefined> = partialRecord({
  authenticationMethod: mqttString(),
  authenticationData: binary(),
  reasonString: mqttString(),
  userProperties,
})
  .map(authPair)
  .map(nonEmpty);

/** 5.0 properties, or none at all before 5.0. */
function propsFor<T>(version: ProtocolVersion, arb: fc.Arbitrary<T | undefined>): fc.Arbitrary<T | undefined> {
  return version === 5 ? arb : fc.constant(undefined);
}

function reasonCodesOf(type: PacketType): number[] {
  const set = allowedReasonCodes[type];
  if (set === undefined) throw new Error(`no reason codes for packet type ${type}`);
  return [...set];
}

/** A 5.0 Reason Code allowed in the packet, or 0 before 5.0. */
function reasonCodeFor(type: PacketType, version: ProtocolVersion): fc.Arbitrary<number> {
  return version === 5 ? fc.constantFrom(...reasonCodesOf(type)) : fc.constant(0);
}

// ---------------------------------------------------------------------------------------------------------
// Packets

export function will(version: ProtocolVersion): fc.Arbitrary<Will> {
  return record({ topic: topicName, payload: binary(32), qos, retain: bool, properties: propsFor(version, willProperties) }).map(
    ({ properties, ...rest }): Will => (properties === undefined ? rest : { ...rest, properties }),
  );
}

export function connectPacket(version: ProtocolVersion): fc.Arbitrary<ConnectPacket> {
  return record({
    clientId: mqttString(23),
    clean: bool,
    keepAlive: uint16,
    username: fc.option(mqttString(), { nil: undefined }),
    password: fc.option(binary(), { nil: undefined }),
    will: fc.option(will(version), { nil: undefined, freq: 3 }),
    properties: propsFor(version, connectProperties),
  }).map((r) => {
    const p: Mutable<ConnectPacket> = {
      type: PacketType.Connect,
      protocolVersion: version,
      clientId: r.clientId,
      clean: r.clean,
      keepAlive: r.keepAlive,
    };
    if (r.username !== undefined) p.username = r.username;
    // Before 5.0 a Password needs a User Name. [MQTT-3.1.2-22]
    if (r.password !== undefined && (version === 5 || r.username !== undefined)) p.password = r.password;
    if (r.will !== undefined) p.will = r.will;
    if (r.properties !== undefined) p.properties = r.properties;
    return p;
  });
}

export function connackPacket(version: ProtocolVersion): fc.Arbitrary<ConnackPacket> {
  const code = version === 5 ? fc.constantFrom(...reasonCodesOf(PacketType.Connack)) : fc.integer({ min: 0, max: 5 });
  return record({ sessionPresent: bool, reasonCode: code, properties: propsFor(version, connackProperties) }).map((r) => {
    // Session Present is 0 with a failure code [MQTT-3.2.2-6]; 3.1 has no Session Present at all.
    const sessionPresent = r.sessionPresent && r.reasonCode === 0 && version !== 3;
    const p: ConnackPacket = { type: PacketType.Connack, sessionPresent, reasonCode: r.reasonCode };
    return r.properties === undefined ? p : { ...p, properties: r.properties };
  });
}

export function publishPacket(version: ProtocolVersion): fc.Arbitrary<PublishPacket> {
  return record({
    topic: topicName,
    payload,
    qos,
    retain: bool,
    dup: bool,
    packetId,
    properties: propsFor(version, publishProperties),
    aliasOnly: bool,
  }).map((r) => {
    // 5.0: the Topic Name may be empty when a Topic Alias stands for it.
    const topic = r.aliasOnly && r.properties?.topicAlias !== undefined ? '' : r.topic;
    const p: Mutable<PublishPacket> = { type: PacketType.Publish, topic, payload: r.payload, qos: r.qos, retain: r.retain, dup: false };
    // QoS 0: no Packet Identifier [MQTT-2.2.1-2] and DUP 0 [MQTT-3.3.1-2].
    if (r.qos > 0) {
      p.dup = r.dup;
      p.packetId = r.packetId;
    }
    if (r.properties !== undefined) p.properties = r.properties;
    return p;
  });
}

type PubAckType = typeof PacketType.Puback | typeof PacketType.Pubrec | typeof PacketType.Pubrel | typeof PacketType.Pubcomp;

export function pubAckLikePacket<T extends PubAckType>(type: T, version: ProtocolVersion): fc.Arbitrary<PubAckLikePacket<T>> {
  return record({ packetId, reasonCode: reasonCodeFor(type, version), properties: propsFor(version, ackProperties) }).map(
    ({ properties, ...rest }): PubAckLikePacket<T> => (properties === undefined ? { type, ...rest } : { type, ...rest, properties }),
  );
}

export function subscription(version: ProtocolVersion): fc.Arbitrary<Subscription> {
  return record({
    topicFilter,
    qos,
    noLocal: bool,
    retainAsPublished: bool,
    retainHandling: fc.constantFrom<RetainHandling>(0, 1, 2),
  }).map((s): Subscription => {
    if (version < 5) return { topicFilter: s.topicFilter, qos: s.qos, noLocal: false, retainAsPublished: false, retainHandling: 0 };
    // No Local on a Shared Subscription is a Protocol Error. [MQTT-3.8.3-4]
    return s.topicFilter.startsWith('$share/') ? { ...s, noLocal: false } : s;
  });
}

export function subscribePacket(version: ProtocolVersion): fc.Arbitrary<SubscribePacket> {
  return record({
    packetId,
    subscriptions: fc.array(subscription(version), { minLength: 1, maxLength: 5 }),
    properties: propsFor(version, subscribeProperties),
  }).map(
    ({ properties, ...rest }): SubscribePacket =>
      properties === undefined ? { type: PacketType.Subscribe, ...rest } : { type: PacketType.Subscribe, ...rest, properties },
  );
}

export function subackPacket(version: ProtocolVersion): fc.Arbitrary<SubackPacket> {
  const codes = version === 5 ? reasonCodesOf(PacketType.Suback) : [...v3SubackReturnCodes];
  return record({
    packetId,
    reasonCodes: fc.array(fc.constantFrom(...codes), { minLength: 1, maxLength: 5 }),
    properties: propsFor(version, ackProperties),
  }).map(
    ({ properties, ...rest }): SubackPacket =>
      properties === undefined ? { type: PacketType.Suback, ...rest } : { type: PacketType.Suback, ...rest, properties },
  );
}

export function unsubscribePacket(version: ProtocolVersion): fc.Arbitrary<UnsubscribePacket> {
  return record({
    packetId,
    topicFilters: fc.array(topicFilter, { minLength: 1, maxLength: 5 }),
    properties: propsFor(version, unsubscribeProperties),
  }).map(
    ({ properties, ...rest }): UnsubscribePacket =>
      properties === undefined ? { type: PacketType.Unsubscribe, ...rest } : { type: PacketType.Unsubscribe, ...rest, properties },
  );
}

export function unsubackPacket(version: ProtocolVersion): fc.Arbitrary<UnsubackPacket> {
  // A 3.1.1 UNSUBACK has no payload: the decoder reports no reason codes.
  const codes =
    version === 5 ? fc.array(fc.constantFrom(...reasonCodesOf(PacketType.Unsuback)), { minLength: 1, maxLength: 5 }) : fc.constant([]);
  return record({ packetId, reasonCodes: codes, properties: propsFor(version, ackProperties) }).map(
    ({ properties, ...rest }): UnsubackPacket =>
      properties === undefined ? { type: PacketType.Unsuback, ...rest } : { type: PacketType.Unsuback, ...rest, properties },
  );
}

export const pingreqPacket: fc.Arbitrary<PingreqPacket> = fc.constant({ type: PacketType.Pingreq });
export const pingrespPacket: fc.Arbitrary<PingrespPacket> = fc.constant({ type: PacketType.Pingresp });

export function disconnectPacket(version: ProtocolVersion): fc.Arbitrary<DisconnectPacket> {
  return record({ reasonCode: reasonCodeFor(PacketType.Disconnect, version), properties: propsFor(version, disconnectProperties) }).map(
    ({ properties, reasonCode }): DisconnectPacket =>
      properties === undefined ? { type: PacketType.Disconnect, reasonCode } : { type: PacketType.Disconnect, reasonCode, properties },
  );
}

export function authPacket(version: ProtocolVersion): fc.Arbitrary<AuthPacket> {
  if (version !== 5) throw new Error('AUTH exists only in MQTT 5.0');
  return record({ reasonCode: reasonCodeFor(PacketType.Auth, version), properties: authProperties }).map(
    ({ properties, reasonCode }): AuthPacket =>
      properties === undefined ? { type: PacketType.Auth, reasonCode } : { type: PacketType.Auth, reasonCode, properties },
  );
}

/** Valid packets of one type for one version (AUTH only for 5.0). */
export function packetOfType(type: PacketType, version: ProtocolVersion): fc.Arbitrary<Packet> {
  switch (type) {
    case PacketType.Connect:
      return connectPacket(version);
    case PacketType.Connack:
      return connackPacket(version);
    case PacketType.Publish:
      return publishPacket(version);
    case PacketType.Puback:
    case PacketType.Pubrec:
    case PacketType.Pubrel:
    case PacketType.Pubcomp:
      return pubAckLikePacket(type, version);
    case PacketType.Subscribe:
      return subscribePacket(version);
    case PacketType.Suback:
      return subackPacket(version);
    case PacketType.Unsubscribe:
      return unsubscribePacket(version);
    case PacketType.Unsuback:
      return unsubackPacket(version);
    case PacketType.Pingreq:
      return pingreqPacket;
    case PacketType.Pingresp:
      return pingrespPacket;
    case PacketType.Disconnect:
      return disconnectPacket(version);
    case PacketType.Auth:
      return authPacket(version);
  }
}

/** Valid packets of any type the version has. */
export function anyPacket(version: ProtocolVersion): fc.Arbitrary<Packet> {
  return fc.oneof(...packetTypesFor(version).map((t) => packetOfType(t, version)));
}

/**
 * A number in [0, 1), spread over the whole range. (fc.double is biased towards its bounds and tiny
 * magnitudes, so nearly every "random position" would be 0.)
 */
export const fraction: fc.Arbitrary<number> = fc.integer({ min: 0, max: 999_999 }).map((n) => n / 1_000_000);

/** Cut points for splitting `length` bytes into chunks: sorted, distinct, strictly inside 0..length. */
export function splitPoints(maxCuts = 12): fc.Arbitrary<number[]> {
  return fc.array(fraction, { maxLength: maxCuts });
}

/** Splits a buffer at the fractional cut points of splitPoints (so shrinking keeps the cuts meaningful). */
export function splitAt(buf: Buffer, fractions: readonly number[]): Buffer[] {
  const cuts = [...new Set(fractions.map((f) => Math.floor(f * buf.length)))].filter((c) => c > 0 && c < buf.length).sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const c of cuts) {
    chunks.push(buf.subarray(start, c));
    start = c;
  }
  chunks.push(buf.subarray(start));
  return chunks;
}
