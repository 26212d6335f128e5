import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { describe, test } from 'node:test';
import {
  type ConnectPacket,
  decodePacket,
  encodePacket,
  type Packet,
  type ProtocolVersion,
  type PublishPacket,
  type SubscribePacket,
} from '../../src/protocol/index.js';
import { assertMqttError, type ExpectedError, hexBytes, invalidFixtures, validFixtures, versionLabel } from './fixtures.js';

const hex = (buf: Uint8Array): string => Buffer.from(buf).toString('hex');
const VERSIONS: readonly ProtocolVersion[] = [3, 4, 5];

describe('fixture table', () => {
  test('every packet type has a valid fixture in every version that has it', () => {
    for (const version of VERSIONS) {
      const types = new Set(validFixtures.filter((f) => f.version === version).map((f) => f.packet.type));
      const last = version === 5 ? 15 : 14; // AUTH (15) is new in 5.0
      for (let type = 1; type <= last; type++) assert.ok(types.has(type as Packet['type']), `${versionLabel(version)}: type ${type}`);
    }
  });

  test('fixture names are unique per version', () => {
    const seen = new Set<string>();
    for (const f of [...validFixtures, ...invalidFixtures]) {
      const key = `${f.version} ${f.name}`;
      assert.ok(!seen.has(key), `duplicate fixture name: ${key}`);
      seen.add(key);
    }
  });

  test('every valid fixture holds one packet: its Remaining Length (read here without the codec) matches its size', () => {
    for (const f of validFixtures) {
      const bytes = hexBytes(f.hex);
      let value = 0;
      let multiplier = 1;
      let i = 1;
      for (;;) {
        const byte = bytes[i++];
        assert.ok(byte !== undefined, f.name);
        value += (byte & 0x7f) * multiplier;
        if ((byte & 0x80) === 0) break;
        multiplier *= 128;
      }
      assert.equal(bytes.length - i, value, `${f.name}: Remaining Length ${value}, ${bytes.length - i} bytes follow`);
    }
  });

  test('the annotated byte notation', () => {
    assert.equal(hex(hexBytes('10 0e # comment "not bytes"\n  00 04 "MQTT" 61*3 c3bc')), '100e00044d515454616161c3bc');
    assert.equal(hex(hexBytes('"a#b" # "#" inside quotes is text')), '612362');
    assert.throws(() => hexBytes('0'));
    assert.throws(() => hexBytes('"unterminated'));
    assert.throws(() => hexBytes('"ü"'));
  });
});

describe('valid fixtures', () => {
  for (const version of VERSIONS) {
    describe(versionLabel(version), () => {
      for (const f of validFixtures.filter((v) => v.version === version)) {
        const bytes = hexBytes(f.hex);
        test(`${f.name}: decodes`, () => {
          assert.deepStrictEqual(decodePacket(bytes, f.version), f.packet);
        });
        if (f.nonCanonical === undefined) {
          test(`${f.name}: encodes to the same bytes`, () => {
            assert.equal(hex(encodePacket(f.packet, f.version)), hex(bytes));
          });
        } else {
          test(`${f.name}: encodes to the shorter form`, () => {
            const encoded = encodePacket(f.packet, f.version);
            assert.ok(encoded.length < bytes.length, `${hex(encoded)} is not shorter than ${hex(bytes)}`);
            assert.deepStrictEqual(decodePacket(encoded, f.version), f.packet);
          });
        }
        test(`${f.name}: round-trips`, () => {
          assert.deepStrictEqual(decodePacket(encodePacket(f.packet, f.version), f.version), f.packet);
        });
      }
    });
  }
});

describe('invalid fixtures: decodePacket throws MqttError', () => {
  for (const version of VERSIONS) {
    describe(versionLabel(version), () => {
      for (const f of invalidFixtures.filter((v) => v.version === version)) {
        test(f.name, () => {
          assertMqttError(() => decodePacket(hexBytes(f.hex), f.version), f.error);
        });
      }
    });
  }
});

