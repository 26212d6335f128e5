/**
 * ClientState, the client's protocol with no I/O: inputs are method calls, outputs are recorded. No
 * sockets and no timers, so every case is exact about which packets go out, in which order, with which
 * identifiers and flags.
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { test } from 'node:test';
import { ClientError } from '../../src/client/errors.js';
import type { OutgoingMessage, PublishResult, SubscribeResult, UnsubscribeResult } from '../../src/client/state.js';
import {
  isMqttError,
  type Packet,
  PacketType,
  type ProtocolVersion,
  type PublishPacket,
  type PublishProperties,
  type QoS,
  ReasonCode,
  type Subscription,
} from '../../src/protocol/index.js';
import { connack, makeState } from './helpers/recorder.js';

function msg(topic: string, payload: string, qos: QoS = 1, extra: Partial<OutgoingMessage> = {}): OutgoingMessage {
  return { topic, payload: Buffer.from(payload), qos, retain: false, ...extra };
}

function sub(topicFilter: string, qos: QoS = 1): Subscription {
  return { topicFilter, qos, noLocal: false, retainAsPublished: false, retainHandling: 0 };
}

function inbound(packetId: number | undefined, qos: QoS, topic = 'in/t', payload = 'x', properties?: PublishProperties): PublishPacket {
  return {
    type: PacketType.Publish,
    topic,
    payload: Buffer.from(payload),
    qos,
    retain: false,
    dup: false,
    ...(packetId === undefined ? {} : { packetId }),
    ...(properties === undefined ? {} : { properties }),
  };
}

const ack = (type: typeof PacketType.Puback | typeof PacketType.Pubrec | typeof PacketType.Pubcomp, packetId: number, reasonCode = 0) =>
  ({ type, packetId, reasonCode }) as Packet;

function publishes(packets: readonly Packet[]): PublishPacket[] {
  return packets.flatMap((p) => (p.type === PacketType.Publish ? [p] : []));
}

function idOf(p: Packet): number {
  assert.ok('packetId' in p && typeof p.packetId === 'number', `packet type ${p.type} has a Packet Identifier`);
  return p.packetId;
}

// ---- packet identifiers ---------------------------------------------------------------------------

function distinctIds(version: ProtocolVersion): void {
  const { state, out } = makeState(version);
  state.connectionAccepted(connack());
  state.publish(msg('a', '1', 1), 1);
  state.subscribe([sub('s/#')], undefined, 2);
  state.publish(msg('a', '2', 2), 3);
  state.unsubscribe(['u/#'], undefined, 4);
  state.publish(msg('a', '3', 0), 5);
  state.publish(msg('a', '4', 1), 6);
  const packets = out.take();
  assert.equal(packets.length, 6);
  const ids = packets.filter((p) => !(p.type === PacketType.Publish && p.qos === 0)).map(idOf);
  assert.equal(ids.length, 5);
  assert.ok(
    ids.every((id) => id > 0 && id <= 65_535),
    `ids ${ids.join(',')}`,
  );
  assert.equal(new Set(ids).size, ids.length, `ids ${ids.join(',')} are distinct`);
  const qos0 = publishes(packets).find((p) => p.qos === 0);
  assert.equal(qos0?.packetId, undefined, 'QoS 0 PUBLISH has no Packet Identifier');
}

test('[MQTT-2.2.1-3/5.0] v5: PUBLISH, SUBSCRIBE and UNSUBSCRIBE in flight get distinct non-zero Packet Identifiers', () => distinctIds(5));
test('[MQTT-2.3.1-2/3.1.1] v4: PUBLISH, SUBSCRIBE and UNSUBSCRIBE in flight get distinct non-zero Packet Identifiers', () =>
  distinctIds(4));

test('[MQTT-2.2.1-3/5.0] [MQTT-2.3.1-2/3.1.1] identifiers wrap around 65535 and skip one still in flight', () => {
  const { state, out } = makeState(5);
  state.connectionAccepted(connack());
  state.publish(msg('held', 'never acked', 1), 1);
  const held = idOf(out.take()[0] as Packet);
  assert.equal(held, 1);
  // Cycle through every other identifier with SUBSCRIBE/SUBACK, twice around.
  let token = 2;
  for (let i = 0; i < 70_000; i++) {
    state.subscribe([sub('w')], undefined, token);
    const [p] = out.take();
    const id = idOf(p as Packet);
    assert.notEqual(id, held, `identifier ${id} is in use by the unacknowledged PUBLISH (round ${i})`);
    state.handle({ type: PacketType.Suback, packetId: id, reasonCodes: [1] });
    assert.ok(out.settled(token));
    token++;
  }
  // The PUBLISH is still completed by its own PUBACK.
  state.handle(ack(PacketType.Puback, held));
  assert.deepEqual(out.result(1), { reasonCode: 0 });
});

test('[MQTT-2.2.1-3/5.0] a SUBACK frees its identifier only for the SUBSCRIBE it answers', () => {
  const { state, out } = makeState(5);
  state.connectionAccepted(connack());
  state.subscribe([sub('a')], undefined, 1);
  state.subscribe([sub('b')], undefined, 2);
  const [s1, s2] = out.take();
  state.handle({ type: PacketType.Suback, packetId: idOf(s2 as Packet), reasonCodes: [1] });
  assert.equal(out.settled(1), false);
  assert.deepEqual(out.result(2), { reasonCodes: [1] });
  state.handle({ type: PacketType.Suback, packetId: idOf(s1 as Packet), reasonCodes: [0] });
  assert.deepEqual(out.result(1), { reasonCodes: [0] });
});

// ---- QoS 1 and QoS 2, outbound ---------------------------------------------------------------------

function outboundQos1(version: ProtocolVersion): void {
  const { state, out } = makeState(version);
  state.connectionAccepted(connack());
  state.publish(msg('q1', 'hello', 1), 7);
  const [p] = out.sent;
  assert.ok(p !== undefined && p.packet.type === PacketType.Publish);
  assert.equal(p.packet.qos, 1);
  assert.equal(p.packet.dup, false);
  assert.equal((p.bytes[0] ?? 0) & 0x08, 0, 'DUP bit clear on the wire');
  assert.equal(state.inflightCount, 1);
  assert.equal(out.persisted.size, 1);
  const key = [...out.persisted.keys()][0] as number;
  assert.equal(out.settled(7), false, 'not settled before PUBACK');
  state.handle(ack(PacketType.Puback, idOf(p.packet)));
  assert.deepEqual(out.result(7), { reasonCode: 0 });
  assert.deepEqual(out.forgotten, [key]);
  assert.equal(state.inflightCount, 0);
  assert.equal(state.pendingCount, 0);
}

function outboundQos2(version: ProtocolVersion): void {
  const { state, out } = makeState(version);
  state.connectionAccepted(connack());
  state.publish(msg('q2', 'hello', 2), 9);
  const [p] = out.take();
  assert.ok(p !== undefined && p.type === PacketType.Publish);
  assert.equal(p.qos, 2);
  assert.equal(p.dup, false);
  const id = idOf(p);
  state.handle(ack(PacketType.Pubrec, id));
  assert.equal(out.settled(9), false, 'not settled at PUBREC');
  assert.deepEqual(out.take(), [{ type: PacketType.Pubrel, packetId: id, reasonCode: 0 }]);
  state.handle(ack(PacketType.Pubcomp, id));
  assert.deepEqual(out.result(9), { reasonCode: 0 });
  assert.equal(out.forgotten.length, 1);
  assert.equal(state.pendingCount, 0);
}

test('[MQTT-4.3.2-2/5.0] v5: QoS 1 PUBLISH goes with DUP 0, is persisted, and completes at PUBACK', () => outboundQos1(5));
test('[MQTT-4.3.2-1/3.1.1] v4: QoS 1 PUBLISH goes with DUP 0, is persisted, and completes at PUBACK', () => outboundQos1(4));
test('[MQTT-4.3.3-2/5.0] [MQTT-4.3.3-4/5.0] v5: QoS 2 PUBLISH, PUBREC -> PUBREL with the same id, completes at PUBCOMP', () =>
  outboundQos2(5));
test('[MQTT-4.3.3-1/3.1.1] v4: QoS 2 PUBLISH, PUBREC -> PUBREL with the same id, completes at PUBCOMP', () => outboundQos2(4));

test('[MQTT-4.4.0-2/5.0] v5: PUBACK with a failure Reason Code rejects with it; the message is not sent again', () => {
  const { state, out } = makeState(5);
  state.connectionAccepted(connack());
  state.publish(msg('deny', 'x', 1), 1);
  const id = idOf(out.take()[0] as Packet);
  state.handle({ type: PacketType.Puback, packetId: id, reasonCode: ReasonCode.NotAuthorized, properties: { reasonString: 'no way' } });
  const e = out.error(1);
  assert.equal(e.code, 'PUBLISH_FAILED');
  assert.equal(e.reasonCode, 0x87);
  assert.match(e.message, /no way/);
  assert.equal(out.persisted.size, 0, 'forgotten');
  state.connectionLost();
  state.connectionAccepted(connack(undefined, true));
  assert.deepEqual(out.take(), [], 'nothing resent after reconnecting with the session');
});

test('v5: PUBACK 0x10 (No matching subscribers) is a success, resolved with its code', () => {
  const { state, out } = makeState(5);
  state.connectionAccepted(connack());
  state.publish(msg('nobody', 'x', 1), 1);
  state.handle(ack(PacketType.Puback, idOf(out.take()[0] as Packet), ReasonCode.NoMatchingSubscribers));
  assert.deepEqual(out.result(1), { reasonCode: 0x10 });
});

test('[MQTT-4.3.3-4/5.0] [MQTT-4.4.0-2/5.0] v5: PUBREC with a failure code rejects with it; no PUBREL, the identifier is free', () => {
  const { state, out } = makeState(5);
  state.connectionAccepted(connack({ receiveMaximum: 1 }));
  state.publish(msg('q2', 'a', 2), 1);
  state.publish(msg('q2', 'b', 2), 2);
  const first = out.take();
  assert.equal(first.length, 1, 'window of 1');
  state.handle(ack(PacketType.Pubrec, idOf(first[0] as Packet), ReasonCode.QuotaExceeded));
  const e = out.error(1);
  assert.equal(e.code, 'PUBLISH_FAILED');
  assert.equal(e.reasonCode, 0x97);
  const next = out.take();
  assert.deepEqual(
    next.map((p) => p.type),
    [PacketType.Publish],
    'no PUBREL; the failed PUBREC freed the window for the next PUBLISH',
  );
});

test('[MQTT-4.3.3-4/5.0] v5: a PUBREC for an unknown identifier is answered PUBREL 0x92', () => {
  const { state, out } = makeState(5);
  state.connectionAccepted(connack());
  state.handle(ack(PacketType.Pubrec, 4242));
  assert.deepEqual(out.take(), [{ type: PacketType.Pubrel, packetId: 4242, reasonCode: ReasonCode.PacketIdentifierNotFound }]);
});

test('[MQTT-4.6.0-4/5.0] [MQTT-4.6.0-4/3.1.1] PUBRELs go in the order the PUBRECs arrived', () => {
  const { state, out } = makeState(5);
  state.connectionAccepted(connack());
  for (let i = 0; i < 4; i++) state.publish(msg('o', `${i}`, 2), i + 1);
  const ids = out.take().map(idOf);
  const order = [ids[2], ids[0], ids[3], ids[1]] as number[];
  for (const id of order) state.handle(ack(PacketType.Pubrec, id));
  assert.deepEqual(out.take().map(idOf), order);
});

test('a duplicate PUBACK or a PUBCOMP before PUBREC is ignored', () => {
  const { state, out } = makeState(5);
  state.connectionAccepted(connack());
  state.publish(msg('a', '1', 1), 1);
  state.publish(msg('a', '2', 2), 2);
  const [p1, p2] = out.take().map(idOf) as [number, number];
  state.handle(ack(PacketType.Pubcomp, p2));
  assert.equal(out.settled(2), false, 'PUBCOMP without PUBREC/PUBREL does not complete QoS 2');
  state.handle(ack(PacketType.Puback, p1));
  state.handle(ack(PacketType.Puback, p1));
  assert.deepEqual(out.result(1), { reasonCode: 0 });
  state.handle(ack(PacketType.Puback, p2));
  assert.equal(out.settled(2), false, 'PUBACK does not complete a QoS 2 flow');
});

// ---- QoS 1 and QoS 2, inbound ----------------------------------------------------------------------

function inboundQos1(version: ProtocolVersion): void {
  const { state, out } = makeState(version);
  state.connectionAccepted(connack());
  for (const id of [30, 10, 20]) state.handle(inbound(id, 1, 'in', `m${id}`));
  assert.deepEqual(
    out.received.map((m) => m.payload.toString()),
    ['m30', 'm10', 'm20'],
  );
  assert.deepEqual(out.take(), [
    { type: PacketType.Puback, packetId: 30, reasonCode: 0 },
    { type: PacketType.Puback, packetId: 10, reasonCode: 0 },
    { type: PacketType.Puback, packetId: 20, reasonCode: 0 },
  ]);
}

function inboundQos2(version: ProtocolVersion): void {
  const { state, out } = makeState(version);
  state.connectionAccepted(connack());
  state.handle(inbound(9, 2, 'in', 'first'));
  assert.equal(out.received.length, 1);
  assert.deepEqual(out.take(), [{ type: PacketType.Pubrec, packetId: 9, reasonCode: 0 }]);
  state.handle({ ...inbound(9, 2, 'in', 'first'), dup: true });
  assert.equal(out.received.length, 1, 'the resent PUBLISH is not delivered again');
  assert.deepEqual(out.take(), [{ type: PacketType.Pubrec, packetId: 9, reasonCode: 0 }], 'but acknowledged again');
  state.handle({ type: PacketType.Pubrel, packetId: 9, reasonCode: 0 });
  assert.deepEqual(out.take(), [{ type: PacketType.Pubcomp, packetId: 9, reasonCode: 0 }]);
  state.handle(inbound(9, 2, 'in', 'second'));
  assert.deepEqual(
    out.received.map((m) => m.payload.toString()),
    ['first', 'second'],
    'after PUBCOMP the identifier starts a new message',
  );
}

test('[MQTT-4.3.2-4/5.0] [MQTT-4.6.0-2/5.0] [MQTT-4.5.0-2/5.0] v5: inbound QoS 1 is delivered and PUBACKed, in order', () =>
  inboundQos1(5));
test('[MQTT-4.3.2-2/3.1.1] [MQTT-4.6.0-2/3.1.1] [MQTT-4.5.0-2/3.1.1] v4: inbound QoS 1 is delivered and PUBACKed, in order', () =>
  inboundQos1(4));
test('[MQTT-4.3.3-8/5.0] [MQTT-4.3.3-10/5.0] [MQTT-4.3.3-11/5.0] [MQTT-4.3.3-12/5.0] v5: inbound QoS 2 duplicate not delivered twice; PUBREL -> PUBCOMP; then the id is new', () =>
  inboundQos2(5));
test('[MQTT-4.3.3-2/3.1.1] v4: inbound QoS 2 duplicate not delivered twice; PUBREL -> PUBCOMP; then the id is new', () => inboundQos2(4));

test('[MQTT-4.6.0-3/5.0] [MQTT-4.6.0-3/3.1.1] PUBRECs go in the order the QoS 2 PUBLISH packets arrived', () => {
  const { state, out } = makeState(5);
  state.connectionAccepted(connack());
  for (const id of [8, 3, 5]) state.handle(inbound(id, 2));
  assert.deepEqual(out.take().map(idOf), [8, 3, 5]);
});

test('[MQTT-4.3.3-11/5.0] v5: PUBREL for an unknown identifier is answered PUBCOMP 0x92 (3.1.1: 0)', () => {
  const v5 = makeState(5);
  v5.state.connectionAccepted(connack());
  v5.state.handle({ type: PacketType.Pubrel, packetId: 77, reasonCode: 0 });
  assert.deepEqual(v5.out.take(), [{ type: PacketType.Pubcomp, packetId: 77, reasonCode: ReasonCode.PacketIdentifierNotFound }]);
  const v4 = makeState(4);
  v4.state.connectionAccepted(connack());
  v4.state.handle({ type: PacketType.Pubrel, packetId: 77, reasonCode: 0 });
  assert.deepEqual(v4.out.take(), [{ type: PacketType.Pubcomp, packetId: 77, reasonCode: 0 }]);
});

test('v5: more unacknowledged inbound QoS 2 than our Receive Maximum is a protocol error (0x93)', () => {
  const { state, out } = makeState(5, { receiveMaximum: 2 });
  state.connectionAccepted(connack());
  state.handle(inbound(1, 2));
  state.handle(inbound(2, 2));
  assert.throws(
    () => state.handle(inbound(3, 2)),
    (e: unknown) => isMqttError(e) && e.reasonCode === ReasonCode.ReceiveMaximumExceeded,
  );
  assert.equal(out.received.length, 2);
});

test('a packet only clients send, or a second CONNACK, is a protocol error', () => {
  const { state } = makeState(5);
  state.connectionAccepted(connack());
  assert.throws(
    () => state.handle(connack()),
    (e: unknown) => isMqttError(e) && e.reasonCode === ReasonCode.ProtocolError,
  );
  assert.throws(
    () => state.handle({ type: PacketType.Subscribe, packetId: 1, subscriptions: [sub('x')] }),
    (e: unknown) => isMqttError(e) && e.reasonCode === ReasonCode.ProtocolError,
  );
});

// ---- the server's Receive Maximum -----------------------------------------------------------------

test('[MQTT-3.3.4-7] never more QoS 1/2 PUBLISH in flight than the server allows; the queue drains as acks arrive', () => {
  const { state, out } = makeState(5);
  state.connectionAccepted(connack({ receiveMaximum: 2 }));
  for (let i = 0; i < 6; i++) state.publish(msg('rm', `${i}`, i % 2 === 0 ? 1 : 2), i + 1);
  const first = publishes(out.take());
  assert.deepEqual(
    first.map((p) => p.payload.toString()),
    ['0', '1'],
  );
  assert.equal(state.inflightCount, 2);
  assert.equal(state.queuedCount, 4);
  // QoS 2: PUBREC does not free the slot (PUBCOMP does).
  const [a, b] = first as [PublishPacket, PublishPacket];
  state.handle(ack(PacketType.Pubrec, idOf(b)));
  assert.deepEqual(
    out.take().map((p) => p.type),
    [PacketType.Pubrel],
    'no new PUBLISH at PUBREC',
  );
  state.handle(ack(PacketType.Puback, idOf(a)));
  const inflight: PublishPacket[] = [b];
  // From here on, complete the oldest message in flight each time, checking the window after every step.
  const order: string[] = ['0', '1'];
  for (let guard = 0; guard < 20 && state.pendingCount > 0; guard++) {
    const more = publishes(out.take());
    inflight.push(...more);
    order.push(...more.map((p) => p.payload.toString()));
    assert.ok(state.inflightCount <= 2, `in flight ${state.inflightCount} <= 2`);
    assert.equal(inflight.length, state.inflightCount);
    const oldest = inflight.shift() as PublishPacket;
    if (oldest.qos === 1) state.handle(ack(PacketType.Puback, idOf(oldest)));
    else {
      if (oldest !== b) state.handle(ack(PacketType.Pubrec, idOf(oldest)));
      state.handle(ack(PacketType.Pubcomp, idOf(oldest)));
    }
  }
  assert.equal(state.pendingCount, 0);
  assert.deepEqual(order, ['0', '1', '2', '3', '4', '5'], 'sent in publish order');
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6].map((t) => (out.results.get(t) as PublishResult | undefined)?.reasonCode),
    [0, 0, 0, 0, 0, 0],
  );
});

test('[MQTT-3.3.4-8] with the window full, SUBSCRIBE, UNSUBSCRIBE and acks of inbound messages are not delayed', () => {
  const { state, out } = makeState(5);
  state.connectionAccepted(connack({ receiveMaximum: 1 }));
  state.publish(msg('w', '1', 1), 1);
  state.publish(msg('w', '2', 1), 2);
  out.take();
  state.subscribe([sub('s')], undefined, 3);
  state.unsubscribe(['u'], undefined, 4);
  state.handle(inbound(5, 1));
  state.handle(inbound(6, 2));
  assert.deepEqual(
    out.take().map((p) => p.type),
    [PacketType.Subscribe, PacketType.Unsubscribe, PacketType.Puback, PacketType.Pubrec],
  );
  assert.equal(state.queuedCount, 1);
});

test('QoS 0 behind a full window waits its turn: messages keep their order', () => {
  const { state, out } = makeState(5);
  state.connectionAccepted(connack({ receiveMaximum: 1 }));
  state.publish(msg('o', 'a', 1), 1);
  state.publish(msg('o', 'b', 1), 2);
  state.publish(msg('o', 'c', 0), 3);
  const first = publishes(out.take());
  assert.deepEqual(
    first.map((p) => p.payload.toString()),
    ['a'],
  );
  assert.equal(out.settled(3), false);
  state.handle(ack(PacketType.Puback, idOf(first[0] as Packet)));
  assert.deepEqual(
    publishes(out.take()).map((p) => p.payload.toString()),
    ['b', 'c'],
  );
  assert.deepEqual(out.result(3), { reasonCode: 0 });
});

// ---- the server's other limits ---------------------------------------------------------------------

test('[MQTT-3.2.2-15] a PUBLISH above the server Maximum Packet Size fails with PACKET_TOO_LARGE and is not sent', () => {
  const { state, out } = makeState(5);
  state.connectionAccepted(connack({ maximumPacketSize: 64 }));
  for (const qos of [0, 1, 2] as const) {
    state.publish(msg('big', 'x'.repeat(100), qos), qos + 1);
    const e = out.error(qos + 1);
    assert.equal(e.code, 'PACKET_TOO_LARGE');
    assert.match(e.message, /64/);
  }
  assert.deepEqual(out.take(), [], 'nothing sent');
  assert.equal(state.pendingCount, 0);
  assert.equal(out.persisted.size, 0, 'QoS 1/2 messages persisted were forgotten');
  // A packet of exactly the limit goes: 2 (header) + 2+3 (topic) + 2 (id) + 1 (no properties) + payload.
  state.publish(msg('big', 'y'.repeat(64 - 10), 1), 9);
  const [sent] = out.sent;
  assert.equal(sent?.bytes.length, 64);
  state.handle(ack(PacketType.Puback, idOf(sent?.packet as Packet)));
  assert.deepEqual(out.result(9), { reasonCode: 0 });
});

test('[MQTT-3.2.2-15] [MQTT-3.2.2-17] a too-large PUBLISH does not leave a Topic Alias the server never saw', () => {
  const { state, out } = makeState(5, { autoTopicAlias: true });
  state.connectionAccepted(connack({ maximumPacketSize: 64, topicAliasMaximum: 5 }));
  state.publish(msg('alias/topic', 'x'.repeat(100), 1), 1);
  assert.equal(out.error(1).code, 'PACKET_TOO_LARGE');
  state.publish(msg('alias/topic', 'small', 1), 2);
  const [p] = publishes(out.take());
  assert.equal(p?.topic, 'alias/topic', 'the first PUBLISH the server sees for this topic carries its name');
  state.publish(msg('alias/topic', 'again', 1), 3);
  const [q] = publishes(out.take());
  assert.equal(q?.topic, '');
  assert.equal(q?.properties?.topicAlias, p?.properties?.topicAlias);
});

test('[MQTT-3.2.2-11] QoS above the server Maximum QoS is refused with QOS_NOT_SUPPORTED, nothing sent', () => {
  const { state, out } = makeState(5);
  state.connectionAccepted(connack({ maximumQoS: 1 }));
  state.publish(msg('mq', 'x', 2), 1);
  assert.equal(out.error(1).code, 'QOS_NOT_SUPPORTED');
  assert.equal(out.error(1).reasonCode, ReasonCode.QoSNotSupported);
  state.publish(msg('mq', 'y', 1), 2);
  assert.deepEqual(
    publishes(out.take()).map((p) => p.qos),
    [1],
  );
  const zero = makeState(5);
  zero.state.connectionAccepted(connack({ maximumQoS: 0 }));
  zero.state.publish(msg('mq', 'x', 1), 1);
  assert.equal(zero.out.error(1).code, 'QOS_NOT_SUPPORTED');
  assert.deepEqual(zero.out.take(), []);
});

test('[MQTT-3.2.2-11] a QoS 2 message queued while offline is not sent to a server whose Maximum QoS is 1', () => {
  const { state, out } = makeState(5);
  state.publish(msg('mq', 'queued', 2), 1);
  state.publish(msg('mq', 'fine', 1), 2);
  state.connectionAccepted(connack({ maximumQoS: 1 }));
  const sent = publishes(out.take());
  assert.ok(
    sent.every((p) => p.qos <= 1),
    `QoS sent: ${sent.map((p) => p.qos).join(',')}`,
  );
  assert.equal(out.error(1).code, 'QOS_NOT_SUPPORTED');
  assert.equal(out.persisted.has(1), false, 'the refused message is forgotten');
  assert.deepEqual(
    sent.map((p) => p.payload.toString()),
    ['fine'],
  );
});

test('[MQTT-3.2.2-14] with Retain Available 0, a retained PUBLISH is refused with RETAIN_NOT_SUPPORTED, also when queued offline', () => {
  const { state, out } = makeState(5);
  state.publish(msg('r', 'queued', 1, { retain: true }), 1);
  state.connectionAccepted(connack({ retainAvailable: false }));
  state.publish(msg('r', 'now', 0, { retain: true }), 2);
  state.publish(msg('r', 'plain', 0), 3);
  const sent = publishes(out.take());
  assert.ok(sent.every((p) => !p.retain));
  assert.deepEqual(
    sent.map((p) => p.payload.toString()),
    ['plain'],
  );
  assert.equal(out.error(1).code, 'RETAIN_NOT_SUPPORTED');
  assert.equal(out.error(2).code, 'RETAIN_NOT_SUPPORTED');
  assert.equal(out.error(2).reasonCode, ReasonCode.RetainNotSupported);
});

test('invalid topics and filters are refused before anything is sent', () => {
  const { state, out } = makeState(5);
  state.connectionAccepted(connack());
  state.publish(msg('a/+', 'x', 1), 1);
  state.publish(msg('', 'x', 1), 2);
  state.subscribe([sub('a/#/b')], undefined, 3);
  state.subscribe([], undefined, 4);
  state.unsubscribe(['a/b#'], undefined, 5);
  state.publish({ topic: 'q', payload: Buffer.from('x'), qos: 3 as QoS, retain: false }, 6);
  assert.deepEqual(out.take(), []);
  assert.equal(out.error(1).code, 'INVALID_TOPIC');
  assert.equal(out.error(2).code, 'INVALID_TOPIC');
  assert.equal(out.error(3).code, 'INVALID_TOPIC');
  assert.equal(out.error(4).code, 'INVALID_ARGUMENT');
  assert.equal(out.error(5).code, 'INVALID_TOPIC');
  assert.equal(out.error(6).code, 'INVALID_ARGUMENT');
  assert.equal(state.subscriptions.size, 0);
});

// ---- session resume ------------------------------------------------------------------------------

/** Connected, with QoS 1 a (unacked), QoS 2 b (PUBREC received -> PUBREL sent), QoS 2 c (unacked), QoS 1 d (acked). */
function midFlight(version: ProtocolVersion) {
  const { state, out } = makeState(version);
  state.connectionAccepted(connack());
  state.subscribe([sub('keep/#', 1)], undefined, 100);
  state.publish(msg('t', 'a', 1), 1);
  state.publish(msg('t', 'b', 2), 2);
  state.publish(msg('t', 'c', 2), 3);
  state.publish(msg('t', 'd', 1), 4);
  const packets = out.take();
  const byPayload = new Map(publishes(packets).map((p) => [p.payload.toString(), idOf(p)]));
  const subscribe = packets.find((p) => p.type === PacketType.Subscribe);
  state.handle({ type: PacketType.Suback, packetId: idOf(subscribe as Packet), reasonCodes: [1] });
  state.handle(ack(PacketType.Pubrec, byPayload.get('b') as number));
  state.handle(ack(PacketType.Puback, byPayload.get('d') as number));
  out.take();
  state.connectionLost();
  return { state, out, ids: byPayload };
}

