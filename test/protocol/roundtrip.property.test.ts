/**
 * Property tests: for random valid packets of every type and version, encoding then decoding is the
 * identity, whether the bytes go to decodePacket whole or through a Framer in arbitrary chunks, alone or
 * as part of a long stream.
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  decodePacket,
  encodePacket,
  Framer,
  type Packet,
  PacketType,
  type ProtocolVersion,
  packetTypeNames,
  Reader,
} from '../../src/protocol/index.js';
import { anyPacket, mqttString, packetOfType, packetTypesFor, runs, splitAt, splitPoints, topicName, VERSIONS } from './arbitraries.js';

/** Runs per packet type and version for the plain round trip; the other properties scale from it. */
const RUNS = 1000;

const versionName: Record<ProtocolVersion, string> = { 3: 'MQTT 3.1', 4: 'MQTT 3.1.1', 5: 'MQTT 5.0' };

/** Feeds the chunks to a fresh Framer and returns every packet it yields; the framer must end idle. */
function frame(chunks: readonly Buffer[], version: ProtocolVersion): Packet[] {
  const framer = new Framer({ protocolVersion: version });
  const out: Packet[] = [];
  for (const chunk of chunks) framer.push(chunk, (p) => out.push(p));
  assert.equal(framer.needed, 0, 'framer still waits for bytes');
  assert.equal(framer.buffered, 0, 'framer still holds bytes');
  return out;
}

for (const version of VERSIONS) {
  describe(`${versionName[version]} round trip`, () => {
    for (const type of packetTypesFor(version)) {
      const name = packetTypeNames[type];
      test(`${name}: decodePacket(encodePacket(p)) deep-equals p`, () => {
        fc.assert(
          fc.property(packetOfType(type, version), (p) => {
            const bytes = encodePacket(p, version);
            assert.deepStrictEqual(decodePacket(bytes, version), p);
          }),
          { numRuns: runs(RUNS) },
        );
      });
    }

    test('[MQTT-1.5.5-1] the encoder writes the Remaining Length in the fewest bytes and it matches the packet', () => {
      fc.assert(
        fc.property(anyPacket(version), (p) => {
          const bytes = encodePacket(p, version);
          const r = new Reader(bytes, 1, bytes.length);
          const remaining = r.varint('remainingLength');
          assert.equal(remaining, bytes.length - r.pos);
          const minimal = remaining < 128 ? 1 : remaining < 16_384 ? 2 : remaining < 2_097_152 ? 3 : 4;
          assert.equal(r.pos - 1, minimal);
        }),
        { numRuns: runs(RUNS * 2) },
      );
    });

    test('one packet split into random chunks comes out of the Framer unchanged', () => {
      fc.assert(
        fc.property(anyPacket(version), splitPoints(), fc.boolean(), (p, cuts, byteByByte) => {
          const bytes = encodePacket(p, version);
          const chunks = byteByByte && bytes.length < 512 ? [...bytes].map((b) => Buffer.from([b])) : splitAt(bytes, cuts);
          assert.deepStrictEqual(frame(chunks, version), [p]);
        }),
        { numRuns: runs(RUNS * 4) },
      );
    });

    test('a stream of many packets split at random yields them all, in order', () => {
      fc.assert(
        fc.property(fc.array(anyPacket(version), { minLength: 1, maxLength: 30 }), splitPoints(40), (packets, cuts) => {
          const stream = Buffer.concat(packets.map((p) => encodePacket(p, version)));
          assert.deepStrictEqual(frame(splitAt(stream, cuts), version), packets);
        }),
        { numRuns: runs(RUNS) },
      );
    });

    test('a stream fed whole to the Framer yields every packet, decoded in place', () => {
      fc.assert(
        fc.property(fc.array(anyPacket(version), { minLength: 1, maxLength: 30 }), (packets) => {
          const stream = Buffer.concat(packets.map((p) => encodePacket(p, version)));
          assert.deepStrictEqual(frame([stream], version), packets);
        }),
        { numRuns: runs(RUNS) },
      );
    });
  });
}

describe('round trip of strings', () => {
  // A leading or embedded U+FEFF is content, not a byte order mark (5.0 [MQTT-1.5.4-3], 3.1.1 [MQTT-1.5.3-3]).
  test('[MQTT-1.5.4-3] [MQTT-1.5.3-3] U+FEFF anywhere in a string is neither skipped nor stripped', () => {
    fc.assert(
      fc.property(fc.constantFrom<ProtocolVersion>(3, 4, 5), mqttString(6), mqttString(6), topicName, (version, a, b, topic) => {
        const withBom = `\u{FEFF}${a}\u{FEFF}${b}`;
        const connect: Packet = {
          type: PacketType.Connect,
          protocolVersion: version,
          clientId: withBom,
          clean: true,
          keepAlive: 0,
          username: withBom,
          will: { topic: `\u{FEFF}${topic}`, payload: Buffer.alloc(0), qos: 0, retain: false },
          ...(version === 5 ? { properties: { userProperties: [[withBom, withBom]] } } : {}),
        };
        assert.deepStrictEqual(decodePacket(encodePacket(connect)), connect);
        const subscribe: Packet = {
          type: PacketType.Subscribe,
          packetId: 1,
          subscriptions: [{ topicFilter: `\u{FEFF}${topic}/+`, qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
        };
        assert.deepStrictEqual(decodePacket(encodePacket(subscribe, version), version), subscribe);
      }),
      { numRuns: runs(RUNS) },
    );
  });

  test('strings of every UTF-8 length class (1 to 4 bytes) round trip in Topic Names and User Properties', () => {
    for (const version of VERSIONS) {
      const topic = 'a/\u00e9/\u20ac/\u{10348}/\u{10FFFF}/\u{FFFF}';
      const p: Packet = { type: PacketType.Publish, topic, payload: Buffer.from(topic), qos: 1, retain: true, dup: true, packetId: 65535 };
      assert.deepStrictEqual(decodePacket(encodePacket(p, version), version), p);
    }
  });
});
