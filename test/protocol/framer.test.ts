import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { describe, test } from 'node:test';
import { Framer, type FramerOptions, MqttError, type Packet, type ProtocolVersion, type PublishPacket } from '../../src/protocol/index.js';
import { assertMqttError, hexBytes, invalidFixtures, validFixtures, versionLabel } from './fixtures.js';

/** Feeds the chunks to a new Framer and returns the packets it emitted. */
function frame(chunks: readonly Buffer[], options: FramerOptions): Packet[] {
  const framer = new Framer(options);
  const out: Packet[] = [];
  for (const chunk of chunks) framer.push(chunk, (p) => out.push(p));
  assert.equal(framer.needed, 0, 'needed after the last packet');
  assert.equal(framer.buffered, 0, 'buffered after the last packet');
  return out;
}

function bytewise(bytes: Buffer): Buffer[] {
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i++) chunks.push(bytes.subarray(i, i + 1));
  return chunks;
}

/** Deterministic chunk sizes from 1 to 40 (a small linear congruential generator). */
function randomChunks(bytes: Buffer, seed: number): Buffer[] {
  const chunks: Buffer[] = [];
  let state = seed;
  for (let pos = 0; pos < bytes.length; ) {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    const size = 1 + (state % 40);
    chunks.push(bytes.subarray(pos, pos + size));
    pos += size;
  }
  return chunks;
}

const VERSIONS: readonly ProtocolVersion[] = [3, 4, 5];

describe('Framer: every valid fixture', () => {
  for (const version of VERSIONS) {
    describe(versionLabel(version), () => {
      for (const f of validFixtures.filter((v) => v.version === version)) {
        const bytes = hexBytes(f.hex);
        test(`${f.name}: split in two at every byte position`, () => {
          for (let cut = 0; cut <= bytes.length; cut++) {
            const out = frame([bytes.subarray(0, cut), bytes.subarray(cut)], { protocolVersion: f.version });
            assert.deepStrictEqual(out, [f.packet], `split at ${cut}`);
          }
        });
        test(`${f.name}: one byte at a time`, () => {
          assert.deepStrictEqual(frame(bytewise(bytes), { protocolVersion: f.version }), [f.packet]);
        });
      }
    });
  }

  for (const version of VERSIONS) {
    const fixtures = validFixtures.filter((v) => v.version === version);
    const all = Buffer.concat(fixtures.map((f) => hexBytes(f.hex)));
    const packets = fixtures.map((f) => f.packet);
    test(`all ${versionLabel(version)} fixtures concatenated in one chunk`, () => {
      assert.deepStrictEqual(frame([all], { protocolVersion: version }), packets);
    });
    test(`all ${versionLabel(version)} fixtures concatenated, in chunks of random sizes`, () => {
      for (const seed of [1, 2, 3, 42, 1234]) {
        assert.deepStrictEqual(frame(randomChunks(all, seed), { protocolVersion: version }), packets, `seed ${seed}`);
      }
    });
  }
});

describe('Framer: every invalid fixture fails as decodePacket does', () => {
  for (const f of invalidFixtures.filter((v) => v.wholeBufferOnly === undefined)) {
    const bytes = hexBytes(f.hex);
    test(`${f.name} (${versionLabel(f.version)}): in one chunk`, () => {
      const framer = new Framer({ protocolVersion: f.version });
      assertMqttError(() => framer.push(bytes, () => assert.fail('no packet expected')), f.error);
    });
    test(`${f.name} (${versionLabel(f.version)}): one byte at a time`, () => {
      const framer = new Framer({ protocolVersion: f.version });
      assertMqttError(() => {
        for (const chunk of bytewise(bytes)) framer.push(chunk, () => assert.fail('no packet expected'));
      }, f.error);
    });
  }
});

