/**
 * Cross-check against mqtt-packet, the codec of MQTT.js, written independently of ours.
 * For every packet type of MQTT 3.1.1 and 5.0:
 *   (a) mqtt-packet's parser reads what we encode as the equivalent packet, and
 *   (b) we decode what mqtt-packet generates as the equivalent packet.
 * "Equivalent" goes through explicit converters between the two packet shapes; the comparison itself is
 * always a deep equality. Where mqtt-packet cannot represent, write or read a valid packet, the quirk is
 * documented below and only that case is excluded.
 *
 * mqtt-packet's quirks (version 9.0.2):
 * Q1 User Properties are an object keyed by name (a repeated name holds an array). The object cannot
 *    keep the order of pairs with different names once a name repeats after another name, and JavaScript
 *    puts integer-like keys ("0", "17") before all others. MQTT 5.0 requires the order to be kept
 *    ([MQTT-3.3.2-18] for forwarding). Inputs are therefore put in the one order the object model can
 *    hold (see `mqttPacketOrder`); every other order is a limitation of the model, not a difference.
 * Q2 Its parser merges a repeated User Property name with a truthiness test, so when the first value of a
 *    repeated name is the empty string it is overwritten by the second instead of both being kept.
 *    Direction (a) excludes packets with a repeated name whose first value is "".
 * Q3 Its parser rejects an AUTH packet with a Remaining Length of 0 ("Invalid auth reason code"), which
 *    MQTT 5.0 section 3.15.2.1 allows for Reason Code 0x00 without properties, and which is how we
 *    encode that AUTH. Direction (a) excludes that one encoding; a hand-written case pins the quirk.
 * Q4 Its generator refuses a CONNECT with a Password but no User Name in 5.0 as well ("Username is
 *    required to use password"); 5.0 allows that (section 3.1.2.9). Direction (b) excludes it.
 * Q5 Its generator refuses a CONNECT with an empty Client Identifier and Clean Session/Start 0
 *    ("clientId must be given if cleanSession set to 0"). In 3.1.1 that is a rule for clients
 *    [MQTT-3.1.3-7], and the Server answers it with CONNACK 0x02 rather than a framing error, so a decoder
 *    must accept it; in 5.0 it is allowed. Direction (b) excludes it.
 * Q6 In 5.0 the Reason Code and Property Length of DISCONNECT and AUTH are optional, and its parser decides
 *    whether they are there by looking at all the bytes it has buffered instead of at the Remaining Length.
 *    A DISCONNECT or AUTH that omits them (Remaining Length 0 or 1: how we encode Reason Code 0x00, or a
 *    Reason Code without properties) followed by another packet in the same buffer gets the next packet's
 *    bytes read as its Reason Code or Property Length. Single packets are unaffected; the stream check leaves
 *    these out of the stream it feeds to the parser, and hand-written cases pin the quirk.
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type {
  IAuthPacket,
  IConnackPacket,
  IConnectPacket,
  IDisconnectPacket,
  IPublishPacket,
  ISubackPacket,
  ISubscribePacket,
  ISubscription,
  IUnsubackPacket,
  IUnsubscribePacket,
  Packet as MpPacket,
  UserProperties as MpUserProperties,
} from 'mqtt-packet';
import * as mqttPacket from 'mqtt-packet';
import {
  decodePacket,
  encodePacket,
  Framer,
  type Packet,
  PacketType,
  type ProtocolVersion,
  type PublishProperties,
  packetTypeNames,
  type QoS,
  type RetainHandling,
  type Subscription,
  type UserProperty,
  type Will,
} from '../../src/protocol/index.js';
import { packetOfType, packetTypesFor, runs, splitAt, splitPoints } from './arbitraries.js';

type InteropVersion = 4 | 5;
const INTEROP_VERSIONS: readonly InteropVersion[] = [4, 5];
const RUNS = 300;

// ---------------------------------------------------------------------------------------------------------
// User Properties: our ordered list of pairs <-> mqtt-packet's object of string | string[]

function userPropertiesToMp(list: readonly UserProperty[]): MpUserProperties {
  const grouped = new Map<string, string[]>();
  for (const [name, value] of list) {
    const values = grouped.get(name);
    if (values === undefined) grouped.set(name, [value]);
    else values.push(value);
  }
  // Object.fromEntries defines own properties, so names like "__proto__" stay ordinary keys.
  return Object.fromEntries([...grouped].map(([name, values]) => [name, values.length === 1 ? (values[0] as string) : values]));
}

function userPropertiesFromMp(obj: MpUserProperties): UserProperty[] {
  const list: UserProperty[] = [];
  for (const [name, value] of Object.entries(obj)) {
    if (Array.isArray(value)) for (const v of value) list.push([name, v]);
    else list.push([name, value]);
  }
  return list;
}

const ARRAY_INDEX = /^(?:0|[1-9][0-9]*)$/;
function isArrayIndex(name: string): boolean {
  return ARRAY_INDEX.test(name) && Number(name) < 2 ** 32 - 1;
}

/**
 * Q1: the order of User Properties that a JavaScript object keyed by name can hold: pairs grouped by
 * name in order of first appearance, with integer-like names first in ascending numeric order.
 */