describe('decoded packets', () => {
  test('a PUBLISH payload decoded by decodePacket is a view of the input, not a copy', () => {
    const bytes = hexBytes('30 07 00 03 "a/b" "hi"');
    const packet = decodePacket(bytes, 4) as PublishPacket;
    assert.equal(packet.payload.buffer, bytes.buffer);
  });

  test('decodePacket defaults to MQTT 5.0', () => {
    assert.deepStrictEqual(decodePacket(hexBytes('30 08 00 03 "a/b" 00 "hi"')), {
      type: 3,
      topic: 'a/b',
      payload: Buffer.from('hi'),
      qos: 0,
      retain: false,
      dup: false,
    });
  });

  test('the version argument is ignored for CONNECT, which names its own', () => {
    const f = validFixtures.find((v) => v.packet.type === 1 && v.version === 3);
    assert.ok(f !== undefined);
    assert.deepStrictEqual(decodePacket(hexBytes(f.hex), 5), f.packet);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Encoder-side checks
// ---------------------------------------------------------------------------------------------------------------

const publish = (fields: Partial<PublishPacket> = {}): PublishPacket => ({
  type: 3,
  topic: 'a/b',
  payload: Buffer.from('hi'),
  qos: 0,
  retain: false,
  dup: false,
  ...fields,
});

const connect = (fields: Partial<ConnectPacket> = {}): ConnectPacket => ({
  type: 1,
  protocolVersion: 4,
  clientId: 'c',
  clean: true,
  keepAlive: 60,
  ...fields,
});

const subscribe = (fields: Partial<SubscribePacket> = {}): SubscribePacket => ({
  type: 8,
  packetId: 1,
  subscriptions: [{ topicFilter: 'a/b', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
  ...fields,
});

/** Lets a test hand the encoder a value its types forbid, as JavaScript callers can. */
const loose = <T>(value: unknown): T => value as T;

describe('encoder refuses what the chosen version cannot carry (MQTT_NOT_IN_VERSION)', () => {
  const NOT_IN_VERSION: ExpectedError = { code: 'MQTT_NOT_IN_VERSION' };
  const cases: readonly (readonly [string, Packet])[] = [
    ['CONNECT properties', connect({ properties: { sessionExpiryInterval: 10 } })],
    [
      'CONNECT will properties',
      connect({ will: { topic: 't', payload: Buffer.alloc(0), qos: 0, retain: false, properties: { willDelayInterval: 1 } } }),
    ],
    ['CONNACK properties', { type: 2, sessionPresent: false, reasonCode: 0, properties: { maximumQoS: 1 } }],
    ['PUBLISH properties', publish({ properties: { messageExpiryInterval: 5 } })],
    ['PUBACK Reason Code', { type: 4, packetId: 1, reasonCode: 0x10 }],
    ['PUBREC properties', { type: 5, packetId: 1, reasonCode: 0, properties: { reasonString: 'x' } }],
    ['PUBREL Reason Code', { type: 6, packetId: 1, reasonCode: 0x92 }],
    ['PUBCOMP properties', { type: 7, packetId: 1, reasonCode: 0, properties: { userProperties: [['a', 'b']] } }],
    ['SUBSCRIBE properties', subscribe({ properties: { subscriptionIdentifier: 1 } })],
    [
      'SUBSCRIBE No Local',
      subscribe({ subscriptions: [{ topicFilter: 'a', qos: 0, noLocal: true, retainAsPublished: false, retainHandling: 0 }] }),
    ],
    [
      'SUBSCRIBE Retain As Published',
      subscribe({ subscriptions: [{ topicFilter: 'a', qos: 0, noLocal: false, retainAsPublished: true, retainHandling: 0 }] }),
    ],
    [
      'SUBSCRIBE Retain Handling',
      subscribe({ subscriptions: [{ topicFilter: 'a', qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 2 }] }),
    ],
    ['SUBACK properties', { type: 9, packetId: 1, reasonCodes: [0], properties: { reasonString: 'x' } }],
    ['UNSUBSCRIBE properties', { type: 10, packetId: 1, topicFilters: ['a'], properties: { userProperties: [['a', 'b']] } }],
    ['UNSUBACK Reason Codes', { type: 11, packetId: 1, reasonCodes: [0x11] }],
    ['UNSUBACK properties', { type: 11, packetId: 1, reasonCodes: [0], properties: { reasonString: 'x' } }],
    ['DISCONNECT Reason Code', { type: 14, reasonCode: 0x04 }],
    ['DISCONNECT properties', { type: 14, reasonCode: 0, properties: { sessionExpiryInterval: 0 } }],
    ['AUTH', { type: 15, reasonCode: 0 }],
  ];
  for (const [name, packet] of cases) {
    for (const version of [3, 4] as const) {
      test(`${name} in ${versionLabel(version)}`, () => {
        // CONNECT carries its own version.
        const p = packet.type === 1 ? { ...packet, protocolVersion: version } : packet;
        assertMqttError(() => encodePacket(p, version), NOT_IN_VERSION);
      });
    }
    test(`${name} in MQTT 5.0 is accepted and round-trips`, () => {
      const p = packet.type === 1 ? { ...packet, protocolVersion: 5 as const } : packet;
      assert.deepStrictEqual(decodePacket(encodePacket(p, 5), 5), p);
    });
  }

  test('an empty properties object is not refused before 5.0', () => {
    assert.equal(hex(encodePacket(publish({ properties: {} }), 4)), hex(hexBytes('30 07 00 03 "a/b" "hi"')));
  });

  test('UNSUBACK Reason Code 0x00 is dropped before 5.0 (its UNSUBACK has no payload)', () => {
    assert.equal(hex(encodePacket({ type: 11, packetId: 1, reasonCodes: [0] }, 4)), 'b0020001');
  });
});

describe('encoder checks', () => {
  test('[MQTT-2.2.1-3] PUBLISH QoS 1 and 2 need a Packet Identifier from 1 to 65535', () => {
    const bad: ExpectedError = { code: 'MQTT_PACKET_ID_INVALID', reasonCode: 0x82 };
    for (const qos of [1, 2] as const) {
      assertMqttError(() => encodePacket(publish({ qos }), 5), bad);
      for (const packetId of [0, 65536, -1, 1.5]) assertMqttError(() => encodePacket(publish({ qos, packetId }), 5), bad);
    }
    assert.equal(hex(encodePacket(publish({ qos: 1, packetId: 65535 }), 4)), hex(hexBytes('32 09 00 03 "a/b" ff ff "hi"')));
  });

  test('[MQTT-2.2.1-2] PUBLISH QoS 0 is written without a Packet Identifier even if one is given', () => {
    assert.equal(hex(encodePacket(publish({ packetId: 7 }), 4)), hex(hexBytes('30 07 00 03 "a/b" "hi"')));
  });

  test('[MQTT-2.3.1-1/3.1.1] SUBSCRIBE, UNSUBSCRIBE and the acknowledgements need a non-zero Packet Identifier', () => {
    const bad: ExpectedError = { code: 'MQTT_PACKET_ID_INVALID' };
    assertMqttError(() => encodePacket(subscribe({ packetId: 0 }), 4), bad);
    assertMqttError(() => encodePacket({ type: 10, packetId: 0, topicFilters: ['a'] }, 4), bad);
    assertMqttError(() => encodePacket({ type: 4, packetId: 0, reasonCode: 0 }, 4), bad);
    assertMqttError(() => encodePacket({ type: 9, packetId: 0, reasonCodes: [0] }, 4), bad);
    assertMqttError(() => encodePacket({ type: 11, packetId: 70000, reasonCodes: [] }, 4), bad);
  });

  test('[MQTT-3.3.1-4] QoS 3 is refused in PUBLISH, Will and SUBSCRIBE', () => {
    const bad: ExpectedError = { code: 'MQTT_QOS_INVALID' };
    assertMqttError(() => encodePacket(publish({ qos: loose(3), packetId: 1 }), 5), bad);
    assertMqttError(() => encodePacket(connect({ will: { topic: 't', payload: Buffer.alloc(0), qos: loose(3), retain: false } }), 4), bad);
    assertMqttError(
      () =>
        encodePacket(
          subscribe({ subscriptions: [{ topicFilter: 'a', qos: loose(3), noLocal: false, retainAsPublished: false, retainHandling: 0 }] }),
          5,
        ),
      bad,
    );
  });

  test('[MQTT-3.3.1-2] DUP is written as 0 for QoS 0', () => {
    assert.equal(encodePacket(publish({ dup: true }), 4)[0], 0x30);
    assert.equal(encodePacket(publish({ dup: true, qos: 1, packetId: 1 }), 4)[0], 0x3a);
  });

  test('[MQTT-3.6.1-1] [MQTT-3.8.1-1] [MQTT-3.10.1-1] PUBREL, SUBSCRIBE and UNSUBSCRIBE are written with flags 0010', () => {
    for (const version of VERSIONS) {
      assert.equal(encodePacket({ type: 6, packetId: 1, reasonCode: 0 }, version)[0], 0x62);
      assert.equal(encodePacket(subscribe(), version)[0], 0x82);
      assert.equal(encodePacket({ type: 10, packetId: 1, topicFilters: ['a'] }, version)[0], 0xa2);
    }
  });

  test('[MQTT-2.2.2-1/5.0] a 5.0 packet without properties carries Property Length 0', () => {
    assert.equal(hex(encodePacket(publish(), 5)), hex(hexBytes('30 08 00 03 "a/b" 00 "hi"')));
    assert.equal(hex(encodePacket(subscribe(), 5)), hex(hexBytes('82 09 00 01 00 00 03 "a/b" 01')));
    assert.equal(hex(encodePacket({ type: 2, sessionPresent: false, reasonCode: 0 }, 5)), '2003000000');
    assert.equal(hex(encodePacket({ type: 9, packetId: 1, reasonCodes: [1] }, 5)), '900400010001');
  });

  test('[MQTT-1.5.5-1] the Remaining Length uses the fewest bytes, at each size boundary', () => {
    const cases: readonly (readonly [number, string])[] = [
      [0, '00'],
      [127, '7f'],
      [128, '8001'],
      [16_383, 'ff7f'],
      [16_384, '808001'],
      [2_097_151, 'ffff7f'],
      [2_097_152, '80808001'],
    ];
    for (const [remaining, lengthHex] of cases) {
      const packet: Packet = remaining === 0 ? { type: 12 } : publish({ topic: 't', payload: Buffer.alloc(remaining - 3, 0x61) }); // 00 01 74 + payload
      const encoded = encodePacket(packet, 4);
      assert.equal(hex(encoded.subarray(1, 1 + lengthHex.length / 2)), lengthHex, `Remaining Length ${remaining}`);
      assert.equal(encoded.length, 1 + lengthHex.length / 2 + remaining);
      assert.deepStrictEqual(decodePacket(encoded, 4), packet);
    }
  });

  test('[MQTT-4.7.3-3] a string longer than 65535 UTF-8 bytes is refused', () => {
    const tooLong: ExpectedError = { code: 'MQTT_STRING_TOO_LONG' };
    assertMqttError(() => encodePacket(publish({ topic: 'a'.repeat(65_536) }), 4), tooLong);
    // 21846 characters but 65538 bytes: the limit is on bytes, not on UTF-16 code units.
    assertMqttError(() => encodePacket(publish({ topic: '€'.repeat(21_846) }), 4), tooLong);
    assertMqttError(() => encodePacket(connect({ clientId: 'x'.repeat(65_536) }), 4), tooLong);
    assertMqttError(() => encodePacket(connect({ username: 'ü'.repeat(32_768) }), 4), tooLong);
    assertMqttError(() => encodePacket(subscribe({ properties: { userProperties: [['k', 'v'.repeat(65_536)]] } }), 5), tooLong);
    assertMqttError(() => encodePacket(publish({ properties: { contentType: 'c'.repeat(65_536) } }), 5), tooLong);
  });

  test('[MQTT-4.7.3-3] a topic of exactly 65535 bytes is written and read back', () => {
    const packet = publish({ topic: `${'a'.repeat(65_534)}/`, payload: Buffer.alloc(0) });
    const encoded = encodePacket(packet, 4);
    assert.equal(hex(encoded.subarray(0, 6)), '30818004ffff'); // Remaining Length 65537 (81 80 04), topic length 65535
    assert.deepStrictEqual(decodePacket(encoded, 4), packet);
  });

  test('Binary Data longer than 65535 bytes is refused', () => {
    const tooLong: ExpectedError = { code: 'MQTT_STRING_TOO_LONG' };
    assertMqttError(() => encodePacket(connect({ username: 'u', password: Buffer.alloc(65_536) }), 4), tooLong);
    assertMqttError(
      () => encodePacket(connect({ will: { topic: 't', payload: Buffer.alloc(65_536), qos: 0, retain: false } }), 4),
      tooLong,
    );
    assertMqttError(() => encodePacket(publish({ properties: { correlationData: Buffer.alloc(65_536) } }), 5), tooLong);
    assert.doesNotThrow(() => encodePacket(connect({ username: 'u', password: Buffer.alloc(65_535) }), 4));
  });

  test('[MQTT-4.7.3-1] an empty Topic Name is refused, except with a Topic Alias in 5.0', () => {
    const bad: ExpectedError = { code: 'MQTT_TOPIC_NAME_INVALID' };
    assertMqttError(() => encodePacket(publish({ topic: '' }), 3), bad);
    assertMqttError(() => encodePacket(publish({ topic: '' }), 4), bad);
    assertMqttError(() => encodePacket(publish({ topic: '' }), 5), bad);
    assertMqttError(() => encodePacket(publish({ topic: '', properties: { messageExpiryInterval: 1 } }), 5), bad);
    assert.equal(
      hex(encodePacket(publish({ topic: '', properties: { topicAlias: 3 } }), 5)),
      hex(hexBytes('30 08 00 00 03 23 00 03 "hi"')),
    );
  });

  test('[MQTT-3.1.2-22/3.1.1] a password without a user name is refused before 5.0 and written in 5.0', () => {
    const bad: ExpectedError = { code: 'MQTT_CONNECT_FLAGS_INVALID' };
    assertMqttError(() => encodePacket(connect({ password: Buffer.from('p') }), 4), bad);
    assertMqttError(() => encodePacket(connect({ protocolVersion: 3, password: Buffer.from('p') }), 3), bad);
    const v5 = connect({ protocolVersion: 5, password: Buffer.from('p') });
    assert.deepStrictEqual(decodePacket(encodePacket(v5), 5), v5);
  });

  test('[MQTT-3.8.3-2/5.0] [MQTT-3.8.3-3/3.1.1] [MQTT-3.10.3-2] SUBSCRIBE and UNSUBSCRIBE without topic filters are refused', () => {
    for (const version of VERSIONS) {
      assertMqttError(() => encodePacket(subscribe({ subscriptions: [] }), version), { code: 'MQTT_PAYLOAD_EMPTY' });
      assertMqttError(() => encodePacket({ type: 10, packetId: 1, topicFilters: [] }, version), { code: 'MQTT_PAYLOAD_EMPTY' });
    }
  });

  test('[MQTT-3.3.2-8] Topic Alias 0 is refused', () => {
    assertMqttError(() => encodePacket(publish({ properties: { topicAlias: 0 } }), 5), { code: 'MQTT_PROPERTY_VALUE_INVALID' });
  });

  test('Retain Handling 3 is refused', () => {
    assertMqttError(
      () =>
        encodePacket(
          subscribe({ subscriptions: [{ topicFilter: 'a', qos: 0, noLocal: false, retainAsPublished: false, retainHandling: loose(3) }] }),
          5,
        ),
      { code: 'MQTT_SUBSCRIPTION_OPTIONS_INVALID' },
    );
  });

  test('a property the packet cannot carry is refused', () => {
    const bad: ExpectedError = { code: 'MQTT_PROPERTY_NOT_ALLOWED' };
    assertMqttError(() => encodePacket(publish({ properties: loose({ sessionExpiryInterval: 1 }) }), 5), bad);
    assertMqttError(() => encodePacket({ type: 4, packetId: 1, reasonCode: 0, properties: loose({ topicAlias: 1 }) }, 5), bad);
    assertMqttError(() => encodePacket(connect({ protocolVersion: 5, properties: loose({ maximumQoS: 1 }) })), bad);
    assertMqttError(() => encodePacket(publish({ properties: loose({ subscriptionIdentifier: 1 }) }), 5), bad);
    assertMqttError(() => encodePacket(subscribe({ properties: loose({ subscriptionIdentifiers: [1] }) }), 5), bad);
  });

  test('property values out of range are refused', () => {
    const bad: ExpectedError = { code: 'MQTT_PROPERTY_VALUE_INVALID' };
    assertMqttError(() => encodePacket(connect({ protocolVersion: 5, properties: { receiveMaximum: 0 } })), bad);
    assertMqttError(() => encodePacket(connect({ protocolVersion: 5, properties: { maximumPacketSize: 0 } })), bad);
    assertMqttError(() => encodePacket(connect({ protocolVersion: 5, properties: { topicAliasMaximum: 65_536 } })), bad);
    assertMqttError(() => encodePacket(connect({ protocolVersion: 5, properties: { sessionExpiryInterval: 2 ** 32 } })), bad);
    assertMqttError(() => encodePacket(connect({ protocolVersion: 5, properties: { requestProblemInformation: loose(1) } })), bad);
    assertMqttError(() => encodePacket({ type: 2, sessionPresent: false, reasonCode: 0, properties: { maximumQoS: 2 } }, 5), bad);
    assertMqttError(() => encodePacket(publish({ properties: { payloadFormatIndicator: 2 } }), 5), bad);
    assertMqttError(() => encodePacket(publish({ properties: { subscriptionIdentifiers: [0] } }), 5), bad);
    assertMqttError(() => encodePacket(publish({ properties: { messageExpiryInterval: -1 } }), 5), bad);
    assertMqttError(() => encodePacket(subscribe({ properties: { subscriptionIdentifier: 0 } }), 5), bad);
    assertMqttError(() => encodePacket(subscribe({ properties: { subscriptionIdentifier: 268_435_456 } }), 5), {
      code: 'MQTT_VARIABLE_BYTE_INTEGER_INVALID',
    });
    assertMqttError(() => encodePacket(publish({ properties: { contentType: loose(5) } }), 5), bad);
    assertMqttError(() => encodePacket(publish({ properties: { userProperties: loose([['k']]) } }), 5), bad);
  });

  test('CONNECT Keep Alive must be 0..65535 and the protocol version 3, 4 or 5', () => {
    assertMqttError(() => encodePacket(connect({ keepAlive: 65_536 })), { code: 'MQTT_CONNECT_FLAGS_INVALID' });
    assertMqttError(() => encodePacket(connect({ keepAlive: -1 })), { code: 'MQTT_CONNECT_FLAGS_INVALID' });
    assertMqttError(() => encodePacket(connect({ protocolVersion: loose(6) })), {
      code: 'MQTT_PROTOCOL_VERSION_UNSUPPORTED',
      reasonCode: 0x84,
    });
  });

  test('a Reason Code must be a byte', () => {
    const bad: ExpectedError = { code: 'MQTT_REASON_CODE_INVALID' };
    assertMqttError(() => encodePacket({ type: 2, sessionPresent: false, reasonCode: 256 }, 5), bad);
    assertMqttError(() => encodePacket({ type: 4, packetId: 1, reasonCode: -1 }, 5), bad);
    assertMqttError(() => encodePacket({ type: 9, packetId: 1, reasonCodes: [0x100] }, 5), bad);
    assertMqttError(() => encodePacket({ type: 14, reasonCode: 1.5 }, 5), bad);
  });

  test('MQTT 3.1 CONNACK has no Session Present flag: it is written as 0', () => {
    assert.equal(hex(encodePacket({ type: 2, sessionPresent: true, reasonCode: 0 }, 3)), '20020000');
  });
});