function resumeWithSession(version: ProtocolVersion): void {
  const { state, out, ids } = midFlight(version);
  state.connectionAccepted(connack(undefined, true));
  const sent = out.sent;
  assert.deepEqual(
    sent.map((x) => x.packet.type),
    [PacketType.Publish, PacketType.Pubrel, PacketType.Publish],
    out.names(),
  );
  const [a, rel, c] = sent;
  assert.ok(a?.packet.type === PacketType.Publish && c?.packet.type === PacketType.Publish);
  assert.equal(a.packet.payload.toString(), 'a');
  assert.equal(a.packet.dup, true);
  assert.equal((a.bytes[0] ?? 0) & 0x08, 0x08, 'DUP bit set on the wire');
  assert.equal(a.packet.packetId, ids.get('a'));
  assert.equal(c.packet.payload.toString(), 'c');
  assert.equal(c.packet.dup, true);
  assert.equal(c.packet.packetId, ids.get('c'));
  assert.deepEqual(rel?.packet, { type: PacketType.Pubrel, packetId: ids.get('b'), reasonCode: 0 });
  // [MQTT-4.3.3-6]: b is not sent again as a PUBLISH; no SUBSCRIBE: the server kept the subscription.
  out.take();
  state.handle(ack(PacketType.Puback, ids.get('a') as number));
  state.handle(ack(PacketType.Pubcomp, ids.get('b') as number));
  state.handle(ack(PacketType.Pubrec, ids.get('c') as number));
  state.handle(ack(PacketType.Pubcomp, ids.get('c') as number));
  assert.deepEqual(
    [1, 2, 3, 4].map((t) => out.results.get(t)),
    [{ reasonCode: 0 }, { reasonCode: 0 }, { reasonCode: 0 }, { reasonCode: 0 }],
  );
  assert.equal(out.persisted.size, 0);
}

