import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { test } from 'node:test';
import { Broker } from '../../src/broker/broker.js';
import { PacketType } from '../../src/protocol/index.js';
import { memoryClient, startBroker } from '../helpers/broker-harness.js';
import { FakeClock } from '../helpers/fake-clock.js';

test('[MQTT-3.2.0-1] CONNACK is the first packet the server sends, over TCP', async () => {
  const h = await startBroker();
  try {
    const c = await h.client(5);
    const ack = await c.connect({ clientId: 'a' });
    assert.equal(ack.reasonCode, 0);
    assert.equal(c.received[0]?.type, PacketType.Connack);
  } finally {
    await h.stop();
  }
});

test('[MQTT-3.1.2-22] keep alive: silent client is disconnected after 1.5x, with the fake clock', async () => {
  const clock = new FakeClock();
  const broker = new Broker({ clock, sysInterval: 0 });
  const sub = memoryClient(broker, 5);
  await sub.connect({ clientId: 'sub' });
  sub.send({
    type: PacketType.Subscribe,
    packetId: 1,
    subscriptions: [{ topicFilter: 'will/#', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
  });
  await sub.expect(PacketType.Suback);
  const c = memoryClient(broker, 5);
  await c.connect({ clientId: 'k', keepAlive: 10, will: { topic: 'will/k', payload: Buffer.from('gone'), qos: 1, retain: false } });
  clock.advance(14_000);
  assert.equal(c.closed, false);
  clock.advance(1_100);
  const d = await c.expect(PacketType.Disconnect);
  assert.equal(d.reasonCode, 0x8d);
  const will = await sub.expect(PacketType.Publish);
  assert.equal(will.topic, 'will/k');
  await broker.close();
});
