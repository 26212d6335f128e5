import type { Buffer } from 'node:buffer';
import { generate, type Packet as TheirPacket } from 'mqtt-packet';
import { PacketType } from '../../src/protocol/constants.js';
import { decodePacket } from '../../src/protocol/decode.js';
import { encodePacket } from '../../src/protocol/encode.js';
import { Framer } from '../../src/protocol/framer.js';
import type { Packet } from '../../src/protocol/packet.js';
import type { BenchCase } from './cases.js';
import { streamOf, theirOptions, theirParser } from './workloads.js';

export interface CaseCheck {
  /** Our encoding, fed to both decoders. */
  readonly bytes: Buffer;
  /** Our encoding and mqtt-packet's are byte for byte the same. */
  readonly identical: boolean;
}

/**
 * Makes sure both sides do the same work before anything is timed: each encodes the case, each decodes
 * the other's bytes to the same content, and each frames a stream of the packet into the right count.
 * Throws on any mismatch.
 */
export function checkCase(c: BenchCase): CaseCheck {
  const ours = encodePacket(c.ours, c.version);
  const theirs = generate(c.theirs, theirOptions(c));
  if (ours.length !== theirs.length) {
    throw new Error(`${c.name}: our encoding has ${ours.length} bytes, mqtt-packet's ${theirs.length}`);
  }
  sameContent(c, decodePacket(theirs, c.version), parseOne(c, ours));

  const { chunk, count } = streamOf(ours, 4096, 4);
  let framed = 0;
  new Framer({ protocolVersion: c.version }).push(chunk, () => {
    framed++;
  });
  let parsed = 0;
  theirParser(c.version, () => {
    parsed++;
  }).parse(chunk);
  if (framed !== count || parsed !== count) {
    throw new Error(`${c.name}: a stream of ${count} packets gave ${framed} (ours) and ${parsed} (mqtt-packet)`);
  }
  return { bytes: ours, identical: ours.equals(theirs) };
}

function parseOne(c: BenchCase, bytes: Buffer): TheirPacket {
  const found: TheirPacket[] = [];
  theirParser(c.version, (p) => found.push(p)).parse(bytes);
  const p = found[0];
  if (found.length !== 1 || p === undefined) throw new Error(`${c.name}: mqtt-packet parsed ${found.length} packets`);
  return p;
}

/** The fields that matter agree between our decoded packet and mqtt-packet's. */
function sameContent(c: BenchCase, ours: Packet, theirs: TheirPacket): void {
  const fail = (what: string): never => {
    throw new Error(`${c.name}: decoders disagree on ${what}`);
  };
  if (ours.type === PacketType.Publish && theirs.cmd === 'publish') {
    if (ours.topic !== theirs.topic) fail('topic');
    if (!ours.payload.equals(theirs.payload as Buffer)) fail('payload');
    if (ours.qos !== theirs.qos || (ours.packetId ?? 0) !== (theirs.messageId ?? 0)) fail('qos / packet id');
    if ((ours.properties?.userProperties?.length ?? 0) !== Object.keys(theirs.properties?.userProperties ?? {}).length) {
      fail('user properties');
    }
  } else if (ours.type === PacketType.Subscribe && theirs.cmd === 'subscribe') {
    if (ours.subscriptions.length !== theirs.subscriptions.length) fail('subscription count');
    ours.subscriptions.forEach((s, i) => {
      const t = theirs.subscriptions[i];
      if (t === undefined || t.topic !== s.topicFilter || t.qos !== s.qos) fail(`subscription ${i}`);
    });
  } else if (ours.type === PacketType.Connect && theirs.cmd === 'connect') {
    if (ours.clientId !== theirs.clientId || ours.username !== theirs.username) fail('client id / user name');
    if (ours.will?.topic !== theirs.will?.topic) fail('will topic');
  } else {
    fail('packet type');
  }
}