function resumeWithoutSession(version: ProtocolVersion): void {
  const { state, out } = midFlight(version);
  state.connectionAccepted(connack(undefined, false));
  const packets = out.take();
  const pubs = publishes(packets);
  assert.deepEqual(
    pubs.map((p) => [p.payload.toString(), p.dup]),
    [
      ['a', false],
      ['c', false],
    ],
    'a and c again, as new messages; b had reached the server (PUBREC) and is not sent again',
  );
  const subscribes = packets.flatMap((p) => (p.type === PacketType.Subscribe ? [p] : []));
  assert.equal(subscribes.length, 1);
  assert.deepEqual(
    subscribes[0]?.subscriptions.map((x) => [x.topicFilter, x.qos]),
    [['keep/#', 1]],
  );
  assert.equal(packets.filter((p) => p.type === PacketType.Pubrel).length, 0);
  assert.deepEqual(out.results.get(2), { reasonCode: 0 }, 'b completed');
  const ids = packets.filter((p) => p.type !== PacketType.Publish || p.qos > 0).map(idOf);
  assert.equal(new Set(ids).size, ids.length);
}

test('[MQTT-4.4.0-1/5.0] [MQTT-3.3.1-1/5.0] [MQTT-4.6.0-1/5.0] [MQTT-4.3.3-6/5.0] v5: session present: unacked PUBLISH resent with DUP 1 and the same ids, in order; PUBREL resent', () =>
  resumeWithSession(5));