function mqttPacketOrder(list: readonly UserProperty[]): UserProperty[] {
  const names: string[] = [];
  for (const [name] of list) if (!names.includes(name)) names.push(name);
  const indices = names.filter(isArrayIndex).sort((a, b) => Number(a) - Number(b));
  const others = names.filter((n) => !isArrayIndex(n));
  return [...indices, ...others].flatMap((name) => list.filter(([n]) => n === name));
}

/** Q2: a repeated name whose first value is "" is mangled by mqtt-packet's parser. */
function hasEmptyFirstRepeatedValue(list: readonly UserProperty[]): boolean {
  return list.some(
    ([name, value], i) => value === '' && list.findIndex(([n]) => n === name) === i && list.slice(i + 1).some(([n]) => n === name),
  );
}

// ---------------------------------------------------------------------------------------------------------
// Properties. Names agree except for these: our `userProperties` list is their object, our PUBLISH
// `subscriptionIdentifiers` list is their `subscriptionIdentifier` (a number, or an array when repeated),
// and our Payload Format Indicator 0/1 is their boolean.

type WithOurUserProperties = { readonly userProperties?: readonly UserProperty[] };
type WithMpUserProperties = { readonly userProperties?: MpUserProperties };

function propsToMp<T extends WithOurUserProperties>(props: T): Omit<T, 'userProperties'> & { userProperties?: MpUserProperties } {
  const { userProperties, ...rest } = props;
  return userProperties === undefined ? rest : { ...rest, userProperties: userPropertiesToMp(userProperties) };
}

function propsFromMp<T extends WithMpUserProperties>(props: T): Omit<T, 'userProperties'> & { userProperties?: UserProperty[] } {
  const { userProperties, ...rest } = props;
  return userProperties === undefined ? rest : { ...rest, userProperties: userPropertiesFromMp(userProperties) };
}

type MpPublishProperties = NonNullable<IPublishPacket['properties']>;
type MpWillProperties = NonNullable<NonNullable<IConnectPacket['will']>['properties']>;

function publishPropsToMp(props: PublishProperties): MpPublishProperties {
  const { payloadFormatIndicator, subscriptionIdentifiers, ...rest } = propsToMp(props);
  const out: MpPublishProperties = { ...rest };
  if (payloadFormatIndicator !== undefined) out.payloadFormatIndicator = payloadFormatIndicator === 1;
  if (subscriptionIdentifiers !== undefined) {
    out.subscriptionIdentifier =
      subscriptionIdentifiers.length === 1 ? (subscriptionIdentifiers[0] as number) : [...subscriptionIdentifiers];
  }
  return out;
}

function publishPropsFromMp(props: MpPublishProperties): PublishProperties {
  const { payloadFormatIndicator, subscriptionIdentifier, ...rest } = propsFromMp(props);
  const out: { -readonly [K in keyof PublishProperties]: PublishProperties[K] } = { ...rest };
  if (payloadFormatIndicator !== undefined) out.payloadFormatIndicator = payloadFormatIndicator ? 1 : 0;
  if (subscriptionIdentifier !== undefined) {
    out.subscriptionIdentifiers = Array.isArray(subscriptionIdentifier) ? subscriptionIdentifier : [subscriptionIdentifier];
  }
  return out;
}

