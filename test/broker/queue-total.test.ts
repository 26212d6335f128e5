import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Broker } from '../../src/broker/broker.js';
import { PacketType } from '../../src/protocol/index.js';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import type { BrokerStore } from '../../src/store/types.js';
import { memoryClient } from '../helpers/broker-harness.js';

async function offlineSubscriber(broker: Broker, clientId: string): Promise<void> {
  const c = memoryClient(broker, 5);
  await c.connect({ clientId, clean: true, properties: { sessionExpiryInterval: 3600 } });
  c.send({
    type: PacketType.Subscribe,
    packetId: 1,
    subscriptions: [{ topicFilter: 'q/#', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
  });
  await c.expect(PacketType.Suback);
  c.send({ type: PacketType.Disconnect, reasonCode: 0 });
  await c.waitClosed();
}

for (const kind of ['memory', 'sqlite'] as const) {
  test(`limits.maxQueuedBytesTotal bounds what all offline sessions hold together (${kind} store)`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'mozzie-total-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const store: BrokerStore | undefined = kind === 'sqlite' ? new SqliteStore({ dataDir: dir }) : undefined;
    // Two sessions may each queue 100 messages, but together only about 10 KiB.
    const broker = new Broker({
      sysInterval: 0,
      limits: { maxQueuedMessages: 100, maxQueuedBytesTotal: 10 * 1024 },
      ...(store === undefined ? {} : { store }),
    });
    await broker.start();
    await offlineSubscriber(broker, 'a');
    await offlineSubscriber(broker, 'b');
    const pub = memoryClient(broker, 5);
    await pub.connect({ clientId: 'p' });
    const payload = Buffer.alloc(1000 - 'q/x'.length, 1);
    for (let i = 1; i <= 20; i++) {
      pub.send({ type: PacketType.Publish, topic: 'q/x', payload, qos: 1, retain: false, dup: false, packetId: i });
      await pub.expect(PacketType.Puback, 2000, (p) => p.packetId === i);
    }
    // 10 KiB holds 10 deliveries of 1000 bytes: 5 for each session; the other 30 are dropped and counted.
    assert.ok(broker.queuedTotals.bytes <= 10 * 1024, `total ${broker.queuedTotals.bytes}`);
    assert.equal(broker.queuedTotals.bytes, 10 * 1000);
    assert.equal(broker.metrics.limitHits.get('maxQueuedBytesTotal'), 30);
    // Ending a session gives its share back.
    const a = memoryClient(broker, 5);
    await a.connect({ clientId: 'a', clean: true });
    await a.waitClosed(50).catch(() => undefined);
    assert.equal(broker.queuedTotals.bytes, 5 * 1000);
    await broker.close();
  });
}
