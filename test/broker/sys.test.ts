import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Broker } from '../../src/broker/broker.js';
import type { BrokerOptions } from '../../src/broker/options.js';
import { PacketType, type ProtocolVersion, type PublishPacket } from '../../src/protocol/index.js';
import { memoryClient, startBroker } from '../helpers/broker-harness.js';
import { FakeClock } from '../helpers/fake-clock.js';
import type { PacketClient } from '../helpers/packet-client.js';

function sysBroker(options: BrokerOptions = {}): { broker: Broker; clock: FakeClock } {
  const clock = new FakeClock();
  return { broker: new Broker({ sysInterval: 10, version: '1.2.3', ...options, clock }), clock };
}

async function subscriber(
  broker: Broker,
  clientId: string,
  filters: readonly string[],
  version: ProtocolVersion = 5,
): Promise<PacketClient> {
  const c = memoryClient(broker, version);
  const ack = await c.connect({ clientId });
  assert.equal(ack.reasonCode, 0);
  c.send({
    type: PacketType.Subscribe,
    packetId: 1,
    subscriptions: filters.map((topicFilter) => ({ topicFilter, qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 })),
  });
  const suback = await c.expect(PacketType.Suback);
  assert.deepEqual(
    suback.reasonCodes,
    filters.map(() => 0),
  );
  return c;
}

/** Round trip through the broker: everything it sent this client before the PINGRESP has arrived. */
async function barrier(c: PacketClient): Promise<void> {
  c.send({ type: PacketType.Pingreq });
  await c.expect(PacketType.Pingresp);
}

function publishesOf(c: PacketClient): PublishPacket[] {
  return c.received.flatMap((p) => (p.type === PacketType.Publish ? [p] : []));
}

/** The last payload received per topic, from index `from` of the received PUBLISH packets on. */
function latest(c: PacketClient, from = 0): Map<string, PublishPacket> {
  const out = new Map<string, PublishPacket>();
  for (const p of publishesOf(c).slice(from)) out.set(p.topic, p);
  return out;
}

async function sysRetained(version: 4 | 5): Promise<void> {
  const { broker } = sysBroker();
  const wild = await subscriber(broker, 'wild', ['#', '+/broker/version', '+/+/+/+'], version);
  const sys = await subscriber(broker, 'sys', ['$SYS/#'], version);
  await barrier(sys);
  const got = latest(sys);
  assert.equal(got.get('$SYS/broker/version')?.payload.toString(), 'mozzie version 1.2.3');
  assert.equal(got.get('$SYS/broker/version')?.retain, true);
  assert.equal(got.get('$SYS/broker/uptime')?.payload.toString(), '0 seconds');
  assert.equal(got.get('$SYS/broker/clients/connected')?.payload.toString(), '0');
  for (const p of publishesOf(sys)) assert.ok(p.topic.startsWith('$SYS/broker/'), p.topic);
  await barrier(wild);
  assert.deepEqual(publishesOf(wild), []);
  wild.end();
  sys.end();
  await broker.close();
}

test('[MQTT-4.7.2-1] [MQTT-3.3.1-9/5.0] v5: $SYS/# gets the retained $SYS topics; # and +/... never match them', () => sysRetained(5));
test('[MQTT-4.7.2-1] [MQTT-3.3.1-6/3.1.1] [MQTT-3.3.1-8/3.1.1] v4: $SYS/# gets the retained $SYS topics; # and +/... never match them', () =>
  sysRetained(4));

test('[MQTT-4.7.2-1] periodic $SYS updates reach $SYS/# but not # (fake clock)', async () => {
  const { broker, clock } = sysBroker();
  const wild = await subscriber(broker, 'wild', ['#']);
  const sys = await subscriber(broker, 'sys', ['$SYS/#']);
  await barrier(sys);
  const before = publishesOf(sys).length;
  clock.advance(10_000);
  await barrier(sys);
  const update = latest(sys, before);
  assert.equal(update.get('$SYS/broker/uptime')?.payload.toString(), '10 seconds');
  assert.equal(update.get('$SYS/broker/clients/connected')?.payload.toString(), '2');
  await barrier(wild);
  assert.deepEqual(publishesOf(wild), []);
  wild.end();
  sys.end();
  await broker.close();
});