test('[MQTT-4.4.0-1/3.1.1] [MQTT-3.3.1-1/3.1.1] [MQTT-4.6.0-1/3.1.1] [MQTT-2.3.1-3/3.1.1] v4: session present: unacked PUBLISH resent with DUP 1 and the same ids, in order; PUBREL resent', () =>
  resumeWithSession(4));
test('[MQTT-3.2.2-5/5.0] v5: session not present: unacked messages go again as new ones (DUP 0), subscriptions are restored', () =>
  resumeWithoutSession(5));
test('v4: session not present: unacked messages go again as new ones (DUP 0), subscriptions are restored', () => resumeWithoutSession(4));

test('[MQTT-4.4.0-1/5.0] v5: PUBCOMP 0x92 answering a PUBREL resent after reconnecting completes the publish (not an error in recovery)', () => {
  const { state, out, ids } = midFlight(5);
  state.connectionAccepted(connack(undefined, true));
  out.take();
  // The server had completed b before the connection dropped; it answers the resent PUBREL with 0x92.
  state.handle(ack(PacketType.Pubcomp, ids.get('b') as number, ReasonCode.PacketIdentifierNotFound));
  assert.equal(out.errors.has(2), false, out.errors.get(2)?.message);
  assert.deepEqual(out.result(2), { reasonCode: ReasonCode.PacketIdentifierNotFound });
  assert.equal(state.inflightCount, 2);
});