function willPropsToMp(props: NonNullable<Will['properties']>): MpWillProperties {
  const { payloadFormatIndicator, ...rest } = propsToMp(props);
  return payloadFormatIndicator === undefined ? rest : { ...rest, payloadFormatIndicator: payloadFormatIndicator === 1 };
}

function willPropsFromMp(props: MpWillProperties): NonNullable<Will['properties']> {
  const { payloadFormatIndicator, ...rest } = propsFromMp(props);
  return payloadFormatIndicator === undefined ? rest : { ...rest, payloadFormatIndicator: payloadFormatIndicator ? 1 : 0 };
}

// ---------------------------------------------------------------------------------------------------------
// Packets: ours -> mqtt-packet. Differences: `cmd` names, `messageId`, `keepalive`, `protocolId`,
// CONNACK `returnCode` before 5.0, SUBACK/UNSUBACK `granted`, UNSUBSCRIBE `unsubscriptions`,
// Subscription `topic`/`nl`/`rap`/`rh`.

const ACK_CMD = { 4: 'puback', 5: 'pubrec', 6: 'pubrel', 7: 'pubcomp' } as const;

function toMp(p: Packet, version: ProtocolVersion): MpPacket {
  const v5 = version === 5;
  switch (p.type) {
    case PacketType.Connect: {
      const m: IConnectPacket = {
        cmd: 'connect',
        protocolId: p.protocolVersion === 3 ? 'MQIsdp' : 'MQTT',
        protocolVersion: p.protocolVersion,
        clientId: p.clientId,
        clean: p.clean,
        keepalive: p.keepAlive,
      };
      if (p.username !== undefined) m.username = p.username;
      if (p.password !== undefined) m.password = p.password;
      if (p.will !== undefined) {
        const w = p.will;
        m.will = { topic: w.topic, payload: w.payload, qos: w.qos, retain: w.retain };
        if (w.properties !== undefined) m.will.properties = willPropsToMp(w.properties);
      }
      if (p.properties !== undefined) m.properties = propsToMp(p.properties);
      return m;
    }
    case PacketType.Connack: {
      const m: IConnackPacket = { cmd: 'connack', sessionPresent: p.sessionPresent };
      if (v5) m.reasonCode = p.reasonCode;
      else m.returnCode = p.reasonCode;
      if (p.properties !== undefined) m.properties = propsToMp(p.properties);
      return m;
    }
    case PacketType.Publish: {
      const m: IPublishPacket = { cmd: 'publish', topic: p.topic, payload: p.payload, qos: p.qos, dup: p.dup, retain: p.retain };
      if (p.packetId !== undefined) m.messageId = p.packetId;
      if (p.properties !== undefined) m.properties = publishPropsToMp(p.properties);
      return m;
    }
    case PacketType.Puback:
    case PacketType.Pubrec:
    case PacketType.Pubrel:
    case PacketType.Pubcomp: {
      const cmd = ACK_CMD[p.type];
      const base = { messageId: p.packetId, ...(v5 ? { reasonCode: p.reasonCode } : {}) };
      const properties = p.properties === undefined ? {} : { properties: propsToMp(p.properties) };
      return { cmd, ...base, ...properties };
    }
    case PacketType.Subscribe: {
      const subscriptions = p.subscriptions.map(
        (s): ISubscription =>
          v5
            ? { topic: s.topicFilter, qos: s.qos, nl: s.noLocal, rap: s.retainAsPublished, rh: s.retainHandling }
            : { topic: s.topicFilter, qos: s.qos },
      );
      const m: ISubscribePacket = { cmd: 'subscribe', messageId: p.packetId, subscriptions };
      if (p.properties !== undefined) m.properties = propsToMp(p.properties);
      return m;
    }
    case PacketType.Suback: {
      const m: ISubackPacket = { cmd: 'suback', messageId: p.packetId, granted: [...p.reasonCodes] };
      if (p.properties !== undefined) m.properties = propsToMp(p.properties);
      return m;
    }
    case PacketType.Unsubscribe: {
      const m: IUnsubscribePacket = { cmd: 'unsubscribe', messageId: p.packetId, unsubscriptions: [...p.topicFilters] };
      if (p.properties !== undefined) m.properties = propsToMp(p.properties);
      return m;
    }
    case PacketType.Unsuback: {
      // Its type wants `granted` in every version; the 3.1.1 generator ignores it (that UNSUBACK has no payload).
      const m: IUnsubackPacket = { cmd: 'unsuback', messageId: p.packetId, granted: [...p.reasonCodes] };
      if (p.properties !== undefined) m.properties = propsToMp(p.properties);
      return m;
    }
    case PacketType.Pingreq:
      return { cmd: 'pingreq' };
    case PacketType.Pingresp:
      return { cmd: 'pingresp' };
    case PacketType.Disconnect: {
      const m: IDisconnectPacket = { cmd: 'disconnect' };
      if (v5) m.reasonCode = p.reasonCode;
      if (p.properties !== undefined) m.properties = propsToMp(p.properties);
      return m;
    }
    case PacketType.Auth: {
      const m: IAuthPacket = { cmd: 'auth', reasonCode: p.reasonCode };
      if (p.properties !== undefined) m.properties = propsToMp(p.properties);
      return m;
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Packets: mqtt-packet -> ours. Its parser also sets header fields on every packet (`retain`, `qos`, `dup`,
// `length`, `topic: null`, `payload: null`), which only mean something for PUBLISH and are not read for
// other types. Fields that a version does not have must be absent.

function qosOf(value: number | undefined, field: string): QoS {
  if (value !== 0 && value !== 1 && value !== 2) assert.fail(`${field}: ${String(value)} is not a QoS`);
  return value;
}

function retainHandlingOf(value: number | undefined): RetainHandling {
  if (value !== 0 && value !== 1 && value !== 2) assert.fail(`rh: ${String(value)} is not a Retain Handling`);
  return value;
}

function bufferOf(value: Buffer | string, field: string): Buffer {
  assert.ok(Buffer.isBuffer(value), `${field} is not a Buffer`);
  return value;
}

function numbersOf(values: readonly unknown[] | undefined, field: string): number[] {
  assert.ok(values !== undefined, `${field} is missing`);
  return values.map((v) => {
    assert.equal(typeof v, 'number', `${field} holds ${String(v)}`);
    return v as number;
  });
}

/** The Reason Code of a 5.0 packet, or the absent one of 3.1.1 that we read as 0. */
function reasonCodeOf(value: number | undefined, version: ProtocolVersion, field: string): number {
  if (version === 5) {
    assert.equal(typeof value, 'number', `${field} is missing`);
    return value as number;
  }
  assert.equal(value, undefined, `${field} is not in 3.1.1`);
  return 0;
}

function fromMp(m: MpPacket, version: ProtocolVersion): Packet {
  switch (m.cmd) {
    case 'connect': {
      const protocolVersion = m.protocolVersion;
      assert.ok(protocolVersion === 3 || protocolVersion === 4 || protocolVersion === 5, `protocolVersion ${String(protocolVersion)}`);
      assert.equal(m.protocolId, protocolVersion === 3 ? 'MQIsdp' : 'MQTT');
      assert.equal(typeof m.clean, 'boolean');
      assert.equal(typeof m.keepalive, 'number');
      const p: { -readonly [K in keyof Extract<Packet, { type: 1 }>]: Extract<Packet, { type: 1 }>[K] } = {
        type: PacketType.Connect,
        protocolVersion,
        clientId: m.clientId,
        clean: m.clean === true,
        keepAlive: m.keepalive ?? -1,
      };
      if (m.username !== undefined) p.username = m.username;
      if (m.password !== undefined) p.password = bufferOf(m.password, 'password');
      if (m.will !== undefined) {
        const w = m.will;
        const will: Will = {
          topic: w.topic,
          payload: bufferOf(w.payload, 'will.payload'),
          qos: qosOf(w.qos, 'will.qos'),
          retain: w.retain === true,
        };
        p.will = w.properties === undefined ? will : { ...will, properties: willPropsFromMp(w.properties) };
      }
      if (m.properties !== undefined) p.properties = propsFromMp(m.properties);
      return p;
    }
    case 'connack': {
      const reasonCode = version === 5 ? m.reasonCode : m.returnCode;
      assert.equal(version === 5 ? m.returnCode : m.reasonCode, undefined, 'CONNACK carries both returnCode and reasonCode');
      assert.equal(typeof reasonCode, 'number');
      const p = { type: PacketType.Connack, sessionPresent: m.sessionPresent, reasonCode: reasonCode as number };
      return m.properties === undefined ? p : { ...p, properties: propsFromMp(m.properties) };
    }
    case 'publish': {
      const qos = qosOf(m.qos, 'qos');
      const base = { type: PacketType.Publish, topic: m.topic, payload: bufferOf(m.payload, 'payload'), qos, retain: m.retain, dup: m.dup };
      if (qos === 0) assert.equal(m.messageId, undefined, 'QoS 0 PUBLISH with a messageId');
      const withId = qos === 0 ? base : { ...base, packetId: m.messageId ?? -1 };
      return m.properties === undefined ? withId : { ...withId, properties: publishPropsFromMp(m.properties) };
    }
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp': {
      const type = { puback: PacketType.Puback, pubrec: PacketType.Pubrec, pubrel: PacketType.Pubrel, pubcomp: PacketType.Pubcomp }[m.cmd];
      const p = { type, packetId: m.messageId ?? -1, reasonCode: reasonCodeOf(m.reasonCode, version, `${m.cmd}.reasonCode`) };
      return m.properties === undefined ? p : { ...p, properties: propsFromMp(m.properties) };
    }
    case 'subscribe': {
      const subscriptions = m.subscriptions.map((s): Subscription => {
        if (version === 5) {
          assert.equal(typeof s.nl, 'boolean');
          assert.equal(typeof s.rap, 'boolean');
          return {
            topicFilter: s.topic,
            qos: qosOf(s.qos, 'qos'),
            noLocal: s.nl === true,
            retainAsPublished: s.rap === true,
            retainHandling: retainHandlingOf(s.rh),
          };
        }
        assert.deepEqual([s.nl, s.rap, s.rh], [undefined, undefined, undefined], 'subscription options are not in 3.1.1');
        return { topicFilter: s.topic, qos: qosOf(s.qos, 'qos'), noLocal: false, retainAsPublished: false, retainHandling: 0 };
      });
      const p = { type: PacketType.Subscribe, packetId: m.messageId ?? -1, subscriptions };
      return m.properties === undefined ? p : { ...p, properties: propsFromMp(m.properties) };
    }
    case 'suback': {
      const p = { type: PacketType.Suback, packetId: m.messageId ?? -1, reasonCodes: numbersOf(m.granted, 'granted') };
      return m.properties === undefined ? p : { ...p, properties: propsFromMp(m.properties) };
    }
    case 'unsubscribe': {
      const p = { type: PacketType.Unsubscribe, packetId: m.messageId ?? -1, topicFilters: [...m.unsubscriptions] };
      return m.properties === undefined ? p : { ...p, properties: propsFromMp(m.properties) };
    }
    case 'unsuback': {
      // Before 5.0 UNSUBACK has no payload, and mqtt-packet's parser sets no `granted`.
      const granted: readonly number[] | undefined = m.granted;
      if (version < 5) assert.equal(granted, undefined, 'granted in a 3.1.1 UNSUBACK');
      const p = { type: PacketType.Unsuback, packetId: m.messageId ?? -1, reasonCodes: version < 5 ? [] : numbersOf(granted, 'granted') };
      return m.properties === undefined ? p : { ...p, properties: propsFromMp(m.properties) };
    }
    case 'pingreq':
      return { type: PacketType.Pingreq };
    case 'pingresp':
      return { type: PacketType.Pingresp };
    case 'disconnect': {
      const p = { type: PacketType.Disconnect, reasonCode: reasonCodeOf(m.reasonCode, version, 'disconnect.reasonCode') };
      return m.properties === undefined ? p : { ...p, properties: propsFromMp(m.properties) };
    }
    case 'auth': {
      const p = { type: PacketType.Auth, reasonCode: reasonCodeOf(m.reasonCode, version, 'auth.reasonCode') };
      return m.properties === undefined ? p : { ...p, properties: propsFromMp(m.properties) };
    }
  }
}

// ---------------------------------------------------------------------------------------------------------

/** Parses one buffer with mqtt-packet; fails on its errors, returns the packets it emits. */
function mpParse(buf: Buffer, version: ProtocolVersion): MpPacket[] {
  const parser = mqttPacket.parser({ protocolVersion: version });
  const packets: MpPacket[] = [];
  const errors: unknown[] = [];
  parser.on('packet', (p) => packets.push(p));
  parser.on('error', (err: unknown) => errors.push(err));
  const left = parser.parse(buf);
  assert.deepStrictEqual(errors, [], 'mqtt-packet failed to parse our encoding');
  assert.equal(left, 0, 'mqtt-packet left bytes unparsed');
  return packets;
}

function mpGenerate(m: MpPacket, version: ProtocolVersion): Buffer {
  return mqttPacket.generate(m, { protocolVersion: version });
}

/** Rewrites every User Property list in the packet (its properties and its Will Properties). */
function mapUserProperties(p: Packet, f: (list: readonly UserProperty[]) => UserProperty[]): Packet {
  let q: Packet = p;
  if ('properties' in p && p.properties?.userProperties !== undefined) {
    q = { ...p, properties: { ...p.properties, userProperties: f(p.properties.userProperties) } } as Packet;
  }
  if (q.type === PacketType.Connect && q.will?.properties?.userProperties !== undefined) {
    const will = q.will;
    q = { ...q, will: { ...will, properties: { ...will.properties, userProperties: f(q.will.properties?.userProperties ?? []) } } };
  }
  return q;
}

function userPropertyLists(p: Packet): (readonly UserProperty[])[] {
  const lists: (readonly UserProperty[])[] = [];
  if ('properties' in p && p.properties?.userProperties !== undefined) lists.push(p.properties.userProperties);
  if (p.type === PacketType.Connect && p.will?.properties?.userProperties !== undefined) lists.push(p.will.properties.userProperties);
  return lists;
}

/** Packets whose User Properties mqtt-packet's object model can hold (Q1). */
function representable(type: PacketType, version: InteropVersion): fc.Arbitrary<Packet> {
  return packetOfType(type, version).map((p) => mapUserProperties(p, mqttPacketOrder));
}

/** Q2 and Q3: what mqtt-packet's parser cannot read although it is valid. */
function parserCanRead(p: Packet, encoded: Buffer): boolean {
  if (userPropertyLists(p).some(hasEmptyFirstRepeatedValue)) return false;
  if (p.type === PacketType.Auth && encoded.length === 2) return false;
  return true;
}

/** Q4 and Q5: what mqtt-packet's generator refuses to write although it is valid. */
function generatorCanWrite(p: Packet): boolean {
  if (p.type !== PacketType.Connect) return true;
  if (p.password !== undefined && p.username === undefined) return false;
  if (p.clientId === '' && !p.clean) return false;
  return true;
}

for (const version of INTEROP_VERSIONS) {
  describe(`mqtt-packet interop, MQTT ${version === 4 ? '3.1.1' : '5.0'}`, () => {
    for (const type of packetTypesFor(version)) {
      const name = packetTypeNames[type];

      test(`${name}: mqtt-packet parses our encoding into the equivalent packet`, () => {
        fc.assert(
          fc.property(representable(type, version), (p) => {
            const bytes = encodePacket(p, version);
            fc.pre(parserCanRead(p, bytes));
            const parsed = mpParse(bytes, version);
            assert.equal(parsed.length, 1);
            assert.deepStrictEqual(fromMp(parsed[0] as MpPacket, version), p);
          }),
          { numRuns: runs(RUNS) },
        );
      });

      test(`${name}: we decode mqtt-packet's encoding into the equivalent packet`, () => {
        fc.assert(
          fc.property(representable(type, version), (p) => {
            fc.pre(generatorCanWrite(p));
            const bytes = mpGenerate(toMp(p, version), version);
            assert.deepStrictEqual(decodePacket(bytes, version), p);
          }),
          { numRuns: runs(RUNS) },
        );
      });
    }

    test('a stream of mqtt-packet encodings goes through our Framer unchanged, and ours through its parser', () => {
      const types = packetTypesFor(version);
      fc.assert(
        fc.property(
          fc.array(fc.oneof(...types.map((t) => representable(t, version))), { minLength: 1, maxLength: 20 }),
          splitPoints(20),
          (packets, cuts) => {
            // Q4 and Q5: leave out what its generator will not write.
            const list = packets.filter(generatorCanWrite);
            fc.pre(list.length > 0);
            const theirs = Buffer.concat(list.map((p) => mpGenerate(toMp(p, version), version)));
            const framer = new Framer({ protocolVersion: version });
            const decoded: Packet[] = [];
            for (const chunk of splitAt(theirs, cuts)) framer.push(chunk, (p) => decoded.push(p));
            assert.deepStrictEqual(decoded, list);

            // Q6: 5.0 DISCONNECT and AUTH without a Property Length stay out of the stream for its parser.
            const readable = list.filter((p) => {
              const bytes = encodePacket(p, version);
              const short = version === 5 && (p.type === PacketType.Disconnect || p.type === PacketType.Auth) && bytes.length <= 3;
              return parserCanRead(p, bytes) && !short;
            });
            fc.pre(readable.length > 0);
            const ours = Buffer.concat(readable.map((p) => encodePacket(p, version)));
            assert.deepStrictEqual(
              mpParse(ours, version).map((m) => fromMp(m, version)),
              readable,
            );
          },
        ),
        { numRuns: runs(RUNS / 3) },
      );
    });
  });
}

describe('mqtt-packet interop, hand-written cases', () => {
  test('interleaved User Properties: ours keep their order, mqtt-packet groups them by name (Q1)', () => {
    const userProperties: UserProperty[] = [
      ['b', '1'],
      ['a', '2'],
      ['b', '3'],
      ['10', '4'],
      ['2', '5'],
    ];
    const p: Packet = { type: PacketType.Puback, packetId: 7, reasonCode: 0x10, properties: { userProperties } };
    assert.deepStrictEqual(decodePacket(encodePacket(p, 5), 5), p);
    const [parsed] = mpParse(encodePacket(p, 5), 5);
    assert.ok(parsed !== undefined);
    assert.deepStrictEqual(fromMp(parsed, 5), { ...p, properties: { userProperties: mqttPacketOrder(userProperties) } });
    assert.deepStrictEqual(mqttPacketOrder(userProperties), [
      ['2', '5'],
      ['10', '4'],
      ['b', '1'],
      ['b', '3'],
      ['a', '2'],
    ]);
  });

  test('a repeated User Property name whose first value is empty: mqtt-packet drops the empty value (Q2)', () => {
    const p: Packet = {
      type: PacketType.Pubrel,
      packetId: 1,
      reasonCode: 0,
      properties: {
        userProperties: [
          ['k', ''],
          ['k', 'v'],
        ],
      },
    };
    const [parsed] = mpParse(encodePacket(p, 5), 5);
    assert.ok(parsed !== undefined);
    assert.deepStrictEqual(fromMp(parsed, 5), { ...p, properties: { userProperties: [['k', 'v']] } });
    // Its generator writes both; we read both.
    assert.deepStrictEqual(decodePacket(mpGenerate(toMp(p, 5), 5), 5), p);
  });

  test('AUTH Success without properties has Remaining Length 0, which mqtt-packet cannot parse (Q3)', () => {
    const p: Packet = { type: PacketType.Auth, reasonCode: 0 };
    const ours = encodePacket(p, 5);
    assert.deepStrictEqual([...ours], [0xf0, 0x00]);
    const parser = mqttPacket.parser({ protocolVersion: 5 });
    const errors: unknown[] = [];
    parser.on('error', (err: unknown) => errors.push(err));
    parser.parse(ours);
    assert.equal(errors.length, 1);
    // mqtt-packet always writes the Reason Code and a Property Length; we read that form too.
    const theirs = mpGenerate(toMp(p, 5), 5);
    assert.deepStrictEqual([...theirs], [0xf0, 0x02, 0x00, 0x00]);
    assert.deepStrictEqual(decodePacket(theirs, 5), p);
  });

  test('5.0 DISCONNECT or AUTH without a Property Length, then another packet: mqtt-packet reads into the next packet (Q6)', () => {
    const cases: Packet[][] = [
      [{ type: PacketType.Disconnect, reasonCode: 0 }, { type: PacketType.Pingreq }],
      [{ type: PacketType.Disconnect, reasonCode: 0x04 }, { type: PacketType.Pingreq }],
      [{ type: PacketType.Auth, reasonCode: 0x19 }, { type: PacketType.Pingresp }],
    ];
    for (const packets of cases) {
      const stream = Buffer.concat(packets.map((p) => encodePacket(p, 5)));
      assert.ok(stream.length <= 5, 'the first packet has neither properties nor a Property Length');
      const parser = mqttPacket.parser({ protocolVersion: 5 });
      const errors: unknown[] = [];
      parser.on('error', (err: unknown) => errors.push(err));
      parser.parse(stream);
      assert.ok(errors.length > 0, 'mqtt-packet read the next packet as part of the first');
      // Each alone is fine for it.
      for (const p of packets) assert.deepStrictEqual(fromMp(mpParse(encodePacket(p, 5), 5)[0] ?? assert.fail('no packet'), 5), p);
      // Our Framer reads them in one buffer.
      const framer = new Framer({ protocolVersion: 5 });
      const decoded: Packet[] = [];
      framer.push(stream, (p) => decoded.push(p));
      assert.deepStrictEqual(decoded, packets);
    }
  });

  test('5.0 CONNECT with a Password and no User Name: valid, mqtt-packet parses it but will not write it (Q4)', () => {
    const p: Packet = {
      type: PacketType.Connect,
      protocolVersion: 5,
      clientId: 'c',
      clean: true,
      keepAlive: 30,
      password: Buffer.from('secret'),
    };
    const [parsed] = mpParse(encodePacket(p), 5);
    assert.ok(parsed !== undefined);
    assert.deepStrictEqual(fromMp(parsed, 5), p);
    assert.throws(() => mpGenerate(toMp(p, 5), 5), /Username is required/);
  });

  test('CONNECT with an empty Client Identifier and Clean Session 0: mqtt-packet parses it but will not write it (Q5)', () => {
    for (const version of INTEROP_VERSIONS) {
      const p: Packet = { type: PacketType.Connect, protocolVersion: version, clientId: '', clean: false, keepAlive: 0 };
      const [parsed] = mpParse(encodePacket(p), version);
      assert.ok(parsed !== undefined);
      assert.deepStrictEqual(fromMp(parsed, version), p);
      assert.throws(() => mpGenerate(toMp(p, version), version), /clientId must be given/);
    }
  });

  test('MQTT 3.1 CONNECT ("MQIsdp", level 3) both ways', () => {
    const p: Packet = {
      type: PacketType.Connect,
      protocolVersion: 3,
      clientId: 'mosq-1234',
      clean: true,
      keepAlive: 60,
      username: 'u',
      password: Buffer.from('p'),
      will: { topic: 'last/will', payload: Buffer.from('gone'), qos: 2, retain: true },
    };
    const [parsed] = mpParse(encodePacket(p), 3);
    assert.ok(parsed !== undefined);
    assert.deepStrictEqual(fromMp(parsed, 3), p);
    assert.deepStrictEqual(decodePacket(mpGenerate(toMp(p, 3), 3), 3), p);
  });

  test('5.0 PUBLISH with every property, several Subscription Identifiers and a Topic Alias for an empty topic', () => {
    const p: Packet = {
      type: PacketType.Publish,
      topic: '',
      payload: Buffer.from('{"t":21.5}'),
      qos: 2,
      retain: false,
      dup: true,
      packetId: 0xffff,
      properties: {
        payloadFormatIndicator: 1,
        messageExpiryInterval: 0xffffffff,
        topicAlias: 0xffff,
        responseTopic: 'reply/here',
        correlationData: Buffer.from([0, 1, 2, 0xff]),
        userProperties: [
          ['k', 'v'],
          ['k', 'w'],
        ],
        subscriptionIdentifiers: [1, 268_435_455, 16_384],
        contentType: 'application/json',
      },
    };
    const [parsed] = mpParse(encodePacket(p, 5), 5);
    assert.ok(parsed !== undefined);
    assert.deepStrictEqual(fromMp(parsed, 5), p);
    assert.deepStrictEqual(decodePacket(mpGenerate(toMp(p, 5), 5), 5), p);
  });

  test('3.1.1 SUBACK with the failure return code 0x80 and UNSUBACK without payload', () => {
    const suback: Packet = { type: PacketType.Suback, packetId: 9, reasonCodes: [0, 1, 2, 0x80] };
    const unsuback: Packet = { type: PacketType.Unsuback, packetId: 9, reasonCodes: [] };
    for (const p of [suback, unsuback]) {
      assert.deepStrictEqual(encodePacket(p, 4), mpGenerate(toMp(p, 4), 4), 'the two encoders agree byte for byte');
      const [parsed] = mpParse(encodePacket(p, 4), 4);
      assert.ok(parsed !== undefined);
      assert.deepStrictEqual(fromMp(parsed, 4), p);
    }
  });
});
