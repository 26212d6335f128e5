/**
 * Interop with Eclipse Paho for Python (Debian's python3-paho-mqtt 1.6.1): paho_client.py runs a plan of
 * steps against the broker and prints every event as a JSON line, which these tests assert.
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { TcpHarness } from '../helpers/broker-harness.js';
import { type Spawned, spawnTracked, waitUntil } from '../helpers/child.js';
import { brokerFor, Inbox, mqttjs } from './mqttjs-support.js';

const PYTHON = '/usr/bin/python3';
// The compiled test runs from dist/test/interop; the script stays beside the TypeScript source.
const SCRIPT = fileURLToPath(new URL('../../../test/interop/paho_client.py', import.meta.url));

function pahoMissing(): string | false {
  if (!existsSync(PYTHON)) return `${PYTHON} not found (install python3 and python3-paho-mqtt)`;
  const probe = spawnSync(PYTHON, ['-c', 'import paho.mqtt.client, paho.mqtt.properties'], { timeout: 10_000 });
  return probe.status === 0 ? false : `${PYTHON} has no paho-mqtt (apt-get install python3-paho-mqtt)`;
}
const skip = pahoMissing();

type PahoVersion = '3.1' | '3.1.1' | '5';

interface Plan {
  readonly version: PahoVersion;
  readonly client_id: string;
  readonly clean?: boolean;
  readonly session_expiry?: number;
  readonly will?: Readonly<Record<string, unknown>>;
  readonly steps: readonly Readonly<Record<string, unknown>>[];
}

interface PahoEvent {
  readonly event: string;
  readonly [field: string]: unknown;
}

interface PahoMessage extends PahoEvent {
  readonly topic: string;
  readonly payload: string;
  readonly qos: number;
  readonly retain: boolean;
  readonly properties: Readonly<Record<string, unknown>>;
}

function paho(t: TestContext, h: TcpHarness, plan: Plan): Spawned {
  return spawnTracked(t, PYTHON, [SCRIPT, JSON.stringify({ host: '127.0.0.1', port: h.port, ...plan })]);
}

function events(p: Spawned): PahoEvent[] {
  return p.stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as PahoEvent);
}

/** Waits for the script to exit 0 and returns its events. */
async function finished(p: Spawned): Promise<PahoEvent[]> {
  const exit = await p.exit(8000);
  assert.deepEqual(exit, { code: 0, signal: null }, p.output());
  const all = events(p);
  assert.deepEqual(all.at(-1), { event: 'done', ok: true }, p.output());
  return all;
}

function messages(all: readonly PahoEvent[]): PahoMessage[] {
  return all.filter((e): e is PahoMessage => e.event === 'message');
}

function only(all: readonly PahoEvent[], name: string): PahoEvent {
  const found = all.filter((e) => e.event === name);
  assert.equal(found.length, 1, `one ${name} event in ${JSON.stringify(all)}`);
  return found[0] as PahoEvent;
}

const versions: readonly PahoVersion[] = ['3.1', '3.1.1', '5'];