test('subscriptions are restored only when the session is not present, and only those still wanted', () => {
  const { state, out } = makeState(5);
  state.connectionAccepted(connack());
  state.subscribe([sub('a/#', 1), sub('b/#', 2)], { subscriptionIdentifier: 5 }, 1);
  state.subscribe([sub('c/#', 0), sub('denied/#', 1)], undefined, 2);
  const [s1, s2] = out.take();
  state.handle({ type: PacketType.Suback, packetId: idOf(s1 as Packet), reasonCodes: [1, 2] });
  state.handle({ type: PacketType.Suback, packetId: idOf(s2 as Packet), reasonCodes: [0, 0x87] });
  state.unsubscribe(['b/#'], undefined, 3);
  const [u] = out.take();
  state.handle({ type: PacketType.Unsuback, packetId: idOf(u as Packet), reasonCodes: [0] });
  state.connectionLost();
  state.connectionAccepted(connack(undefined, true));
  assert.deepEqual(out.take(), [], 'session present: nothing to restore');
  state.connectionLost();
  state.connectionAccepted(connack(undefined, false));
  const restored = out.take().flatMap((p) => (p.type === PacketType.Subscribe ? [p] : []));
  const filters = restored.flatMap((p) =>
    p.subscriptions.map((x) => `${x.topicFilter}:${x.qos}:${p.properties?.subscriptionIdentifier ?? '-'}`),
  );
  assert.deepEqual(filters.sort(), ['a/#:1:5', 'c/#:0:-']);
  // The restored SUBACKs settle nothing the application waits for.
  for (const p of restored) state.handle({ type: PacketType.Suback, packetId: p.packetId, reasonCodes: p.subscriptions.map(() => 1) });
  assert.equal(state.pendingCount, 0);
});

