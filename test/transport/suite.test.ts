/**
 * One behaviour suite over every listener kind (TCP, TLS, WebSocket, secure WebSocket) on loopback, with
 * our client and MQTT.js on the two ends: ordered delivery, every QoS, retained messages, a large
 * payload and the Will of a client whose connection breaks. The transports are byte pipes; the broker
 * must not behave differently over any of them.
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { type IClientOptions, connectAsync as mqttjsConnect } from 'mqtt';
import type { ClientOptions } from '../../src/client/options.js';
import { waitUntil } from '../helpers/child.js';
import { makePki, ourClient, type Pki, startServer } from './helpers.js';

let pki: Pki;
before(() => {
  pki = makePki();
});
after(() => pki.remove());

const KINDS = ['tcp', 'tls', 'ws', 'wss'] as const;
type Kind = (typeof KINDS)[number];

function listener(kind: Kind): Record<string, unknown> {
  const tls = { cert: pki.server.cert, key: pki.server.key };
  return { type: kind, host: '127.0.0.1', port: 0, ...(kind === 'tls' || kind === 'wss' ? tls : {}) };
}

function url(kind: Kind, port: number): string {
  const scheme = { tcp: 'mqtt', tls: 'mqtts', ws: 'ws', wss: 'wss' }[kind];
  return `${scheme}://localhost:${port}${kind === 'ws' || kind === 'wss' ? '/mqtt' : ''}`;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

for (const kind of KINDS) {
  // MQTT.js publishes with 3.1.1 (its default), our client subscribes with 5.0, and a second client of ours
  // reads the retained message with 3.1.1: the statement of both versions, for server and client.
  test(`[MQTT-4.2.0-1] [MQTT-7.1.1-1] [MQTT-7.1.2-1] ${kind}: ordered, lossless delivery at every QoS, retained messages, a 256 KB payload and Wills`, async (t) => {
    const r = await startServer(t, { listeners: [listener(kind)] });
    const target = url(kind, r.port());
    const secure = kind === 'tls' || kind === 'wss';
    const oursTls: ClientOptions = secure ? { tls: { ca: readFileSync(pki.ca.cert) } } : {};
    const mqttjsTls: IClientOptions = secure ? { ca: readFileSync(pki.ca.cert) } : {};

    const sub = await ourClient(t, target, { clientId: `sub-${kind}`, ...oursTls });
    const received: { topic: string; payload: Buffer; qos: number }[] = [];
    sub.on('message', (topic, payload, packet) => received.push({ topic, payload, qos: packet.qos }));
    await sub.subscribe('suite/#', { qos: 2 });

    const pub = await mqttjsConnect(target, {
      clientId: `pub-${kind}`,
      reconnectPeriod: 0,
      connectTimeout: 3000,
      will: { topic: 'suite/will', payload: Buffer.from(`gone over ${kind}`), qos: 1, retain: false },
      ...mqttjsTls,
    });
    t.after(() => pub.endAsync(true));

    const count = 100;
    await Promise.all(Array.from({ length: count }, (_, i) => pub.publishAsync('suite/seq', `${i}`, { qos: 1 })));
    await pub.publishAsync('suite/q0', 'zero', { qos: 0 });
    await pub.publishAsync('suite/q2', 'two', { qos: 2 });
    const big = Buffer.alloc(256 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
    await pub.publishAsync('suite/big', big, { qos: 1 });
    await pub.publishAsync('suite/retained', 'kept', { qos: 1, retain: true });
    await waitUntil(() => received.length >= count + 4, `${count + 4} messages over ${kind}`);

    // One publisher's QoS 1 messages on a topic arrive in the order sent.
    assert.deepEqual(
      received.filter((m) => m.topic === 'suite/seq').map((m) => m.payload.toString()),
      Array.from({ length: count }, (_, i) => `${i}`),
    );
    assert.equal(received.find((m) => m.topic === 'suite/q0')?.qos, 0);
    assert.equal(received.find((m) => m.topic === 'suite/q2')?.qos, 2);
    const gotBig = received.find((m) => m.topic === 'suite/big');
    assert.ok(gotBig !== undefined);
    assert.equal(sha(gotBig.payload), sha(big));

    // A later subscriber gets the retained message.
    const late = await ourClient(t, target, { clientId: `late-${kind}`, protocolVersion: 4, ...oursTls });
    const retained = new Promise<string>((resolve) => late.on('message', (_tp, payload) => resolve(payload.toString())));
    await late.subscribe('suite/retained', { qos: 1 });
    assert.equal(await retained, 'kept');

    // The publisher's connection breaks without DISCONNECT: its Will is published.
    pub.stream.destroy();
    await waitUntil(() => received.some((m) => m.topic === 'suite/will'), `the Will over ${kind}`);
    assert.equal(received.find((m) => m.topic === 'suite/will')?.payload.toString(), `gone over ${kind}`);
    assert.ok(r.connected.every((c) => c.transport === kind));
    assert.deepEqual(
      r.connected.map((c) => c.protocolVersion),
      [5, 4, 4],
    );
  });
}
