import { Buffer } from 'node:buffer';
import type { IConnectPacket, IPublishPacket, ISubscribePacket, Packet as TheirPacket } from 'mqtt-packet';
import type { ProtocolVersion } from '../../src/protocol/constants.js';
import { PacketType } from '../../src/protocol/constants.js';
import type { ConnectPacket, Packet, PublishPacket, SubscribePacket } from '../../src/protocol/packet.js';

/**
 * The packets the codec benchmark measures, each described twice: as a Mozzie packet and as the
 * mqtt-packet object that encodes to the same bytes (checked by the runner before it measures anything).
 */
export interface BenchCase {
  /** Stable name, used in the table, the JSON and --filter. */
  readonly name: string;
  readonly family: 'publish' | 'subscribe' | 'connect';
  /** Version both sides encode and decode with (CONNECT carries its own). */
  readonly version: ProtocolVersion;
  readonly ours: Packet;
  readonly theirs: TheirPacket;
}

const TOPIC = 'sensors/building-7/floor-3/room-12/temperature';
const PACKET_ID = 4242;

/** Deterministic, incompressible-looking payload bytes (content does not matter to either codec). */
function payloadOf(size: number): Buffer {
  const buf = Buffer.allocUnsafe(size);
  let x = 0x9e3779b9;
  for (let i = 0; i < size; i++) {
    x = (Math.imul(x, 1_103_515_245) + 12_345) >>> 0;
    buf[i] = x >>> 24;
  }
  return buf;
}

const CORRELATION = payloadOf(16);
const USER_PROPERTIES = [
  ['trace-id', '4bf92f3577b34da6a3ce929d0e0e4736'],
  ['origin', 'gateway-4'],
] as const;

function publishCase(qos: 0 | 1, size: number, withProperties: boolean): BenchCase {
  const payload = payloadOf(size);
  const version: ProtocolVersion = withProperties ? 5 : 4;
  const sizeName = size >= 1024 ? `${size / 1024}KiB` : `${size}B`;
  const name = `publish qos${qos} ${sizeName} ${withProperties ? 'v5+props' : 'v4'}`;
  const base = { type: PacketType.Publish, topic: TOPIC, payload, retain: false, dup: false } as const;
  const properties = {
    messageExpiryInterval: 3600,
    contentType: 'application/json',
    responseTopic: 'replies/gateway-4',
    correlationData: CORRELATION,
    userProperties: USER_PROPERTIES,
  };
  const withId: PublishPacket = qos === 0 ? { ...base, qos } : { ...base, qos, packetId: PACKET_ID };
  const ours: PublishPacket = withProperties ? { ...withId, properties } : withId;

  const theirs: IPublishPacket = { cmd: 'publish', topic: TOPIC, payload, qos, retain: false, dup: false };
  if (qos > 0) theirs.messageId = PACKET_ID;
  if (withProperties) {
    theirs.properties = {
      messageExpiryInterval: properties.messageExpiryInterval,
      contentType: properties.contentType,
      responseTopic: properties.responseTopic,
      correlationData: CORRELATION,
      userProperties: Object.fromEntries(USER_PROPERTIES),
    };
  }
  return { name, family: 'publish', version, ours, theirs };
}

const FILTERS = ['sensors/+/floor-3/#', 'alerts/critical', 'devices/gateway-4/cmd/+', '$share/workers/jobs/#', 'status/+/online'];

function subscribeCase(version: 4 | 5): BenchCase {
  const v5 = version === 5;
  // In 5.0 each filter carries distinct options; No Local is not allowed on the shared one. [MQTT-3.8.3-4]
  const subs = FILTERS.map((topicFilter, i) => {
    const qos = (i % 3) as 0 | 1 | 2;
    const noLocal = v5 && i === 2;
    const retainAsPublished = v5 && i % 2 === 1;
    const retainHandling = (v5 ? i % 3 : 0) as 0 | 1 | 2;
    return { topicFilter, qos, noLocal, retainAsPublished, retainHandling };
  });
  const ours: SubscribePacket = v5
    ? { type: PacketType.Subscribe, packetId: PACKET_ID, subscriptions: subs, properties: { subscriptionIdentifier: 17 } }
    : { type: PacketType.Subscribe, packetId: PACKET_ID, subscriptions: subs };
  const theirs: ISubscribePacket = {
    cmd: 'subscribe',
    messageId: PACKET_ID,
    subscriptions: subs.map((s) =>
      v5
        ? { topic: s.topicFilter, qos: s.qos, nl: s.noLocal, rap: s.retainAsPublished, rh: s.retainHandling }
        : { topic: s.topicFilter, qos: s.qos },
    ),
  };
  if (v5) theirs.properties = { subscriptionIdentifier: 17 };
  return { name: `subscribe ${FILTERS.length} filters v${version}`, family: 'subscribe', version, ours, theirs };
}

function connectCase(version: 4 | 5): BenchCase {
  const v5 = version === 5;
  const willPayload = Buffer.from('{"state":"offline","reason":"connection lost"}');
  const password = Buffer.from('s3cr3t-t0ken-0123456789abcdef');
  const ours: ConnectPacket = {
    type: PacketType.Connect,
    protocolVersion: version,
    clientId: 'gateway-4-7f3a9c',
    clean: true,
    keepAlive: 60,
    username: 'gateway-4',
    password,
    will: v5
      ? {
          topic: 'status/gateway-4/online',
          payload: willPayload,
          qos: 1,
          retain: true,
          properties: { willDelayInterval: 30, messageExpiryInterval: 86_400, contentType: 'application/json' },
        }
      : { topic: 'status/gateway-4/online', payload: willPayload, qos: 1, retain: true },
    ...(v5 ? { properties: { sessionExpiryInterval: 3600, receiveMaximum: 100, topicAliasMaximum: 10 } } : {}),
  };
  const theirs: IConnectPacket = {
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: version,
    clientId: ours.clientId,
    clean: true,
    keepalive: 60,
    username: 'gateway-4',
    password,
    will: {
      topic: 'status/gateway-4/online',
      payload: willPayload,
      qos: 1,
      retain: true,
      ...(v5 ? { properties: { willDelayInterval: 30, messageExpiryInterval: 86_400, contentType: 'application/json' } } : {}),
    },
  };
  if (v5) theirs.properties = { sessionExpiryInterval: 3600, receiveMaximum: 100, topicAliasMaximum: 10 };
  return { name: `connect will+auth v${version}`, family: 'connect', version, ours, theirs };
}

export const PAYLOAD_SIZES: readonly number[] = [16, 1024, 65_536];

export function allCases(): BenchCase[] {
  const cases: BenchCase[] = [];
  for (const withProperties of [false, true]) {
    for (const qos of [0, 1] as const) {
      for (const size of PAYLOAD_SIZES) cases.push(publishCase(qos, size, withProperties));
    }
  }
  cases.push(subscribeCase(4), subscribeCase(5), connectCase(4), connectCase(5));
  return cases;
}

/** The small-packet stream the allocation check frames: QoS 0, 16-byte payload, 3.1.1. */
export function smallPublishCase(): BenchCase {
  return publishCase(0, 16, false);
}