test('resubscribe false: subscriptions are not restored', () => {
  const { state, out } = makeState(5, { resubscribe: false });
  state.connectionAccepted(connack());
  state.subscribe([sub('a/#')], undefined, 1);
  state.handle({ type: PacketType.Suback, packetId: idOf(out.take()[0] as Packet), reasonCodes: [1] });
  state.connectionLost();
  state.connectionAccepted(connack());
  assert.deepEqual(out.take(), []);
});

test('a SUBSCRIBE or UNSUBSCRIBE unanswered when the connection drops is sent again and still settles its caller', () => {
  const { state, out } = makeState(5);
  state.connectionAccepted(connack());
  state.subscribe([sub('x')], undefined, 1);
  state.unsubscribe(['y'], undefined, 2);
  out.take();
  state.connectionLost();
  state.subscribe([sub('z')], undefined, 3);
  assert.deepEqual(out.take(), [], 'nothing sent while offline');
  state.connectionAccepted(connack(undefined, true));
  const again = out.take();
  assert.deepEqual(
    again.map((p) => p.type),
    [PacketType.Subscribe, PacketType.Unsubscribe, PacketType.Subscribe],
  );
  for (const p of again) {
    if (p.type === PacketType.Subscribe) state.handle({ type: PacketType.Suback, packetId: p.packetId, reasonCodes: [1] });
    if (p.type === PacketType.Unsubscribe) state.handle({ type: PacketType.Unsuback, packetId: p.packetId, reasonCodes: [0] });
  }
  assert.deepEqual(out.result(1) as SubscribeResult, { reasonCodes: [1] });
  assert.deepEqual(out.result(2) as UnsubscribeResult, { reasonCodes: [0] });
  assert.deepEqual(out.result(3) as SubscribeResult, { reasonCodes: [1] });
});