for (const version of versions) {
  test(`[MQTT-3.8.4-8/5.0] [MQTT-3.8.4-6/3.1.1] [MQTT-3.3.4-1] paho ${version}: wildcard subscriptions and QoS 0/1/2 to itself`, {
    skip,
  }, async (t) => {
    const h = await brokerFor(t);
    const p = paho(t, h, {
      version,
      client_id: `pq-${version}`,
      steps: [
        {
          op: 'subscribe',
          topics: [
            ['pw/+/x', 2],
            ['pw/all/#', 1],
          ],
        },
        ...[0, 1, 2].flatMap((qos) => [
          { op: 'publish', topic: 'pw/a/x', payload: `plus q${qos}`, qos },
          { op: 'publish', topic: 'pw/all/deep/er', payload: `hash q${qos}`, qos },
        ]),
        { op: 'publish', topic: 'pw/a/b/x', payload: 'matches nothing', qos: 1 },
        { op: 'wait_messages', count: 6 },
        { op: 'sleep', seconds: 0.05 },
      ],
    });
    const all = await finished(p);
    assert.deepEqual(only(all, 'connack')['rc'], 0);
    assert.deepEqual(only(all, 'suback')['granted'], [2, 1]);
    assert.deepEqual(
      messages(all).map((m) => `${m.topic} ${m.payload} ${m.qos}`),
      [
        'pw/a/x plus q0 0',
        'pw/all/deep/er hash q0 0',
        'pw/a/x plus q1 1',
        'pw/all/deep/er hash q1 1',
        'pw/a/x plus q2 2',
        'pw/all/deep/er hash q2 1',
      ],
    );
    assert.equal(all.filter((e) => e.event === 'published').length, 7, 'every QoS flow Paho started completed');
    assert.equal(h.broker.sessions.get(`pq-${version}`), undefined, 'a clean session ends with its connection');
  });

  test(`[MQTT-4.6.0-5] paho ${version} subscriber receives MQTT.js QoS 0/1/2 publications, in order per topic`, { skip }, async (t) => {
    const h = await brokerFor(t);
    const p = paho(t, h, {
      version,
      client_id: `ps-${version}`,
      steps: [{ op: 'subscribe', topics: [['from/js/#', 2]] }, { op: 'ready' }, { op: 'wait_messages', count: 6 }],
    });
    await p.waitFor('"event": "ready"', 'stdout');
    const js = await mqttjs(t, h.url, { protocolVersion: 4, clientId: `js-${version}` });
    for (let i = 0; i < 6; i++) await js.publishAsync(`from/js/${i % 3}`, `n${i}`, { qos: (i % 3) as 0 | 1 | 2 });
    const got = messages(await finished(p)).map((m) => `${m.topic} ${m.payload} ${m.qos} ${m.retain}`);
    // Paho hands a QoS 2 message over at PUBREL, so only the order within one topic and QoS is defined.
    for (const topic of ['from/js/0', 'from/js/1', 'from/js/2']) {
      const q = Number(topic.at(-1));
      assert.deepEqual(
        got.filter((m) => m.startsWith(`${topic} `)),
        [`${topic} n${q} ${q} false`, `${topic} n${q + 3} ${q} false`],
        `order on ${topic}: ${JSON.stringify(got)}`,
      );
    }
  });

  test(`[MQTT-3.1.2-8] paho ${version}: the Will is published when the process dies without DISCONNECT`, { skip }, async (t) => {
    const h = await brokerFor(t);
    const watcher = await mqttjs(t, h.url, { protocolVersion: 5, clientId: `pwatch-${version}` });
    const inbox = new Inbox(watcher);
    await watcher.subscribeAsync('pwill/#', { qos: 1 });
    const p = paho(t, h, {
      version,
      client_id: `pwill-${version}`,
      will: {
        topic: `pwill/${version}`,
        payload: 'paho died',
        qos: 1,
        retain: false,
        properties: version === '5' ? { ContentType: 'text/plain', UserProperty: [['cause', 'crash']] } : undefined,
      },
      steps: [{ op: 'crash' }],
    });
    const exit = await p.exit();
    assert.equal(exit.code, 0, p.output());
    const [will] = await inbox.take(1);
    assert.equal(will?.topic, `pwill/${version}`);
    assert.equal(will?.payload, 'paho died');
    assert.equal(will?.packet.qos, 1);
    if (version === '5') {
      assert.equal(will?.packet.properties?.contentType, 'text/plain');
      assert.deepEqual({ ...will?.packet.properties?.userProperties }, { cause: 'crash' });
    }
  });
}

for (const version of ['3.1.1', '5'] as const) {
  test(`[MQTT-3.1.2-5] [MQTT-3.2.2-3/5.0] [MQTT-3.2.2-2/3.1.1] paho ${version}: a persistent session is resumed with the messages queued meanwhile`, {
    skip,
  }, async (t) => {
    const h = await brokerFor(t);
    const id = `ppersist-${version}`;
    const base = { version, client_id: id, clean: false, ...(version === '5' ? { session_expiry: 120 } : {}) };
    const first = await finished(paho(t, h, { ...base, steps: [{ op: 'subscribe', topics: [['queued/#', 2]] }] }));
    assert.equal(only(first, 'connack')['session_present'], false);
    await waitUntil(() => !h.broker.isConnected(id), 'the Paho session to go offline');

    const js = await mqttjs(t, h.url, { protocolVersion: 5, clientId: `qpub-${version}` });
    await js.publishAsync('queued/1', 'one', { qos: 1 });
    await js.publishAsync('queued/2', 'two', { qos: 2 });
    await js.publishAsync('queued/3', 'three', { qos: 0 });

    const second = await finished(
      paho(t, h, {
        ...base,
        steps: [
          { op: 'wait_messages', count: 2 },
          { op: 'sleep', seconds: 0.05 },
        ],
      }),
    );
    assert.equal(only(second, 'connack')['session_present'], true);
    assert.deepEqual(
      messages(second).map((m) => `${m.topic} ${m.payload} ${m.qos}`),
      ['queued/1 one 1', 'queued/2 two 2'],
      'QoS 1 and 2 queued; QoS 0 not queued for an offline session',
    );
  });
}

test('[MQTT-3.3.2-4] [MQTT-3.3.2-15] [MQTT-3.3.2-16] [MQTT-3.3.2-17] [MQTT-3.3.2-18] [MQTT-3.3.2-20] paho 5 publish properties reach MQTT.js unaltered', {
  skip,
}, async (t) => {
  const h = await brokerFor(t);
  const js = await mqttjs(t, h.url, { protocolVersion: 5, clientId: 'js-props-sub' });
  const inbox = new Inbox(js);
  await js.subscribeAsync('props/#', { qos: 2 });
  await finished(
    paho(t, h, {
      version: '5',
      client_id: 'paho-props-pub',
      steps: [
        {
          op: 'publish',
          topic: 'props/paho',
          payload: 'héllo',
          qos: 2,
          properties: {
            PayloadFormatIndicator: 1,
            MessageExpiryInterval: 300,
            ContentType: 'text/plain; charset=utf-8',
            ResponseTopic: 'props/reply',
            CorrelationData: { hex: '00ff10' },
            UserProperty: [
              ['z', 'last-alphabetically'],
              ['a', '1'],
              ['a', '2'],
            ],
          },
        },
      ],
    }),
  );
  const [m] = await inbox.take(1);
  const p = m?.packet.properties;
  assert.equal(m?.payload, 'héllo');
  assert.equal(p?.payloadFormatIndicator, true);
  assert.equal(p?.contentType, 'text/plain; charset=utf-8');
  assert.equal(p?.responseTopic, 'props/reply');
  assert.deepEqual(p?.correlationData, Buffer.from('00ff10', 'hex'));
  assert.deepEqual({ ...p?.userProperties }, { z: 'last-alphabetically', a: ['1', '2'] });
  assert.deepEqual(Object.keys(p?.userProperties ?? {}), ['z', 'a'], 'order of user properties kept');
  const expiry = p?.messageExpiryInterval;
  assert.ok(expiry !== undefined && expiry <= 300 && expiry >= 299, `expiry ${expiry}`);
});