describe('Framer: needed and buffered', () => {
  test('a new framer needs and holds nothing; an empty chunk changes nothing', () => {
    const framer = new Framer();
    assert.equal(framer.needed, 0);
    assert.equal(framer.buffered, 0);
    framer.push(Buffer.alloc(0), () => assert.fail('no packet expected'));
    assert.equal(framer.needed, 0);
    assert.equal(framer.buffered, 0);
  });

  test('through a packet that arrives in pieces', () => {
    const framer = new Framer({ protocolVersion: 4 });
    const out: Packet[] = [];
    const sink = (p: Packet) => out.push(p);
    const bytes = hexBytes('30 07 00 03 "a/b" "hi"');

    framer.push(bytes.subarray(0, 1), sink); // type byte only
    assert.deepStrictEqual([framer.needed, framer.buffered], [1, 1]);
    framer.push(bytes.subarray(1, 2), sink); // Remaining Length 7: the body is now expected
    assert.deepStrictEqual([framer.needed, framer.buffered], [7, 0]);
    framer.push(bytes.subarray(2, 5), sink);
    assert.deepStrictEqual([framer.needed, framer.buffered], [4, 3]);
    assert.equal(out.length, 0);
    framer.push(bytes.subarray(5), sink);
    assert.deepStrictEqual([framer.needed, framer.buffered], [0, 0]);
    assert.equal(out.length, 1);

    // A whole packet and the start of the next one in one chunk.
    framer.push(Buffer.concat([bytes, bytes.subarray(0, 3)]), sink);
    assert.equal(out.length, 2);
    assert.deepStrictEqual([framer.needed, framer.buffered], [6, 1]);
    framer.push(bytes.subarray(3), sink);
    assert.equal(out.length, 3);
    assert.deepStrictEqual([framer.needed, framer.buffered], [0, 0]);
  });

  test('a multi-byte Remaining Length split between chunks', () => {
    const framer = new Framer({ protocolVersion: 4 });
    const out: Packet[] = [];
    const bytes = hexBytes('30 cb 01 00 01 "t" 61*200');
    framer.push(bytes.subarray(0, 2), (p) => out.push(p)); // 30 cb: the length continues
    assert.deepStrictEqual([framer.needed, framer.buffered], [1, 2]);
    framer.push(bytes.subarray(2, 3), (p) => out.push(p)); // 01: Remaining Length 203
    assert.deepStrictEqual([framer.needed, framer.buffered], [203, 0]);
    framer.push(bytes.subarray(3, 103), (p) => out.push(p));
    assert.deepStrictEqual([framer.needed, framer.buffered], [103, 100]);
    framer.push(bytes.subarray(103), (p) => out.push(p));
    assert.equal(out.length, 1);
    assert.equal((out[0] as PublishPacket).payload.length, 200);
  });

  test('a packet wholly inside a chunk is not copied: its payload is a view of the chunk', () => {
    const framer = new Framer({ protocolVersion: 4 });
    const chunk = hexBytes('30 07 00 03 "a/b" "hi"');
    let packet: Packet | undefined;
    framer.push(chunk, (p) => {
      packet = p;
    });
    assert.equal((packet as PublishPacket).payload.buffer, chunk.buffer);
  });
});

describe('Framer: Maximum Packet Size', () => {
  const MiB = 1024 * 1024;
  const TOO_LARGE = { code: 'MQTT_PACKET_TOO_LARGE', reasonCode: 0x95 } as const;

  test('the fixed header of a 100 MB packet fails at once with maximumPacketSize 1 MiB, before any body arrives', () => {
    // Remaining Length 104857600 = 50 * 128^3: 80 80 80 32.
    const header = hexBytes('30 80 80 80 32');
    const framer = new Framer({ maximumPacketSize: MiB });
    const before = process.memoryUsage().arrayBuffers;
    assertMqttError(() => framer.push(header, () => assert.fail('no packet expected')), TOO_LARGE);
    assert.equal(framer.buffered, 0);
    assert.ok(process.memoryUsage().arrayBuffers - before < 10 * MiB, 'no body buffer was allocated');
  });

  test('the same header fails when it arrives one byte at a time, on its last byte', () => {
    const header = hexBytes('30 80 80 80 32');
    const framer = new Framer({ maximumPacketSize: MiB });
    for (const chunk of bytewise(header.subarray(0, 4))) framer.push(chunk, () => assert.fail('no packet expected'));
    assert.equal(framer.buffered, 4);
    assertMqttError(() => framer.push(header.subarray(4), () => assert.fail('no packet expected')), TOO_LARGE);
  });

  test('the packet size counts the fixed header: exactly the maximum passes, one byte more fails', () => {
    const nine = hexBytes('30 07 00 03 "a/b" "hi"'); // 2 + 7 bytes
    assert.equal(frame([nine], { protocolVersion: 4, maximumPacketSize: 9 }).length, 1);
    const ten = hexBytes('30 08 00 03 "a/b" "hi!"');
    const framer = new Framer({ protocolVersion: 4, maximumPacketSize: 9 });
    assertMqttError(() => framer.push(ten.subarray(0, 2), () => assert.fail('no packet expected')), TOO_LARGE);
  });

  test('the limit can be changed between packets', () => {
    const framer = new Framer({ protocolVersion: 4 });
    const packet = hexBytes('30 07 00 03 "a/b" "hi"');
    framer.push(packet, () => undefined);
    framer.maximumPacketSize = 8;
    assertMqttError(() => framer.push(packet, () => assert.fail('no packet expected')), TOO_LARGE);
  });
});