test('[MQTT-3.2.2-5/5.0] session not present: inbound QoS 2 state is discarded, the same id is a new message', () => {
  const kept = makeState(5);
  kept.state.connectionAccepted(connack());
  kept.state.handle(inbound(9, 2, 'in', 'one'));
  kept.state.connectionLost();
  kept.state.connectionAccepted(connack(undefined, true));
  kept.state.handle({ ...inbound(9, 2, 'in', 'one'), dup: true });
  assert.equal(kept.out.received.length, 1, 'session present: the resent PUBLISH is a duplicate');
  const lost = makeState(5);
  lost.state.connectionAccepted(connack());
  lost.state.handle(inbound(9, 2, 'in', 'one'));
  lost.state.connectionLost();
  lost.state.connectionAccepted(connack(undefined, false));
  lost.state.handle(inbound(9, 2, 'in', 'two'));
  assert.equal(lost.out.received.length, 2, 'session lost: identifier 9 starts a new message');
});

// ---- offline queue --------------------------------------------------------------------------------

test('offline: messages queue up to maxQueued, then fail with OFFLINE_QUEUE_FULL; they go in order on connect', () => {
  const { state, out } = makeState(5, { maxQueued: 3 });
  for (let i = 1; i <= 4; i++) state.publish(msg('q', `${i}`, 1), i);
  assert.equal(state.queuedCount, 3);
  assert.equal(out.error(4).code, 'OFFLINE_QUEUE_FULL');
  assert.equal(out.persisted.size, 3, 'the refused message was never persisted');
  assert.deepEqual(out.take(), []);
  state.connectionAccepted(connack());
  assert.deepEqual(
    publishes(out.take()).map((p) => [p.payload.toString(), p.dup]),
    [
      ['1', false],
      ['2', false],
      ['3', false],
    ],
  );
});

test('offline QoS 0: queued and sent on connect when queueQos0; refused at once with CONNECTION_LOST otherwise', () => {
  const queued = makeState(5, { queueQos0: true });
  queued.state.publish(msg('q0', 'later', 0), 1);
  assert.equal(queued.out.settled(1), false);
  assert.equal(queued.out.persisted.size, 0, 'QoS 0 is never persisted');
  queued.state.connectionAccepted(connack());
  assert.deepEqual(
    publishes(queued.out.take()).map((p) => p.payload.toString()),
    ['later'],
  );
  assert.deepEqual(queued.out.result(1), { reasonCode: 0 });
  const dropped = makeState(5, { queueQos0: false });
  dropped.state.publish(msg('q0', 'never', 0), 1);
  assert.equal(dropped.out.error(1).code, 'CONNECTION_LOST');
  dropped.state.publish(msg('q1', 'kept', 1), 2);
  assert.equal(dropped.out.settled(2), false, 'QoS 1 still queues');
  dropped.state.connectionAccepted(connack());
  assert.deepEqual(
    publishes(dropped.out.take()).map((p) => p.payload.toString()),
    ['kept'],
  );
});

test('failAll fails every publish, subscribe and unsubscribe still pending, and keeps stored messages', () => {
  const { state, out } = makeState(5);
  state.connectionAccepted(connack({ receiveMaximum: 1 }));
  state.publish(msg('f', '1', 1), 1);
  state.publish(msg('f', '2', 1), 2);
  state.subscribe([sub('s')], undefined, 3);
  state.connectionLost();
  state.unsubscribe(['s'], undefined, 4);
  const persisted = out.persisted.size;
  state.failAll(new ClientError('CLIENT_ENDED', 'ending'));
  for (const t of [1, 2, 3, 4]) assert.equal(out.errors.get(t)?.code, 'CLIENT_ENDED');
  for (const t of [1, 2, 3, 4]) assert.ok(out.errors.has(t), `token ${t} failed`);
  assert.equal(state.pendingCount, 0);
  assert.equal(out.persisted.size, persisted, 'a durable store still holds them for the next run');
});

// ---- topic aliases -------------------------------------------------------------------------------

test('[MQTT-3.2.2-17] [MQTT-3.3.2-9] auto topic aliases: assigned up to the server Topic Alias Maximum, then the topic is sent in full', () => {
  const { state, out } = makeState(5, { autoTopicAlias: true });
  state.connectionAccepted(connack({ topicAliasMaximum: 2 }));
  const topics = ['a', 'a', 'b', 'c', 'b', 'c', 'a'];
  topics.forEach((t, i) => {
    state.publish(msg(t, `${i}`, 0), i + 1);
  });
  const sent = publishes(out.take()).map((p) => [p.topic, p.properties?.topicAlias]);
  assert.deepEqual(sent, [
    ['a', 1],
    ['', 1],
    ['b', 2],
    ['c', undefined],
    ['', 2],
    ['c', undefined],
    ['', 1],
  ]);
});

