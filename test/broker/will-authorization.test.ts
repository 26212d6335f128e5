import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { test } from 'node:test';
import { Broker } from '../../src/broker/broker.js';
import { PacketType } from '../../src/protocol/index.js';
import { memoryClient } from '../helpers/broker-harness.js';

function brokerDenying(prefix: string): Broker {
  return new Broker({
    sysInterval: 0,
    hooks: [{ authorizePublish: ({ topic }) => (topic.startsWith(prefix) ? 'deny' : 'allow') }],
  });
}

test('[MQTT-3.1.4-2] a Will on a topic the client may not publish to refuses the CONNECT: 0x87 (5.0)', async () => {
  const broker = brokerDenying('secret/');
  const c = memoryClient(broker, 5);
  const ack = await c.connect({ clientId: 'w1', will: { topic: 'secret/w', payload: Buffer.from('x'), qos: 0, retain: false } });
  assert.equal(ack.reasonCode, 0x87);
  await c.waitClosed();
  await broker.close();
});

test('[MQTT-3.1.4-2] a denied Will refuses a 3.1.1 CONNECT with return code 5; an allowed one connects', async () => {
  const broker = brokerDenying('secret/');
  const denied = memoryClient(broker, 4);
  assert.equal(
    (await denied.connect({ clientId: 'w2', will: { topic: 'secret/w', payload: Buffer.from('x'), qos: 1, retain: false } })).reasonCode,
    5,
  );
  const allowed = memoryClient(broker, 4);
  const ack = await allowed.connect({ clientId: 'w3', will: { topic: 'public/w', payload: Buffer.from('x'), qos: 1, retain: false } });
  assert.equal(ack.reasonCode, 0);
  assert.equal(ack.type, PacketType.Connack);
  await broker.close();
});
