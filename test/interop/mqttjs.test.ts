/**
 * Interop with MQTT.js (the `mqtt` package), a client nobody here wrote, over real TCP on loopback:
 * MQTT 3.1, 3.1.1 and 5.0 features end to end.
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { type TestContext, test } from 'node:test';
import { waitUntil } from '../helpers/child.js';
import { brokerFor, Inbox, mqttjs, mqttjsWithInbox } from './mqttjs-support.js';

const versions = [4, 5] as const;
const label = (v: 3 | 4 | 5) => (v === 5 ? 'v5' : v === 4 ? 'v3.1.1' : 'v3.1');

for (const version of versions) {
  test(`[MQTT-4.7.2-1] MQTT.js ${label(version)}: + and # wildcards match, and not $ topics`, async (t) => {
    const h = await brokerFor(t);
    const sub = await mqttjs(t, h.url, { protocolVersion: version, clientId: `wild-${version}` });
    const all = await mqttjs(t, h.url, { protocolVersion: version, clientId: `all-${version}` });
    const dollar = await mqttjs(t, h.url, { protocolVersion: version, clientId: `dollar-${version}` });
    const pub = await mqttjs(t, h.url, { protocolVersion: version, clientId: `pub-${version}` });
    const subInbox = new Inbox(sub);
    const allInbox = new Inbox(all);
    const dollarInbox = new Inbox(dollar);
    const granted = await sub.subscribeAsync(['sport/+/score', 'news/#', 'end'], { qos: 0 });
    assert.deepEqual(
      granted.map((g) => g.qos),
      [0, 0, 0],
    );
    await all.subscribeAsync('#', { qos: 0 });
    await dollar.subscribeAsync('$app/#', { qos: 0 });

    const topics = ['sport/tennis/score', 'sport/tennis/player/score', 'news', 'news/a/b', '$app/news', 'end'];
    for (const topic of topics) await pub.publishAsync(topic, `m:${topic}`, { qos: 0 });

    const got = await subInbox.take(4);
    assert.deepEqual(
      got.map((m) => m.topic),
      ['sport/tennis/score', 'news', 'news/a/b', 'end'],
    );
    assert.deepEqual(
      got.map((m) => m.payload),
      ['m:sport/tennis/score', 'm:news', 'm:news/a/b', 'm:end'],
    );
    const everything = await allInbox.take(5);
    assert.deepEqual(
      everything.map((m) => m.topic),
      topics.filter((x) => x !== '$app/news'),
      '# must not match a topic starting with $',
    );
    const [d] = await dollarInbox.take(1);
    assert.equal(d?.topic, '$app/news');
  });

  test(`[MQTT-3.8.4-8/5.0] [MQTT-3.8.4-6/3.1.1] [MQTT-3.3.4-1] MQTT.js ${label(version)}: QoS 0/1/2 publish both ways at min(published, granted)`, async (t) => {
    const h = await brokerFor(t);
    const sub = await mqttjs(t, h.url, { protocolVersion: version, clientId: `qsub-${version}` });
    const pub = await mqttjs(t, h.url, { protocolVersion: version, clientId: `qpub-${version}` });
    const inbox = new Inbox(sub);
    const granted = await sub.subscribeAsync({ 'q/0': { qos: 0 }, 'q/1': { qos: 1 }, 'q/2': { qos: 2 } });
    assert.deepEqual(
      granted.map((g) => [g.topic, g.qos]),
      [
        ['q/0', 0],
        ['q/1', 1],
        ['q/2', 2],
      ],
    );
    const expected: string[] = [];
    for (const pubQos of [0, 1, 2] as const) {
      for (const subQos of [0, 1, 2] as const) {
        // publishAsync resolves once the broker completed its side: PUBACK for 1, PUBREC/PUBREL/PUBCOMP for 2.
        const ack = await pub.publishAsync(`q/${subQos}`, `p${pubQos}s${subQos}`, { qos: pubQos });
        if (pubQos > 0) assert.ok(ack !== undefined, 'an acknowledgement completes the flow');
        expected.push(`q/${subQos} p${pubQos}s${subQos} qos=${Math.min(pubQos, subQos)}`);
      }
    }
    const got = await inbox.take(9);
    const byTopic = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
    assert.deepEqual(got.map((m) => `${m.topic} ${m.payload} qos=${m.packet.qos}`).sort(byTopic), [...expected].sort(byTopic));
    // Every QoS 1/2 flow towards the subscriber completed: nothing left in flight for either session.
    await waitUntil(() => h.broker.sessions.get(`qsub-${version}`)?.inflight.size === 0, 'subscriber in-flight window to empty');
    assert.equal(h.broker.sessions.get(`qpub-${version}`)?.inboundQos2.size, 0, 'every inbound QoS 2 id released by PUBREL');
  });

  test(`[MQTT-3.3.1-5/5.0] [MQTT-3.3.1-6] [MQTT-3.3.1-7/5.0] [MQTT-3.3.1-12/5.0] [MQTT-3.3.1-9/3.1.1] [MQTT-3.3.1-11/3.1.1] MQTT.js ${label(version)}: retained messages replace, reach new subscribers, and an empty one clears`, async (t) => {
    const h = await brokerFor(t);
    const pub = await mqttjs(t, h.url, { protocolVersion: version, clientId: `rpub-${version}` });
    const live = await mqttjs(t, h.url, { protocolVersion: version, clientId: `rlive-${version}` });
    const liveInbox = new Inbox(live);
    await live.subscribeAsync('r/#', { qos: 1 });
    await pub.publishAsync('r/a', 'v1', { qos: 1, retain: true });
    await pub.publishAsync('r/a', 'v2', { qos: 1, retain: true });
    await pub.publishAsync('r/b', 'b1', { qos: 0, retain: true });
    // An established subscription gets them with RETAIN 0 ([MQTT-3.3.1-9] in 3.1.1, Retain As Published 0 in 5.0).
    const liveGot = await liveInbox.take(3);
    assert.deepEqual(
      liveGot.map((m) => [m.topic, m.payload, m.packet.retain]),
      [
        ['r/a', 'v1', false],
        ['r/a', 'v2', false],
        ['r/b', 'b1', false],
      ],
    );

    const late = await mqttjs(t, h.url, { protocolVersion: version, clientId: `rlate-${version}` });
    const lateInbox = new Inbox(late);
    await late.subscribeAsync('r/#', { qos: 1 });
    const lateGot = await lateInbox.take(2);
    assert.deepEqual(lateGot.map((m) => [m.topic, m.payload, m.packet.retain, m.packet.qos]).sort(), [
      ['r/a', 'v2', true, 1],
      ['r/b', 'b1', true, 0],
    ]);

    await pub.publishAsync('r/a', '', { qos: 1, retain: true });
    await pub.publishAsync('r/b', '', { qos: 0, retain: true });
    await liveInbox.take(2);
    const third = await mqttjs(t, h.url, { protocolVersion: version, clientId: `rthird-${version}` });
    const thirdInbox = new Inbox(third);
    await third.subscribeAsync(['r/#', 'marker'], { qos: 1 });
    await pub.publishAsync('marker', 'm', { qos: 1 });
    const [first] = await thirdInbox.take(1);
    assert.equal(first?.topic, 'marker', 'nothing retained is left on r/#');
    assert.equal(h.broker.retained.size, 0);
  });

  test(`[MQTT-3.1.2-8] [MQTT-3.1.2-10] MQTT.js ${label(version)}: the Will is published when the socket is destroyed, not after DISCONNECT`, async (t) => {
    const h = await brokerFor(t);
    const watcher = await mqttjs(t, h.url, { protocolVersion: version, clientId: `watch-${version}` });
    const inbox = new Inbox(watcher);
    await watcher.subscribeAsync('will/#', { qos: 1 });

    const will = {
      topic: 'will/abrupt',
      payload: Buffer.from('gone'),
      qos: 1 as const,
      retain: false,
      ...(version === 5 ? { properties: { contentType: 'text/plain', userProperties: { why: 'test' } } } : {}),
    };
    const abrupt = await mqttjs(t, h.url, { protocolVersion: version, clientId: `abrupt-${version}`, will });
    const polite = await mqttjs(t, h.url, {
      protocolVersion: version,
      clientId: `polite-${version}`,
      will: { topic: 'will/polite', payload: Buffer.from('should not be sent'), qos: 1, retain: false },
    });
    await polite.endAsync();
    await waitUntil(() => !h.broker.isConnected(`polite-${version}`), 'polite client to be gone');

    abrupt.stream.destroy();
    const [w] = await inbox.take(1);
    assert.equal(w?.topic, 'will/abrupt');
    assert.equal(w?.payload, 'gone');
    assert.equal(w?.packet.qos, 1);
    if (version === 5) {
      assert.equal(w?.packet.properties?.contentType, 'text/plain');
      // mqtt-packet builds user properties on a null-prototype object.
      assert.deepEqual({ ...w?.packet.properties?.userProperties }, { why: 'test' });
    }
    assert.deepEqual(inbox.pending, [], 'no Will from the client that sent DISCONNECT');
  });

  test(`[MQTT-3.1.2-5] [MQTT-3.2.2-3/5.0] [MQTT-3.2.2-2/3.1.1] MQTT.js ${label(version)}: a persistent session resumes and receives the QoS 1 messages queued while offline`, async (t) => {
    const h = await brokerFor(t);
    const id = `persist-${version}`;
    const sessionOptions = {
      protocolVersion: version,
      clientId: id,
      clean: false,
      ...(version === 5 ? { properties: { sessionExpiryInterval: 60 } } : {}),
    };
    const first = await mqttjs(t, h.url, sessionOptions);
    await first.subscribeAsync('ps/#', { qos: 1 });
    await first.endAsync();
    await waitUntil(() => !h.broker.isConnected(id), 'the subscriber to go offline');

    const pub = await mqttjs(t, h.url, { protocolVersion: version, clientId: `pspub-${version}` });
    for (let i = 1; i <= 3; i++) await pub.publishAsync(`ps/${i}`, `queued ${i}`, { qos: 1 });
    await pub.publishAsync('ps/q0', 'qos 0 is not queued', { qos: 0 });

    const { inbox, sessionPresent } = await mqttjsWithInbox(t, h.url, sessionOptions);
    assert.equal(sessionPresent, true);
    const got = await inbox.take(3);
    assert.deepEqual(
      got.map((m) => [m.topic, m.payload, m.packet.qos]),
      [
        ['ps/1', 'queued 1', 1],
        ['ps/2', 'queued 2', 1],
        ['ps/3', 'queued 3', 1],
      ],
    );
    await pub.publishAsync('ps/live', 'after resume', { qos: 1 });
    const [live] = await inbox.take(1);
    assert.equal(live?.payload, 'after resume', 'the subscription survived with the session');
  });

  test(`MQTT.js ${label(version)}: a shared subscription splits messages between two clients, each delivered once`, async (t) => {
    const h = await brokerFor(t);
    const a = await mqttjs(t, h.url, { protocolVersion: version, clientId: `share-a-${version}` });
    const b = await mqttjs(t, h.url, { protocolVersion: version, clientId: `share-b-${version}` });
    const inboxA = new Inbox(a);
    const inboxB = new Inbox(b);
    await a.subscribeAsync('$share/workers/jobs/+', { qos: 1 });
    await b.subscribeAsync('$share/workers/jobs/+', { qos: 1 });
    const pub = await mqttjs(t, h.url, { protocolVersion: version, clientId: `share-pub-${version}` });
    const n = 10;
    for (let i = 0; i < n; i++) await pub.publishAsync(`jobs/${i}`, `job ${i}`, { qos: 1 });
    await waitUntil(() => inboxA.messages.length + inboxB.messages.length >= n, `${n} jobs to arrive`);
    await new Promise((r) => setTimeout(r, 50));
    const all = [...inboxA.messages, ...inboxB.messages].map((m) => m.payload).sort();
    assert.deepEqual(all, Array.from({ length: n }, (_, i) => `job ${i}`).sort(), 'every job exactly once');
    assert.ok(
      inboxA.messages.length > 0 && inboxB.messages.length > 0,
      `both members got work: ${inboxA.messages.length}/${inboxB.messages.length}`,
    );
    // Round robin (the default strategy) alternates.
    assert.equal(inboxA.messages.length, n / 2);
    assert.ok(inboxA.messages.every((m) => m.topic.startsWith('jobs/') && m.packet.qos === 1));
  });
}

test('MQTT.js v3.1 (MQIsdp): connect, subscribe, QoS 1 publish and receive', async (t) => {
  const h = await brokerFor(t);
  const c = await mqttjs(t, h.url, { protocolVersion: 3, protocolId: 'MQIsdp', clientId: 'v31-client' });
  const inbox = new Inbox(c);
  const granted = await c.subscribeAsync('v31/#', { qos: 1 });
  assert.equal(granted[0]?.qos, 1);
  await c.publishAsync('v31/t', 'hello 3.1', { qos: 1 });
  const [m] = await inbox.take(1);
  assert.equal(m?.payload, 'hello 3.1');
  assert.equal(h.broker.sessions.get('v31-client')?.protocolVersion, 3);
});

test('[MQTT-3.3.2-4] [MQTT-3.3.2-6] [MQTT-3.3.2-15] [MQTT-3.3.2-16] [MQTT-3.3.2-17] [MQTT-3.3.2-18] [MQTT-3.3.2-20] MQTT.js v5: publish properties reach the subscriber unaltered, and request/response works', async (t) => {
  const h = await brokerFor(t);
  const responder = await mqttjs(t, h.url, { protocolVersion: 5, clientId: 'responder' });
  const requester = await mqttjs(t, h.url, { protocolVersion: 5, clientId: 'requester' });
  const requests = new Inbox(responder);
  const replies = new Inbox(requester);
  await responder.subscribeAsync('svc/echo', { qos: 1 });
  await requester.subscribeAsync('reply/requester', { qos: 1 });

  const correlationData = Buffer.from([0, 1, 2, 0xfe, 0xff]);
  await requester.publishAsync('svc/echo', '{"n":1}', {
    qos: 1,
    properties: {
      payloadFormatIndicator: true,
      messageExpiryInterval: 60,
      contentType: 'application/json',
      responseTopic: 'reply/requester',
      correlationData,
      userProperties: { first: '1', multi: ['x', 'y', 'z'], last: 'ü' },
    },
  });
  const [req] = await requests.take(1);
  const p = req?.packet.properties;
  assert.equal(req?.payload, '{"n":1}');
  assert.equal(p?.payloadFormatIndicator, true);
  assert.equal(p?.contentType, 'application/json');
  assert.equal(p?.responseTopic, 'reply/requester');
  assert.deepEqual(p?.correlationData, correlationData);
  assert.deepEqual({ ...p?.userProperties }, { first: '1', multi: ['x', 'y', 'z'], last: 'ü' });
  assert.deepEqual(Object.keys(p?.userProperties ?? {}), ['first', 'multi', 'last'], 'user property order kept');
  const expiry = p?.messageExpiryInterval;
  assert.ok(expiry !== undefined && expiry <= 60 && expiry >= 59, `expiry forwarded minus time waited: ${expiry}`);

  await responder.publishAsync(p?.responseTopic ?? 'missing', 'pong', {
    qos: 1,
    properties: { correlationData: p?.correlationData ?? Buffer.alloc(0) },
  });
  const [reply] = await replies.take(1);
  assert.equal(reply?.payload, 'pong');
  assert.deepEqual(reply?.packet.properties?.correlationData, correlationData);
  assert.equal(reply?.packet.properties?.messageExpiryInterval, undefined, 'no expiry unless the publisher set one');
});

test('[MQTT-3.3.2-12] MQTT.js v5: Topic Aliases the client sets and then uses alone are resolved', async (t) => {
  const h = await brokerFor(t);
  const sub = await mqttjs(t, h.url, { protocolVersion: 5, clientId: 'alias-sub' });
  const inbox = new Inbox(sub);
  await sub.subscribeAsync('alias/#', { qos: 1 });
  const pub = await mqttjs(t, h.url, { protocolVersion: 5, clientId: 'alias-pub' });
  // The broker advertised a Topic Alias Maximum, so aliases 1..max are allowed.
  assert.ok((h.broker.settings.capabilities.topicAliasMaximum ?? 0) >= 2);
  await pub.publishAsync('alias/one', 'set 1', { qos: 1, properties: { topicAlias: 1 } });
  await pub.publishAsync('alias/two', 'set 2', { qos: 1, properties: { topicAlias: 2 } });
  await pub.publishAsync('', 'use 1', { qos: 1, properties: { topicAlias: 1 } });
  await pub.publishAsync('', 'use 2', { qos: 0, properties: { topicAlias: 2 } });
  await pub.publishAsync('alias/three', 'remap 1', { qos: 1, properties: { topicAlias: 1 } });
  await pub.publishAsync('', 'use 1 again', { qos: 1, properties: { topicAlias: 1 } });
  const got = await inbox.take(6);
  assert.deepEqual(
    got.map((m) => `${m.topic} ${m.payload}`),
    ['alias/one set 1', 'alias/two set 2', 'alias/one use 1', 'alias/two use 2', 'alias/three remap 1', 'alias/three use 1 again'],
  );
  assert.ok(
    got.every((m) => m.packet.properties?.topicAlias === undefined),
    'the alias is not forwarded to subscribers',
  );
});

test('MQTT.js v5: autoAssignTopicAlias publishes through aliases the broker accepts', async (t) => {
  const h = await brokerFor(t);
  const sub = await mqttjs(t, h.url, { protocolVersion: 5, clientId: 'auto-sub' });
  const inbox = new Inbox(sub);
  await sub.subscribeAsync('auto/#', { qos: 1 });
  const pub = await mqttjs(t, h.url, { protocolVersion: 5, clientId: 'auto-pub', autoAssignTopicAlias: true });
  const sentAliases: (number | undefined)[] = [];
  const sentTopics: string[] = [];
  pub.on('packetsend', (packet) => {
    if (packet.cmd === 'publish') {
      sentTopics.push(packet.topic);
      sentAliases.push(packet.properties?.topicAlias);
    }
  });
  for (let i = 0; i < 4; i++) await pub.publishAsync(i % 2 === 0 ? 'auto/even' : 'auto/odd', `n${i}`, { qos: 1 });
  const got = await inbox.take(4);
  assert.deepEqual(
    got.map((m) => `${m.topic} ${m.payload}`),
    ['auto/even n0', 'auto/odd n1', 'auto/even n2', 'auto/odd n3'],
  );
  assert.ok(
    sentAliases.every((a) => a !== undefined),
    `MQTT.js used aliases: ${JSON.stringify(sentAliases)}`,
  );
  assert.ok(
    sentTopics.slice(2).every((s) => s === ''),
    `repeats went by alias alone: ${JSON.stringify(sentTopics)}`,
  );
});

test('[MQTT-3.3.2-11] [MQTT-3.1.2-27] MQTT.js v5: broker-assigned Topic Aliases stay within the client maximum, and none when it has none', async (t) => {
  const h = await brokerFor(t);
  const withAliases = await mqttjs(t, h.url, { protocolVersion: 5, clientId: 'alias-max-1', properties: { topicAliasMaximum: 1 } });
  const without = await mqttjs(t, h.url, { protocolVersion: 5, clientId: 'alias-none' });
  const wire = (client: typeof withAliases) => {
    const seen: { topic: string; alias: number | undefined }[] = [];
    client.on('packetreceive', (packet) => {
      // Snapshot before MQTT.js resolves the alias into packet.topic.
      if (packet.cmd === 'publish') seen.push({ topic: packet.topic, alias: packet.properties?.topicAlias });
    });
    return seen;
  };
  const wireA = wire(withAliases);
  const wireB = wire(without);
  const inboxA = new Inbox(withAliases);
  const inboxB = new Inbox(without);
  await withAliases.subscribeAsync('ta/#', { qos: 1 });
  await without.subscribeAsync('ta/#', { qos: 1 });
  const pub = await mqttjs(t, h.url, { protocolVersion: 5, clientId: 'alias-src' });
  const topics = ['ta/x', 'ta/x', 'ta/x', 'ta/y', 'ta/y', 'ta/x'];
  for (const [i, topic] of topics.entries()) await pub.publishAsync(topic, `${i}`, { qos: 1 });
  const gotA = await inboxA.take(topics.length);
  const gotB = await inboxB.take(topics.length);
  assert.deepEqual(
    gotA.map((m) => m.topic),
    topics,
    'MQTT.js resolved every alias to the right topic',
  );
  assert.deepEqual(
    gotB.map((m) => m.topic),
    topics,
  );
  assert.ok(
    wireA.every((p) => p.alias === undefined || p.alias === 1),
    `aliases within maximum 1: ${JSON.stringify(wireA)}`,
  );
  assert.ok(
    wireA.some((p) => p.alias === 1 && p.topic === ''),
    `the broker did use the alias: ${JSON.stringify(wireA)}`,
  );
  assert.ok(
    wireB.every((p) => p.alias === undefined && p.topic !== ''),
    `no aliases to a client without a maximum: ${JSON.stringify(wireB)}`,
  );
});

test('[MQTT-3.8.3-3] [MQTT-3.3.1-13] MQTT.js v5: No Local and Retain As Published subscription options', async (t) => {
  const h = await brokerFor(t);
  const c = await mqttjs(t, h.url, { protocolVersion: 5, clientId: 'opts' });
  const inbox = new Inbox(c);
  await c.subscribeAsync('nl/#', { qos: 1, nl: true });
  await c.subscribeAsync('rap/#', { qos: 1, rap: true });
  await c.publishAsync('nl/own', 'not for me', { qos: 1 });
  await c.publishAsync('rap/own', 'kept flag', { qos: 1, retain: true });
  const other = await mqttjs(t, h.url, { protocolVersion: 5, clientId: 'opts-other' });
  await other.publishAsync('nl/other', 'for me', { qos: 1 });
  const got = await inbox.take(2);
  assert.deepEqual(got.map((m) => [m.topic, m.payload, m.packet.retain]).sort(), [
    ['nl/other', 'for me', false],
    ['rap/own', 'kept flag', true],
  ]);
  await c.publishAsync('rap/own', '', { qos: 1, retain: true });
});

test('[MQTT-4.13.2-1] MQTT.js v5: stopping the broker sends DISCONNECT 0x8B (Server shutting down)', async (t: TestContext) => {
  const h = await brokerFor(t);
  const c = await mqttjs(t, h.url, { protocolVersion: 5, clientId: 'shutdown' });
  const disconnect = new Promise<number | undefined>((resolve) => {
    c.once('disconnect', (packet) => resolve(packet.reasonCode));
  });
  await h.stop();
  assert.equal(await disconnect, 0x8b);
});