describe('Framer: failures', () => {
  test('a first byte 0x00 (reserved packet type) fails at once, on its own', () => {
    const framer = new Framer();
    assertMqttError(() => framer.push(Buffer.from([0x00]), () => assert.fail('no packet expected')), {
      code: 'MQTT_PACKET_TYPE_INVALID',
      reasonCode: 0x81,
    });
  });

  test('garbage after a good packet fails once the good packet has been delivered', () => {
    const framer = new Framer({ protocolVersion: 4 });
    const out: Packet[] = [];
    assertMqttError(() => framer.push(hexBytes('c0 00 00 00'), (p) => out.push(p)), { code: 'MQTT_PACKET_TYPE_INVALID' });
    assert.deepStrictEqual(out, [{ type: 12 }]);
  });

  test('after a throw the framer stays failed and throws the same error', () => {
    const framer = new Framer();
    let first: unknown;
    try {
      framer.push(Buffer.from([0x00, 0x00]), () => assert.fail('no packet expected'));
    } catch (err) {
      first = err;
    }
    assert.ok(first instanceof MqttError);
    for (const chunk of [hexBytes('c0 00'), Buffer.alloc(0)]) {
      assert.throws(
        () => framer.push(chunk, () => assert.fail('a failed framer emits nothing')),
        (err: unknown) => err === first,
      );
    }
  });

  test('a failure in a packet split across chunks also leaves the framer failed', () => {
    const framer = new Framer({ protocolVersion: 4 });
    const bad = hexBytes('30 05 00 03 "a/+"'); // wildcard in the Topic Name
    framer.push(bad.subarray(0, 4), () => assert.fail('no packet expected'));
    assertMqttError(() => framer.push(bad.subarray(4), () => assert.fail('no packet expected')), { code: 'MQTT_TOPIC_NAME_INVALID' });
    assertMqttError(() => framer.push(hexBytes('c0 00'), () => assert.fail('no packet expected')), { code: 'MQTT_TOPIC_NAME_INVALID' });
  });
});

describe('Framer: protocol version', () => {
  const find = (version: ProtocolVersion, type: number, pick: (p: Packet) => boolean = () => true) => {
    const f = validFixtures.find((v) => v.version === version && v.packet.type === type && pick(v.packet));
    assert.ok(f !== undefined);
    return f;
  };
  const withProperties = (p: Packet) => 'properties' in p && p.properties !== undefined;

  test('a 5.0 CONNECT switches a framer created for 3.1.1, within the same chunk', () => {
    const connect = find(5, 1, withProperties);
    const publish = find(5, 3, withProperties);
    const framer = new Framer({ protocolVersion: 4 });
    const out: Packet[] = [];
    framer.push(Buffer.concat([hexBytes(connect.hex), hexBytes(publish.hex)]), (p) => out.push(p));
    assert.deepStrictEqual(out, [connect.packet, publish.packet]);
    assert.equal(framer.protocolVersion, 5);
  });

  test('the switch also happens when the CONNECT arrives in pieces', () => {
    const connect = find(5, 1, withProperties);
    const publish = find(5, 3, withProperties);
    const all = Buffer.concat([hexBytes(connect.hex), hexBytes(publish.hex)]);
    for (let cut = 0; cut <= all.length; cut++) {
      const out = frame([all.subarray(0, cut), all.subarray(cut)], { protocolVersion: 4 });
      assert.deepStrictEqual(out, [connect.packet, publish.packet], `split at ${cut}`);
    }
  });

  test('a 3.1 CONNECT switches a framer that defaults to 5.0', () => {
    const connect = find(3, 1);
    const publish = find(3, 3);
    const framer = new Framer();
    assert.equal(framer.protocolVersion, 5);
    const out: Packet[] = [];
    framer.push(Buffer.concat([hexBytes(connect.hex), hexBytes(publish.hex)]), (p) => out.push(p));
    assert.deepStrictEqual(out, [connect.packet, publish.packet]);
    assert.equal(framer.protocolVersion, 3);
  });

  test('after a 3.1.1 CONNECT, AUTH (packet type 15) is refused', () => {
    const connect = find(4, 1);
    const framer = new Framer();
    const out: Packet[] = [];
    assertMqttError(() => framer.push(Buffer.concat([hexBytes(connect.hex), hexBytes('f0 00')]), (p) => out.push(p)), {
      code: 'MQTT_PACKET_TYPE_INVALID',
    });
    assert.deepStrictEqual(out, [connect.packet]);
  });
});
