import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { describe, test } from 'node:test';
import {
  type ConnectPacket,
  decodePacket,
  encodePacket,
  isValidMqttString,
  type Packet,
  type ProtocolVersion,
  type PubackPacket,
  type PublishPacket,
  type SubscribePacket,
} from '../../src/protocol/index.js';
import { assertMqttError, hexBytes } from './fixtures.js';

/**
 * The UTF-8 rules (MQTT 5.0 section 1.5.4, 3.1.1 section 1.5.3) are checked by two code paths: the PUBLISH
 * Topic Name reader and the generic string reader used by every other field. Each byte sequence below is
 * placed in fields served by each path.
 */
interface Carrier {
  readonly name: string;
  readonly version: ProtocolVersion;
  /** The whole packet with `content` as the string's bytes (lengths computed here; content < 100 bytes). */
  build(content: Buffer): Buffer;
  /** The decoded string. */
  read(packet: Packet): string;
}

const u8 = (...bytes: number[]) => Buffer.from(bytes);

const carriers: readonly Carrier[] = [
  {
    name: 'PUBLISH Topic Name (5.0)',
    version: 5,
    // 30 RL | 00 n topic | 00 (Property Length)
    build: (c) => Buffer.concat([u8(0x30, 2 + c.length + 1, 0x00, c.length), c, u8(0x00)]),
    read: (p) => (p as PublishPacket).topic,
  },
  {
    name: 'CONNECT Client Identifier (3.1.1)',
    version: 4,
    // 10 RL | 00 04 "MQTT" 04 02 00 3c | 00 n client id
    build: (c) => Buffer.concat([u8(0x10, 10 + 2 + c.length), hexBytes('00 04 "MQTT" 04 02 00 3c'), u8(0x00, c.length), c]),
    read: (p) => (p as ConnectPacket).clientId,
  },
  {
    name: 'SUBSCRIBE Topic Filter (3.1.1)',
    version: 4,
    // 82 RL | 00 01 | 00 n filter | 00 (Requested QoS)
    build: (c) => Buffer.concat([u8(0x82, 2 + 2 + c.length + 1, 0x00, 0x01, 0x00, c.length), c, u8(0x00)]),
    read: (p) => (p as SubscribePacket).subscriptions[0]?.topicFilter ?? '',
  },
  {
    name: 'PUBACK User Property value (5.0)',
    version: 5,
    // 40 RL | 00 01 | 00 | PL | 26 00 01 "k" 00 n value
    build: (c) =>
      Buffer.concat([u8(0x40, 2 + 1 + 1 + 6 + c.length, 0x00, 0x01, 0x00, 6 + c.length, 0x26, 0x00, 0x01, 0x6b, 0x00, c.length), c]),
    read: (p) => (p as PubackPacket).properties?.userProperties?.[0]?.[1] ?? '',
  },
];

const illFormed: readonly (readonly [string, string])[] = [
  ['a lone continuation byte', '80'],
  ['a two-byte sequence cut short', 'c3'],
  ['a lead byte followed by ASCII', 'c3 28'],
  ['a three-byte sequence cut short', 'e2 82'],
  ['a four-byte sequence cut short', 'f0 9f 98'],
  ['the surrogate U+D800 (ED A0 80)', 'ed a0 80'],
  ['the surrogate U+DFFF (ED BF BF)', 'ed bf bf'],
  ['a surrogate pair encoded as two surrogates (CESU-8 U+1F600)', 'ed a0 bd ed b8 80'],
  ['an overlong "/" (C0 AF)', 'c0 af'],
  ['an overlong two-byte form (C1 BF)', 'c1 bf'],
  ['an overlong three-byte form (E0 80 AF)', 'e0 80 af'],
  ['an overlong four-byte form (F0 80 80 AF)', 'f0 80 80 af'],
  ['an overlong U+0000 (C0 80)', 'c0 80'],
  ['a code point above U+10FFFF (F4 90 80 80)', 'f4 90 80 80'],
  ['the lead byte F5', 'f5 80 80 80'],
  ['the byte FE', 'fe'],
  ['the byte FF', 'ff'],
];

const withNull: readonly (readonly [string, string])[] = [
  ['U+0000 alone', '00'],
  ['U+0000 at the end', '61 00'],
  ['U+0000 at the start', '00 61'],
  ['U+0000 after a multi-byte character', 'c3 bc 00'],
];

