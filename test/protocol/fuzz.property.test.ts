/**
 * Fuzz properties: whatever bytes arrive, the codec either yields packets or throws MqttError (never a
 * TypeError, RangeError or the like), does bounded work, and never buffers more than the maximum packet
 * size. Whatever it accepts, it can re-encode, and re-decoding gives the same packet.
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  decodePacket,
  encodePacket,
  Framer,
  MqttError,
  type Packet,
  PacketType,
  type ProtocolVersion,
  Reader,
} from '../../src/protocol/index.js';
import { anyPacket, fraction, runs, splitAt, splitPoints, VERSIONS } from './arbitraries.js';

const MAX_PACKET = 64 * 1024;
/** Generous: every property here runs in well under a second; a hang fails the test instead of stalling the run. */
const TIMEOUT = { timeout: 60_000 };

function assertMqttError(err: unknown): asserts err is MqttError {
  if (!(err instanceof MqttError)) {
    assert.fail(`expected an MqttError, got ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  }
  // Every codec error names a failure reason code (0x80 and above) for the DISCONNECT or CONNACK.
  assert.ok(err.reasonCode >= 0x80 && err.reasonCode <= 0xff, `reason code 0x${err.reasonCode.toString(16)} is not a failure`);
  assert.match(err.code, /^MQTT_[A-Z0-9_]+$/);
}

/**
 * A packet the decoder accepted must encode again (with the version it was read in; CONNECT carries its
 * own) and decode to a deep-equal packet.
 */
function assertReencodes(packet: Packet, version: ProtocolVersion): void {
  let bytes: Buffer;
  try {
    bytes = encodePacket(packet, version);
  } catch (err) {
    assert.fail(`decoded packet does not re-encode: ${String(err)}\n${inspectPacket(packet)}`);
  }
  assert.deepStrictEqual(decodePacket(bytes, version), packet);
}

function inspectPacket(p: Packet): string {
  return JSON.stringify(p, (_k, v: unknown) =>
    typeof v === 'object' && v !== null && 'type' in v && v.type === 'Buffer' ? '<buffer>' : v,
  );
}

/** decodePacket, returning undefined for an MqttError and failing on anything else. */
function tryDecode(buf: Buffer, version: ProtocolVersion): Packet | undefined {
  let packet: Packet;
  try {
    packet = decodePacket(buf, version);
  } catch (err) {
    assertMqttError(err);
    return undefined;
  }
  assertReencodes(packet, version);
  return packet;
}

interface FramerRun {
  readonly packets: number;
  readonly error: MqttError | undefined;
}

/**
 * Pushes the chunks through a Framer with a 64 KiB limit. Every push either succeeds or throws MqttError;
 * after an error the framer keeps refusing. It never holds more than the limit, and every packet it yields
 * re-encodes.
 */
function runFramer(chunks: readonly Buffer[], version: ProtocolVersion): FramerRun {
  const framer = new Framer({ maximumPacketSize: MAX_PACKET, protocolVersion: version });
  let packets = 0;
  const sink = (p: Packet) => {
    packets++;
    // CONNECT switches the framer to its own version before the sink sees it.
    assertReencodes(p, framer.protocolVersion);
  };
  for (const chunk of chunks) {
    try {
      framer.push(chunk, sink);
    } catch (err) {
      assertMqttError(err);
      // A failed framer stays failed: the connection is going to be closed.
      assert.throws(
        () => framer.push(Buffer.from([0xc0, 0x00]), sink),
        (again: unknown) => again === err,
      );
      return { packets, error: err };
    }
    assert.ok(framer.buffered <= MAX_PACKET, `framer buffers ${framer.buffered} bytes`);
    assert.ok(framer.needed <= MAX_PACKET, `framer waits for ${framer.needed} bytes`);
  }
  return { packets, error: undefined };
}

// ---------------------------------------------------------------------------------------------------------
// Inputs

/** A Remaining Length for `n`, minimally encoded. */
function varint(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}

/** Fixed header (first byte + Remaining Length) and body: the framing is right, the content random. */
function framed(first: number, body: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([first, ...varint(body.length)]), body]);
}

/** A first byte: usually a known type with the flags it requires (or PUBLISH with any flags), sometimes anything. */
const firstByte = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(0x10, 0x20, 0x40, 0x50, 0x62, 0x70, 0x82, 0x90, 0xa2, 0xb0, 0xc0, 0xd0, 0xe0, 0xf0) },
  { weight: 2, arbitrary: fc.integer({ min: 0x30, max: 0x3f }) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) },
);

type Mutation =
  | { readonly kind: 'flip'; readonly at: number; readonly bit: number }
  | { readonly kind: 'set'; readonly at: number; readonly value: number }
  | { readonly kind: 'insert'; readonly at: number; readonly value: number }
  | { readonly kind: 'delete'; readonly at: number }
  | { readonly kind: 'truncate'; readonly at: number };

const position = fraction;
const byteValue = fc.oneof(
  fc.constantFrom(0x00, 0x01, 0x02, 0x7f, 0x80, 0xff, 0x23, 0x2b, 0x2f, 0xc0, 0xed),
  fc.integer({ min: 0, max: 255 }),
);
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('flip'), at: position, bit: fc.integer({ min: 0, max: 7 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('set'), at: position, value: byteValue }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('insert'), at: position, value: byteValue }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete'), at: position }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate'), at: position }) },
);

function mutate(bytes: Uint8Array, mutations: readonly Mutation[]): Buffer {
  const b = [...bytes];
  for (const m of mutations) {
    const at = Math.floor(m.at * (b.length + (m.kind === 'insert' ? 1 : 0)));
    switch (m.kind) {
      case 'flip':
        if (at < b.length) b[at] = (b[at] as number) ^ (1 << m.bit);
        break;
      case 'set':
        if (at < b.length) b[at] = m.value;
        break;
      case 'insert':
        b.splice(at, 0, m.value);
        break;
      case 'delete':
        b.splice(at, 1);
        break;
      case 'truncate':
        b.length = at;
        break;
    }
  }
  return Buffer.from(b);
}

/** Offset of the body of a well-formed encoding (after the first byte and the Remaining Length). */
function bodyOffset(bytes: Buffer): number {
  let i = 1;
  while (((bytes[i] as number) & 0x80) !== 0) i++;
  return i + 1;
}

/**
 * A valid encoding with mutations. With `refit`, the mutations hit only the variable header and payload,
 * and the Remaining Length is rewritten to match, so the damage reaches the packet decoders instead of
 * failing at the framing.
 */
function mutatedEncoding(version: ProtocolVersion): fc.Arbitrary<Buffer> {
  return fc
    .record({
      packet: anyPacket(version),
      mutations: fc.array(mutation, { minLength: 1, maxLength: 4 }),
      refit: fc.boolean(),
      flags: fc.option(fc.integer({ min: 1, max: 15 }), { nil: undefined, freq: 4 }),
    })
    .map(({ packet, mutations, refit, flags }) => {
      const bytes = encodePacket(packet, version);
      if (!refit) return mutate(bytes, mutations);
      const first = (bytes[0] as number) ^ (flags ?? 0);
      return framed(first, mutate(bytes.subarray(bodyOffset(bytes)), mutations));
    });
}

// ---------------------------------------------------------------------------------------------------------

for (const version of VERSIONS) {
  describe(`MQTT ${version === 3 ? '3.1' : version === 4 ? '3.1.1' : '5.0'} fuzz`, () => {
    test('decodePacket of random bytes yields a packet or throws MqttError', TIMEOUT, () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
          tryDecode(Buffer.from(bytes), version);
        }),
        { numRuns: runs(3000) },
      );
    });

    test('decodePacket of a well-framed random body yields a packet or throws MqttError', TIMEOUT, () => {
      let decoded = 0;
      fc.assert(
        fc.property(firstByte, fc.uint8Array({ maxLength: 120 }), (first, body) => {
          if (tryDecode(framed(first, body), version) !== undefined) decoded++;
        }),
        { numRuns: runs(5000) },
      );
      assert.ok(decoded > 0, 'no random body decoded: the property did not reach the re-encode check');
    });

    test('decodePacket of a mutated valid encoding yields a packet or throws MqttError; accepted packets re-encode', TIMEOUT, () => {
      let decoded = 0;
      fc.assert(
        fc.property(mutatedEncoding(version), (bytes) => {
          if (tryDecode(bytes, version) !== undefined) decoded++;
        }),
        { numRuns: runs(5000) },
      );
      assert.ok(decoded > 0, 'no mutated encoding decoded: the property did not reach the re-encode check');
    });

    test('a Framer fed random bytes in random chunks yields packets or throws MqttError, within its size limit', TIMEOUT, () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 2000 }), splitPoints(20), (bytes, cuts) => {
          runFramer(splitAt(Buffer.from(bytes), cuts), version);
        }),
        { numRuns: runs(1000) },
      );
    });

    test('a Framer fed a mutated stream of valid packets yields packets or throws MqttError, within its size limit', TIMEOUT, () => {
      let packets = 0;
      let errors = 0;
      fc.assert(
        fc.property(
          fc.array(anyPacket(version), { minLength: 1, maxLength: 12 }),
          fc.array(mutation, { maxLength: 3 }),
          splitPoints(20),
          (list, mutations, cuts) => {
            const stream = mutate(Buffer.concat(list.map((p) => encodePacket(p, version))), mutations);
            const run = runFramer(splitAt(stream, cuts), version);
            packets += run.packets;
            if (run.error !== undefined) errors++;
          },
        ),
        { numRuns: runs(800) },
      );
      assert.ok(packets > 0 && errors > 0, `expected both packets and errors, got ${packets} packets and ${errors} errors`);
    });

    test('a Framer refuses a packet over its maximum size (Packet too large) before buffering its body', TIMEOUT, () => {
      fc.assert(
        fc.property(
          fc.constantFrom(0x30, 0x10, 0x82),
          fc.integer({ min: MAX_PACKET - 1, max: 268_435_455 }),
          fc.uint8Array({ maxLength: 64 }),
          fc.boolean(),
          (first, remaining, body, byteByByte) => {
            const header = Buffer.from([first, ...varint(remaining)]);
            const stream = Buffer.concat([header, body]);
            const chunks = byteByByte ? [...stream].map((b) => Buffer.from([b])) : [stream];
            const total = header.length + remaining;
            const run = runFramer(chunks, version);
            if (total > MAX_PACKET) {
              assert.ok(run.error !== undefined, `a ${total}-byte packet was not refused`);
              assert.equal(run.error.code, 'MQTT_PACKET_TOO_LARGE');
            } else {
              // Exactly at the limit: allowed, and still waiting for the body.
              assert.equal(run.error, undefined);
            }
          },
        ),
        { numRuns: runs(500) },
      );
    });

    test('a Framer holding a partial packet never buffers more than the packet', TIMEOUT, () => {
      fc.assert(
        fc.property(fc.integer({ min: 2, max: MAX_PACKET - 5 }), fraction, (remaining, part) => {
          const header = Buffer.from([0x30, ...varint(remaining)]);
          const framer = new Framer({ maximumPacketSize: MAX_PACKET, protocolVersion: version });
          const sent = Math.floor(part * remaining);
          framer.push(header, () => assert.fail('no packet is complete'));
          framer.push(Buffer.alloc(sent, 0x61), () => assert.fail('no packet is complete'));
          // The body buffer is sized by the Remaining Length, which was checked against the limit first.
          assert.equal(framer.buffered, sent);
          assert.equal(framer.needed, remaining - sent);
        }),
        { numRuns: runs(200) },
      );
    });
  });
}

describe('bounded work', () => {
  function elapsedMs(started: bigint): number {
    return Number(process.hrtime.bigint() - started) / 1e6;
  }

  test('a MiB of random bytes, one byte per push, with a fresh Framer after every error, is consumed without stalling', TIMEOUT, () => {
    const bytes =
      fc.sample(fc.uint8Array({ minLength: 1 << 20, maxLength: 1 << 20 }), { numRuns: 1, seed: 42 })[0] ?? assert.fail('no sample');
    for (const version of VERSIONS) {
      const started = process.hrtime.bigint();
      let framers = 0;
      let pos = 0;
      while (pos < bytes.length) {
        framers++;
        const framer = new Framer({ maximumPacketSize: MAX_PACKET, protocolVersion: version });
        for (; pos < bytes.length; pos++) {
          try {
            framer.push(Buffer.from([bytes[pos] as number]), (p) => assertReencodes(p, framer.protocolVersion));
          } catch (err) {
            assertMqttError(err);
            pos++;
            break;
          }
          assert.ok(framer.buffered <= MAX_PACKET);
        }
      }
      const ms = elapsedMs(started);
      assert.ok(framers > 1000, `only ${framers} framers: random bytes should fail often`);
      assert.ok(ms < 20_000, `took ${ms} ms`);
    }
  });

  test('a MiB of PINGREQs in a thousand uneven chunks is framed packet by packet', TIMEOUT, () => {
    const stream = Buffer.alloc(1 << 20);
    for (let i = 0; i < stream.length; i += 2) stream[i] = 0xc0;
    const cuts = Array.from({ length: 1000 }, (_, i) => ((i * 7919) % 1000) / 1000);
    for (const version of VERSIONS) {
      const run = runFramer(splitAt(stream, cuts), version);
      assert.equal(run.error, undefined);
      assert.equal(run.packets, stream.length / 2);
    }
  });

  test('packets of 64 KiB packed with the smallest repeated items decode and re-encode without blowing up', TIMEOUT, () => {
    const n = 12_000;
    const cases: [Packet, ProtocolVersion][] = [
      // ~13,000 empty User Properties: 5 bytes each.
      [
        {
          type: PacketType.Publish,
          topic: 't',
          payload: Buffer.alloc(0),
          qos: 0,
          retain: false,
          dup: false,
          properties: { userProperties: Array.from({ length: n }, (): [string, string] => ['', '']) },
        },
        5,
      ],
      // Subscription Identifiers repeat in PUBLISH: 2 bytes each.
      [
        {
          type: PacketType.Publish,
          topic: 't',
          payload: Buffer.alloc(0),
          qos: 1,
          retain: false,
          dup: false,
          packetId: 1,
          properties: { subscriptionIdentifiers: Array.from({ length: n * 2 }, (_, i) => (i % 127) + 1) },
        },
        5,
      ],
      // One-character Topic Filters: 4 bytes each.
      [
        {
          type: PacketType.Subscribe,
          packetId: 1,
          subscriptions: Array.from({ length: n }, () => ({
            topicFilter: '#',
            qos: 0,
            noLocal: false,
            retainAsPublished: false,
            retainHandling: 0,
          })),
        },
        4,
      ],
      [{ type: PacketType.Unsubscribe, packetId: 1, topicFilters: Array.from({ length: n }, () => '+') }, 4],
      [{ type: PacketType.Suback, packetId: 1, reasonCodes: Array.from({ length: n * 4 }, (_, i) => [0, 1, 2, 0x80][i % 4] ?? 0) }, 4],
    ];
    for (const [packet, version] of cases) {
      const bytes = encodePacket(packet, version);
      assert.ok(bytes.length <= MAX_PACKET, `${bytes.length} bytes`);
      const started = process.hrtime.bigint();
      const run = runFramer(splitAt(bytes, [0.25, 0.5, 0.75]), version);
      assert.equal(run.error, undefined);
      assert.equal(run.packets, 1);
      assert.deepStrictEqual(decodePacket(bytes, version), packet);
      const ms = elapsedMs(started);
      assert.ok(ms < 2_000, `took ${ms} ms`);
    }
  });
});

describe('primitives against reference implementations', () => {
  // The Variable Byte Integer is at most four bytes, minimally encoded. [MQTT-1.5.5-1]
  test('[MQTT-1.5.5-1] Reader.varint accepts exactly the minimal encodings of at most four bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 6 }), (bytes) => {
        // Reference: collect bytes while the continuation bit is set.
        let end = 0;
        while (end < bytes.length && ((bytes[end] as number) & 0x80) !== 0) end++;
        const complete = end < bytes.length;
        const length = end + 1;
        let value = 0;
        for (let i = 0; i < Math.min(length, bytes.length); i++) value += ((bytes[i] as number) & 0x7f) * 128 ** i;
        const minimal = length === 1 || bytes[length - 1] !== 0;
        const valid = complete && length <= 4 && minimal;
        const r = new Reader(Buffer.from(bytes));
        if (valid) {
          assert.equal(r.varint('v'), value);
          assert.equal(r.pos, length);
        } else {
          assert.throws(
            () => r.varint('v'),
            (err: unknown) => {
              assertMqttError(err);
              return true;
            },
          );
        }
      }),
      { numRuns: runs(5000) },
    );
  });

  // UTF-8 Encoded Strings MUST be well-formed (no surrogates, no overlongs) and MUST NOT contain U+0000
  // (5.0: [MQTT-1.5.4-1] [MQTT-1.5.4-2]; 3.1.1: [MQTT-1.5.3-1] [MQTT-1.5.3-2]); a Topic Name has no
  // wildcards [MQTT-3.3.2-2] and at least one character [MQTT-4.7.3-1].
  test('[MQTT-1.5.4-1] [MQTT-1.5.4-2] [MQTT-1.5.3-1] [MQTT-1.5.3-2] [MQTT-3.3.2-2] [MQTT-4.7.3-1] a PUBLISH Topic Name is accepted exactly when it is non-empty, wildcard-free, well-formed UTF-8 without U+0000', () => {
    const fatal = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
    const utf8ish = fc.oneof(
      fc.uint8Array({ maxLength: 12 }),
      fc
        .array(
          fc.constantFrom(0x61, 0x00, 0xc0, 0xc3, 0xa9, 0xed, 0xa0, 0x80, 0xf0, 0x9f, 0x98, 0x80, 0xf4, 0x90, 0xef, 0xbb, 0xbf, 0xe0),
          {
            maxLength: 12,
          },
        )
        .map((a) => Uint8Array.from(a)),
    );
    for (const version of VERSIONS) {
      fc.assert(
        fc.property(utf8ish, (topic) => {
          const body = Buffer.concat([
            Buffer.from([topic.length >> 8, topic.length & 0xff]),
            topic,
            version === 5 ? Buffer.from([0]) : Buffer.alloc(0),
          ]);
          let text: string | undefined;
          try {
            text = fatal.decode(topic);
          } catch {
            text = undefined;
          }
          const wildcard = topic.includes(0x23) || topic.includes(0x2b);
          const valid = text !== undefined && !text.includes('\u0000') && text.length > 0 && !wildcard;
          const packet = tryDecode(framed(0x30, body), version);
          if (valid) {
            assert.deepStrictEqual(packet, {
              type: PacketType.Publish,
              topic: text,
              payload: Buffer.alloc(0),
              qos: 0,
              retain: false,
              dup: false,
            });
          } else {
            assert.equal(packet, undefined);
          }
        }),
        { numRuns: runs(2000) },
      );
    }
  });

  // '#' only as the whole last level (5.0 [MQTT-4.7.1-1], 3.1.1 [MQTT-4.7.1-2]); '+' only as a whole level
  // (5.0 [MQTT-4.7.1-2], 3.1.1 [MQTT-4.7.1-3]); a Shared
  // Subscription has a non-empty ShareName [MQTT-4.8.2-1] without '/', '+' or '#', followed by '/' and a
  // Topic Filter [MQTT-4.8.2-2]. The decoder also treats a bare "$share" as a malformed Shared Subscription.
  test('[MQTT-4.7.1-1/5.0] [MQTT-4.7.1-2/5.0] [MQTT-4.7.1-2/3.1.1] [MQTT-4.7.1-3/3.1.1] [MQTT-4.8.2-1] [MQTT-4.8.2-2] SUBSCRIBE accepts a Topic Filter exactly when the wildcard and ShareName rules hold', () => {
    const reference = (filter: string): boolean => {
      if (filter.length === 0 || filter === '$share') return false;
      let rest = filter;
      if (filter.startsWith('$share/')) {
        const tail = filter.slice('$share/'.length);
        const slash = tail.indexOf('/');
        if (slash <= 0) return false;
        if (/[+#]/.test(tail.slice(0, slash))) return false;
        rest = tail.slice(slash + 1);
        if (rest.length === 0) return false;
      }
      const levels = rest.split('/');
      return levels.every((level, i) =>
        level.includes('#') ? level === '#' && i === levels.length - 1 : level === '+' || !level.includes('+'),
      );
    };
    const filter = fc.string({ unit: fc.constantFrom('a', 'b', '/', '+', '#', '$', '$share', '$share/', 'x+', '#/', '+/'), maxLength: 8 });
    for (const version of VERSIONS) {
      fc.assert(
        fc.property(filter, (f) => {
          const bytes = Buffer.from(f, 'utf8');
          const body = Buffer.concat([
            Buffer.from([0x00, 0x01]),
            version === 5 ? Buffer.from([0x00]) : Buffer.alloc(0),
            Buffer.from([bytes.length >> 8, bytes.length & 0xff]),
            bytes,
            Buffer.from([0x01]),
          ]);
          const packet = tryDecode(framed(0x82, body), version);
          if (reference(f)) {
            assert.deepStrictEqual(packet, {
              type: PacketType.Subscribe,
              packetId: 1,
              subscriptions: [{ topicFilter: f, qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
            });
          } else {
            assert.equal(packet, undefined, `accepted the invalid filter ${JSON.stringify(f)}`);
          }
        }),
        { numRuns: runs(2000) },
      );
    }
  });
});