test('[MQTT-3.3.1-12/5.0] periodic $SYS updates go to established subscriptions with RETAIN 0, only for values that changed', async () => {
  const { broker, clock } = sysBroker();
  const sys = await subscriber(broker, 'sys', ['$SYS/broker/#']);
  await barrier(sys);
  const before = publishesOf(sys).length;
  clock.advance(10_000);
  await barrier(sys);
  const update = latest(sys, before);
  assert.equal(update.get('$SYS/broker/uptime')?.retain, false);
  // The version did not change: not published again.
  assert.equal(update.has('$SYS/broker/version'), false);
  assert.equal(update.has('$SYS/broker/clients/maximum'), true);
  // The stored (retained) value follows the latest update.
  const late = await subscriber(broker, 'late', ['$SYS/broker/uptime']);
  await barrier(late);
  const stored = latest(late).get('$SYS/broker/uptime');
  assert.equal(stored?.payload.toString(), '10 seconds');
  assert.equal(stored?.retain, true);
  sys.end();
  late.end();
  await broker.close();
});

test('[MQTT-4.7.2-1] $SYS/broker/clients/* follow clients connecting, disconnecting and expiring', async () => {
  const { broker, clock } = sysBroker();
  const sys = await subscriber(broker, 'sys', ['$SYS/broker/clients/+']);
  const a = memoryClient(broker, 4);
  await a.connect({ clientId: 'a', clean: false });
  const b = memoryClient(broker, 5);
  await b.connect({ clientId: 'b', properties: { sessionExpiryInterval: 15 } });
  clock.advance(10_000);
  await barrier(sys);
  let now = latest(sys);
  assert.equal(now.get('$SYS/broker/clients/connected')?.payload.toString(), '3');
  assert.equal(now.get('$SYS/broker/clients/total')?.payload.toString(), '3');
  assert.equal(now.get('$SYS/broker/clients/maximum')?.payload.toString(), '3');
  b.send({ type: PacketType.Disconnect, reasonCode: 0 });
  await b.waitClosed();
  clock.advance(10_000);
  await barrier(sys);
  now = latest(sys);
  assert.equal(now.get('$SYS/broker/clients/connected')?.payload.toString(), '2');
  assert.equal(now.get('$SYS/broker/clients/disconnected')?.payload.toString(), '1');
  assert.equal(now.get('$SYS/broker/clients/maximum')?.payload.toString(), '3');
  clock.advance(10_000); // b's session (15 s) has expired
  await barrier(sys);
  now = latest(sys);
  assert.equal(now.get('$SYS/broker/clients/expired')?.payload.toString(), '1');
  assert.equal(now.get('$SYS/broker/clients/total')?.payload.toString(), '2');
  a.end();
  sys.end();
  await broker.close();
});

test('[MQTT-4.7.2-1] sysInterval 0 publishes no $SYS topics', async () => {
  const { broker, clock } = sysBroker({ sysInterval: 0 });
  const sys = await subscriber(broker, 'sys', ['$SYS/#']);
  clock.advance(60_000);
  await barrier(sys);
  assert.deepEqual(publishesOf(sys), []);
  assert.equal(broker.retained.size, 0);
  sys.end();
  await broker.close();
});

test('[MQTT-4.7.2-1] $SYS/broker/version is retained and readable over TCP; # does not see it', async () => {
  const h = await startBroker({ sysInterval: 60, version: '9.9.9' });
  try {
    const wild = await h.client(4);
    await wild.connect({ clientId: 'tcpwild' });
    wild.send({
      type: PacketType.Subscribe,
      packetId: 1,
      subscriptions: [{ topicFilter: '#', qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
    });
    await wild.expect(PacketType.Suback);
    const c = await h.client(4);
    await c.connect({ clientId: 'tcpsys' });
    c.send({
      type: PacketType.Subscribe,
      packetId: 1,
      subscriptions: [{ topicFilter: '$SYS/broker/version', qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
    });
    const msg = await c.expect(PacketType.Publish);
    assert.equal(msg.topic, '$SYS/broker/version');
    assert.equal(msg.payload.toString(), 'mozzie version 9.9.9');
    assert.equal(msg.retain, true);
    await barrier(wild);
    assert.deepEqual(publishesOf(wild), []);
  } finally {
    await h.stop();
  }
});