const wellFormed: readonly (readonly [string, string, string])[] = [
  ['U+007F', '7f', '\u007f'],
  ['U+0080', 'c2 80', '\u0080'],
  ['U+07FF', 'df bf', '\u07ff'],
  ['U+0800', 'e0 a0 80', '\u0800'],
  ['U+D7FF, just below the surrogates', 'ed 9f bf', '\ud7ff'],
  ['U+E000, just above the surrogates', 'ee 80 80', '\ue000'],
  ['U+FFFF, a noncharacter (SHOULD NOT be sent, MAY be refused; accepted)', 'ef bf bf', '\uffff'],
  ['U+0001, a control character (SHOULD NOT be sent, MAY be refused; accepted)', '01', '\u0001'],
  ['U+10000', 'f0 90 80 80', '\u{10000}'],
  ['U+10FFFF, the last code point', 'f4 8f bf bf', '\u{10ffff}'],
  ['"A" U+2A6D4, the example of section 1.5.4', '41 f0 aa 9b 94', 'A\u{2A6D4}'],
];

describe('[MQTT-1.5.4-1] [MQTT-1.5.3-1] ill-formed UTF-8 and encoded surrogates are a Malformed Packet', () => {
  for (const carrier of carriers) {
    for (const [what, bytes] of illFormed) {
      test(`${carrier.name}: ${what}`, () => {
        assertMqttError(() => decodePacket(carrier.build(hexBytes(bytes)), carrier.version), {
          code: 'MQTT_UTF8_INVALID',
          reasonCode: 0x81,
        });
      });
    }
  }
});

describe('[MQTT-1.5.4-2] [MQTT-1.5.3-2] U+0000 is a Malformed Packet', () => {
  for (const carrier of carriers) {
    for (const [what, bytes] of withNull) {
      test(`${carrier.name}: ${what}`, () => {
        assertMqttError(() => decodePacket(carrier.build(hexBytes(bytes)), carrier.version), {
          code: 'MQTT_UTF8_NULL_CHARACTER',
          reasonCode: 0x81,
        });
      });
    }
  }
});

describe('well-formed UTF-8 at the edges of each range is accepted and written back byte for byte', () => {
  for (const carrier of carriers) {
    for (const [what, bytes, text] of wellFormed) {
      test(`${carrier.name}: ${what}`, () => {
        const wire = carrier.build(hexBytes(bytes));
        const packet = decodePacket(wire, carrier.version);
        assert.equal(carrier.read(packet), text);
        assert.equal(encodePacket(packet, carrier.version).toString('hex'), wire.toString('hex'));
      });
    }
  }
});

describe('[MQTT-1.5.4-3] [MQTT-1.5.3-3] U+FEFF (EF BB BF) is kept, never skipped or stripped', () => {
  const boms: readonly (readonly [string, string, string])[] = [
    ['at the start', 'ef bb bf 61', '\uFEFFa'],
    ['in the middle', '61 ef bb bf 62', 'a\uFEFFb'],
    ['at the end', '61 ef bb bf', 'a\uFEFF'],
    ['twice at the start', 'ef bb bf ef bb bf', '\uFEFF\uFEFF'],
    ['alone', 'ef bb bf', '\uFEFF'],
  ];
  for (const carrier of carriers) {
    for (const [where, bytes, text] of boms) {
      test(`${carrier.name}: ${where}`, () => {
        const wire = carrier.build(hexBytes(bytes));
        const packet = decodePacket(wire, carrier.version);
        assert.equal(carrier.read(packet), text);
        assert.equal(encodePacket(packet, carrier.version).toString('hex'), wire.toString('hex'));
      });
    }
  }

  test('the encoder writes a leading U+FEFF as EF BB BF', () => {
    const packet: PublishPacket = { type: 3, topic: '\uFEFFa/b', payload: Buffer.alloc(0), qos: 0, retain: false, dup: false };
    assert.equal(encodePacket(packet, 4).toString('hex'), hexBytes('30 08 00 06 efbbbf "a/b"').toString('hex'));
  });
});

describe('isValidMqttString', () => {
  test('[MQTT-1.5.4-1] well-formed strings, including surrogate pairs, are valid', () => {
    for (const s of ['', 'abc', 'ü/€', '\uFEFF', '\u{1F600}', '\uD83D\uDE00', 'a\u{10FFFF}b', '\uFFFF', '\u0001', '\uD7FF\uE000']) {
      assert.equal(isValidMqttString(s), true, JSON.stringify(s));
    }
  });

  test('[MQTT-1.5.4-1] lone or reversed surrogates cannot be encoded as well-formed UTF-8', () => {
    for (const s of ['\uD800', '\uDC00', '\uDFFF', 'a\uD800', '\uD800a', '\uDC00\uD800', '\uD83D\uD83D', 'a\uDE00b']) {
      assert.equal(isValidMqttString(s), false, JSON.stringify(s));
    }
  });

  test('[MQTT-1.5.4-2] a string containing U+0000 is not valid', () => {
    for (const s of ['\u0000', 'a\u0000', '\u0000a', 'a\u0000b']) assert.equal(isValidMqttString(s), false, JSON.stringify(s));
  });
});