test('[MQTT-3.2.2-18] no Topic Alias Maximum from the server (or 3.1.1): no aliases are sent', () => {
  for (const version of [4, 5] as const) {
    const { state, out } = makeState(version, { autoTopicAlias: true });
    state.connectionAccepted(connack(version === 5 ? {} : undefined));
    state.publish(msg('a', '1', 0), 1);
    state.publish(msg('a', '2', 1), 2);
    assert.ok(
      publishes(out.take()).every((p) => p.topic === 'a' && p.properties?.topicAlias === undefined),
      `v${version}`,
    );
  }
});

test('[MQTT-3.3.2-7] topic aliases end with the connection: after reconnecting, resent and new PUBLISH carry the topic name', () => {
  const { state, out } = makeState(5, { autoTopicAlias: true });
  state.connectionAccepted(connack({ topicAliasMaximum: 4 }));
  state.publish(msg('al', '1', 1), 1);
  state.publish(msg('al', '2', 1), 2);
  const first = publishes(out.take());
  assert.deepEqual(
    first.map((p) => p.topic),
    ['al', ''],
  );
  state.connectionLost();
  state.connectionAccepted(connack({ topicAliasMaximum: 4 }, true));
  state.publish(msg('al', '3', 1), 3);
  const again = publishes(out.take());
  assert.deepEqual(
    again.map((p) => [p.payload.toString(), p.topic, p.dup]),
    [
      ['1', 'al', true],
      ['2', '', true],
      ['3', '', false],
    ],
  );
  assert.equal(again[0]?.properties?.topicAlias, again[1]?.properties?.topicAlias);
});

test('[MQTT-3.3.2-10] inbound Topic Aliases up to our maximum are accepted and resolved', () => {
  const { state, out } = makeState(5, { topicAliasMaximum: 3 });
  state.connectionAccepted(connack());
  state.handle(inbound(undefined, 0, 'first/topic', '1', { topicAlias: 1 }));
  state.handle(inbound(undefined, 0, 'third/topic', '2', { topicAlias: 3 }));
  state.handle(inbound(undefined, 0, '', '3', { topicAlias: 1 }));
  state.handle(inbound(4, 1, '', '4', { topicAlias: 3 }));
  state.handle(inbound(undefined, 0, 'moved', '5', { topicAlias: 1 }));
  state.handle(inbound(undefined, 0, '', '6', { topicAlias: 1 }));
  assert.deepEqual(
    out.received.map((m) => [m.topic, m.payload.toString()]),
    [
      ['first/topic', '1'],
      ['third/topic', '2'],
      ['first/topic', '3'],
      ['third/topic', '4'],
      ['moved', '5'],
      ['moved', '6'],
    ],
  );
});

test('inbound Topic Alias above our maximum is 0x94; an alias never set is a protocol error; aliases do not survive a reconnect', () => {
  const { state } = makeState(5, { topicAliasMaximum: 2 });
  state.connectionAccepted(connack());
  assert.throws(
    () => state.handle(inbound(undefined, 0, 'x', '1', { topicAlias: 3 })),
    (e: unknown) => isMqttError(e) && e.reasonCode === ReasonCode.TopicAliasInvalid,
  );
  assert.throws(
    () => state.handle(inbound(undefined, 0, '', '1', { topicAlias: 2 })),
    (e: unknown) => isMqttError(e) && e.reasonCode === ReasonCode.ProtocolError && /never set/.test(e.message),
  );
  state.handle(inbound(undefined, 0, 'set', '1', { topicAlias: 1 }));
  state.connectionLost();
  state.connectionAccepted(connack(undefined, true));
  assert.throws(
    () => state.handle(inbound(undefined, 0, '', '2', { topicAlias: 1 })),
    (e: unknown) => isMqttError(e) && e.reasonCode === ReasonCode.ProtocolError,
  );
  const none = makeState(5);
  none.state.connectionAccepted(connack());
  assert.throws(
    () => none.state.handle(inbound(undefined, 0, 'x', '1', { topicAlias: 1 })),
    (e: unknown) => isMqttError(e) && e.reasonCode === ReasonCode.TopicAliasInvalid,
    'we announced no Topic Alias Maximum: any alias is invalid',
  );
});

// ---- restore from a store ------------------------------------------------------------------------

test('restore(): stored messages are sent first on connect, in key order, and new messages get fresh keys', () => {
  const { state, out } = makeState(5);
  const tokens = new Map<number, number>();
  state.restore(
    [
      { key: 3, topic: 'r', payload: Buffer.from('three'), qos: 1, retain: false },
      { key: 7, topic: 'r', payload: Buffer.from('seven'), qos: 2, retain: true, properties: { contentType: 'text/plain' } },
    ],
    (key) => {
      tokens.set(key, 100 + key);
      return 100 + key;
    },
  );
  assert.equal(state.queuedCount, 2);
  state.publish(msg('r', 'new', 1), 1);
  const newKey = [...out.persisted.keys()][0] as number;
  assert.ok(newKey > 7, `new key ${newKey} above the restored ones`);
  state.connectionAccepted(connack());
  const sent = publishes(out.take());
  assert.deepEqual(
    sent.map((p) => [p.payload.toString(), p.qos, p.retain, p.dup, p.properties?.contentType]),
    [
      ['three', 1, false, false, undefined],
      ['seven', 2, true, false, 'text/plain'],
      ['new', 1, false, false, undefined],
    ],
  );
  state.handle(ack(PacketType.Puback, idOf(sent[0] as Packet)));
  assert.deepEqual(out.results.get(103), { reasonCode: 0 } satisfies PublishResult);
  assert.deepEqual(out.forgotten, [3]);
  state.handle(ack(PacketType.Pubrec, idOf(sent[1] as Packet)));
  state.handle(ack(PacketType.Pubcomp, idOf(sent[1] as Packet)));
  assert.deepEqual(out.forgotten, [3, 7]);
  assert.deepEqual([...tokens.keys()], [3, 7]);
});