test('[MQTT-3.3.2-15] [MQTT-3.3.2-16] [MQTT-3.3.2-17] [MQTT-3.3.2-18] [MQTT-3.3.2-20] MQTT.js publish properties reach paho 5 unaltered', {
  skip,
}, async (t) => {
  const h = await brokerFor(t);
  const p = paho(t, h, {
    version: '5',
    client_id: 'paho-props-sub',
    steps: [{ op: 'subscribe', topics: [['props/#', 1]] }, { op: 'ready' }, { op: 'wait_messages', count: 1 }],
  });
  await p.waitFor('"event": "ready"', 'stdout');
  const js = await mqttjs(t, h.url, { protocolVersion: 5, clientId: 'js-props-pub' });
  await js.publishAsync('props/js', 'payload', {
    qos: 1,
    properties: {
      contentType: 'application/octet-stream',
      responseTopic: 'props/answer',
      correlationData: Buffer.from([1, 2, 3]),
      userProperties: { first: 'x', second: ['y', 'z'] },
    },
  });
  const [m] = messages(await finished(p));
  assert.deepEqual(m?.properties, {
    ContentType: 'application/octet-stream',
    ResponseTopic: 'props/answer',
    CorrelationData: { hex: '010203' },
    UserProperty: [
      ['first', 'x'],
      ['second', 'y'],
      ['second', 'z'],
    ],
  });
});

test('[MQTT-3.8.3-3] paho 5: No Local keeps a client from receiving its own publications', { skip }, async (t) => {
  const h = await brokerFor(t);
  const all = await finished(
    paho(t, h, {
      version: '5',
      client_id: 'paho-nolocal',
      steps: [
        {
          op: 'subscribe',
          topics: [
            ['nl/own', 1, { no_local: true }],
            ['nl/marker', 1],
          ],
        },
        { op: 'publish', topic: 'nl/own', payload: 'not echoed', qos: 1 },
        { op: 'publish', topic: 'nl/marker', payload: 'echoed', qos: 1 },
        { op: 'wait_messages', count: 1 },
        { op: 'sleep', seconds: 0.05 },
      ],
    }),
  );
  assert.deepEqual(
    messages(all).map((m) => m.topic),
    ['nl/marker'],
  );
});

test('[MQTT-3.3.1-9/5.0] [MQTT-3.3.1-11/5.0] [MQTT-3.3.1-13/5.0] paho 5: Retain Handling 0 and 2, Retain As Published', {
  skip,
}, async (t) => {
  const h = await brokerFor(t);
  const js = await mqttjs(t, h.url, { protocolVersion: 5, clientId: 'js-retainer' });
  await js.publishAsync('rh/kept', 'retained value', { qos: 1, retain: true });
  const all = await finished(
    paho(t, h, {
      version: '5',
      client_id: 'paho-rh',
      steps: [
        { op: 'subscribe', topics: [['rh/#', 1, { retain_handling: 2 }]] },
        { op: 'subscribe', topics: [['rh/+', 1, { retain_handling: 0, retain_as_published: true }]] },
        { op: 'wait_messages', count: 1 },
        { op: 'sleep', seconds: 0.05 },
      ],
    }),
  );
  assert.deepEqual(
    messages(all).map((m) => `${m.topic} ${m.payload} retain=${m.retain}`),
    ['rh/kept retained value retain=true'],
    'only the Retain Handling 0 subscription sent the retained message',
  );
});

test('paho is refused when anonymous access is off: return code 5 (3.1.1), reason 0x87 (5)', { skip }, async (t) => {
  const h = await brokerFor(t, { allowAnonymous: false });
  for (const [version, rc] of [
    ['3.1.1', 5],
    ['5', 0x87],
  ] as const) {
    const p = paho(t, h, { version, client_id: `refused-${version}`, steps: [] });
    const exit = await p.exit();
    assert.equal(exit.code, 1, p.output());
    const all = events(p);
    assert.equal(only(all, 'connack')['rc'], rc);
    assert.equal(only(all, 'connack')['session_present'], false, '[MQTT-3.2.2-6/5.0] no Session Present with a refusal');
  }
});
