/**
 * MqttClient end to end: the same behaviour cases against our broker and against Eclipse Mosquitto
 * (Debian 2.0.11), for MQTT 3.1.1 and 5.0, plus cases only a scripted server can provoke.
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { after, before, describe, type TestContext, test } from 'node:test';
import { Broker } from '../../src/broker/broker.js';
import type { BrokerOptions } from '../../src/broker/options.js';
import { MqttClient } from '../../src/client/client.js';
import { nodeDialer } from '../../src/client/dialers/node.js';
import { ClientError } from '../../src/client/errors.js';
import { connectAsync } from '../../src/client/index.js';
import type { ClientOptions } from '../../src/client/options.js';
import { PacketType, type ProtocolVersion, type PublishPacket, ReasonCode } from '../../src/protocol/index.js';
import { listenTcp } from '../../src/transport/tcp.js';
import type { Listener } from '../../src/transport/types.js';
import { startBroker } from '../helpers/broker-harness.js';
import { waitUntil } from '../helpers/child.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { connectedClient, nextEvent, startClient, type Tracked, TrackingDialer, track, within } from './helpers/clients.js';
import { fakeServer } from './helpers/fake-server.js';
import { Mosquitto, noMosquitto } from './helpers/mosquitto.js';

type ServerName = 'mozzie' | 'mosquitto';

/** A broker of either kind that can be stopped (as a crash would) and started again on the same port. */
interface TestServer {
  readonly url: string;
  kill(): Promise<void>;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

async function startServer(name: ServerName, mozzie: BrokerOptions = {}, mosquitto: readonly string[] = []): Promise<TestServer> {
  if (name === 'mosquitto') {
    const m = await Mosquitto.start(mosquitto);
    return { url: m.url, kill: () => m.kill(), restart: () => m.restart(), stop: () => m.stop() };
  }
  let broker = new Broker({ sysInterval: 0, ...mozzie });
  const listen = (port: number) => listenTcp({ host: '127.0.0.1', port }, (stream, info) => broker.handle(stream, info));
  let listener: Listener | undefined = await listen(0);
  const port = listener.port;
  const kill = async () => {
    await broker.close();
    await listener?.close();
    listener = undefined;
  };
  return {
    url: `mqtt://127.0.0.1:${port}`,
    kill,
    async restart() {
      broker = new Broker({ sysInterval: 0, ...mozzie });
      listener = await listen(port);
    },
    stop: kill,
  };
}

/** A server for one test, stopped in its cleanup. */
async function serverFor(
  t: TestContext,
  name: ServerName,
  mozzie: BrokerOptions = {},
  mosquitto: readonly string[] = [],
): Promise<TestServer> {
  const s = await startServer(name, mozzie, mosquitto);
  t.after(() => s.stop());
  return s;
}

function base(version: ProtocolVersion, extra: ClientOptions = {}): ClientOptions {
  return { protocolVersion: version, keepAlive: 30, reconnect: { initial: 10, max: 40 }, ...extra };
}

/** Waits until `c` has received `n` messages (all of them, if more arrive meanwhile). */
async function received(c: Tracked, n: number, what = `${n} messages`): Promise<PublishPacket[]> {
  await waitUntil(() => c.messages.length >= n, what, 3000);
  return c.messages;
}

const payloads = (list: readonly PublishPacket[]) => list.map((m) => m.payload.toString());

// ---- the same cases against our broker and Mosquitto, v3.1.1 and v5 --------------------------------

for (const name of ['mozzie', 'mosquitto'] as const) {
  for (const version of [4, 5] as const) {
    describe(`${name} v${version}`, { skip: name === 'mosquitto' ? noMosquitto : false }, () => {
      let server: TestServer | undefined;
      let url = '';
      /** Unique per test: ids and topics never collide on the shared broker. */
      let n = 0;
      const unique = (what: string) => `${name}-v${version}-${what}-${++n}`;

      before(async () => {
        server = await startServer(name);
        url = server.url;
      });
      after(() => server?.stop());

      test('connectAsync resolves at CONNACK: connected, a clientId, and no errors', async (t) => {
        const client = await connectAsync(url, base(version));
        const c = track(t, client);
        assert.equal(client.connected, true);
        assert.ok(client.clientId.length > 0, 'a Client Identifier (ours, or assigned by the server in 5.0)');
        if (version === 4) assert.match(client.clientId, /^mozzie-/);
        assert.deepEqual(c.errors, []);
      });

      test('publish QoS 0, 1, 2: QoS 1 resolves at PUBACK, QoS 2 at PUBCOMP; a subscriber gets all three', async (t) => {
        const topic = unique('pub');
        const sub = await connectedClient(t, url, base(version));
        await sub.client.subscribe(topic, { qos: 2 });
        const pub = await connectedClient(t, url, base(version));
        const marks: string[] = pub.log;
        const r0 = await pub.client.publish(topic, 'zero', { qos: 0 });
        const r1 = await pub.client.publish(topic, 'one', { qos: 1 });
        marks.push('resolved 1');
        const r2 = await pub.client.publish(topic, 'two', { qos: 2 });
        marks.push('resolved 2');
        assert.equal(r0.reasonCode, 0);
        assert.ok(r1.reasonCode < 0x80 && r2.reasonCode < 0x80);
        const i = (s: string) => marks.indexOf(s);
        assert.ok(i('recv PUBACK') >= 0 && i('recv PUBACK') < i('resolved 1'), marks.join(' | '));
        assert.ok(i('recv PUBCOMP') > i('send PUBREL') && i('recv PUBCOMP') < i('resolved 2'), marks.join(' | '));
        const got = await received(sub, 3);
        assert.deepEqual(payloads(got), ['zero', 'one', 'two']);
        assert.deepEqual(
          got.map((m) => m.qos),
          [0, 1, 2],
        );
      });

      test('subscribe resolves with the granted QoS per filter; messages come at min(published, granted)', async (t) => {
        const prefix = unique('grant');
        const c = await connectedClient(t, url, base(version));
        const result = await c.client.subscribe({
          [`${prefix}/a`]: { qos: 2 },
          [`${prefix}/b`]: { qos: 1 },
          [`${prefix}/c`]: { qos: 0 },
        });
        assert.deepEqual(result.reasonCodes, [2, 1, 0]);
        const pub = await connectedClient(t, url, base(version));
        for (const x of ['a', 'b', 'c']) await pub.client.publish(`${prefix}/${x}`, x, { qos: 2 });
        const got = await received(c, 3);
        assert.deepEqual(
          got.map((m) => [m.topic, m.qos]),
          [
            [`${prefix}/a`, 2],
            [`${prefix}/b`, 1],
            [`${prefix}/c`, 0],
          ],
        );
      });

      test('unsubscribe resolves (5.0: a Reason Code per filter) and delivery stops', async (t) => {
        const prefix = unique('unsub');
        const c = await connectedClient(t, url, base(version));
        await c.client.subscribe([`${prefix}/gone`, `${prefix}/kept`], { qos: 1 });
        const result = await c.client.unsubscribe([`${prefix}/gone`, `${prefix}/never`]);
        if (version === 5) assert.deepEqual(result.reasonCodes, [0, ReasonCode.NoSubscriptionExisted]);
        else assert.deepEqual(result.reasonCodes, []);
        const pub = await connectedClient(t, url, base(version));
        await pub.client.publish(`${prefix}/gone`, 'not for us', { qos: 1 });
        await pub.client.publish(`${prefix}/kept`, 'barrier', { qos: 1 });
        const got = await received(c, 1);
        assert.deepEqual(payloads(got), ['barrier']);
      });

      test('messages(filter) yields matching messages in order; return() and end() finish iterators', async (t) => {
        const prefix = unique('iter');
        const c = await connectedClient(t, url, base(version));
        await c.client.subscribe(`${prefix}/#`, { qos: 1 });
        const it = c.client.messages(`${prefix}/a/+`);
        const all = c.client.messages();
        const pub = await connectedClient(t, url, base(version));
        for (const topic of ['b/1', 'a/1', 'a/x/deep', 'a/2']) await pub.client.publish(`${prefix}/${topic}`, topic, { qos: 1 });
        const first = await within(it.next(), 2000, 'first message');
        const second = await within(it.next(), 2000, 'second message');
        assert.deepEqual([first.value?.topic, second.value?.topic], [`${prefix}/a/1`, `${prefix}/a/2`]);
        assert.deepEqual(await it.return?.(), { value: undefined, done: true });
        assert.deepEqual(await it.next(), { value: undefined, done: true });
        const seen: string[] = [];
        for await (const m of all) {
          seen.push(m.payload.toString());
          if (seen.length === 4) break;
        }
        assert.deepEqual(seen, ['b/1', 'a/1', 'a/x/deep', 'a/2']);
        const waiting = c.client.messages().next();
        await c.client.end();
        assert.deepEqual(await within(waiting, 2000, 'iterator end'), { value: undefined, done: true });
      });

      test('events: connect, message (topic, payload, packet), packetsend/packetreceive, then DISCONNECT, close, end', async (t) => {
        const topic = unique('events');
        const c = startClient(t, url, base(version));
        const [connack] = await nextEvent(c.client, 'connect');
        assert.equal(connack.reasonCode, 0);
        await c.connected;
        const message = new Promise<[string, Buffer, PublishPacket]>((resolve) => c.client.once('message', (...args) => resolve(args)));
        await c.client.subscribe(topic, { qos: 1 });
        await c.client.publish(topic, Buffer.from([1, 2, 3]), { qos: 1 });
        const [tp, payload, packet] = await within(message, 2000, 'message event');
        assert.equal(tp, topic);
        assert.deepEqual([...payload], [1, 2, 3]);
        assert.equal(packet.topic, topic);
        await c.client.end();
        const tail = c.log.slice(c.log.indexOf('send DISCONNECT'));
        assert.deepEqual(tail, ['send DISCONNECT', 'close', 'offline', 'end']);
        assert.ok(c.log.indexOf('connect') < c.log.indexOf('send SUBSCRIBE'));
        assert.deepEqual(c.errors, []);
        await assert.rejects(c.client.publish(topic, 'late'), { code: 'CLIENT_ENDED' });
      });

      test('end() waits for QoS 1 and QoS 2 in flight, then sends DISCONNECT', async (t) => {
        const topic = unique('end');
        const sub = await connectedClient(t, url, base(version));
        await sub.client.subscribe(topic, { qos: 2 });
        const c = await connectedClient(t, url, base(version));
        const p1 = c.client.publish(topic, 'last-1', { qos: 1 });
        const p2 = c.client.publish(topic, 'last-2', { qos: 2 });
        await c.client.end();
        const [r1, r2] = await Promise.all([p1, p2]);
        assert.ok(r1.reasonCode < 0x80 && r2.reasonCode < 0x80);
        const disconnect = c.log.indexOf('send DISCONNECT');
        assert.ok(c.log.indexOf('recv PUBACK') < disconnect && c.log.indexOf('recv PUBCOMP') < disconnect, c.log.join(' | '));
        assert.deepEqual(payloads(await received(sub, 2)), ['last-1', 'last-2']);
      });

      test('a clean=false session: after the network drops, the reconnect finds the session and messages queued meanwhile arrive', async (t) => {
        const topic = unique('resume');
        const dialer = new TrackingDialer();
        const id = unique('resume-id');
        const c = await connectedClient(
          t,
          url,
          base(version, {
            clientId: id,
            clean: false,
            dialer: dialer.dialer,
            ...(version === 5 ? { properties: { sessionExpiryInterval: 300 } } : {}),
          }),
        );
        await c.client.subscribe(topic, { qos: 1 });
        dialer.hold();
        const offline = nextEvent(c.client, 'offline');
        dialer.cut();
        await offline;
        const pub = await connectedClient(t, url, base(version));
        for (const p of ['q1', 'q2', 'q3']) await pub.client.publish(topic, p, { qos: 1 });
        const reconnected = nextEvent(c.client, 'connect');
        dialer.open();
        const [connack] = await reconnected;
        assert.equal(connack.sessionPresent, true);
        const got = await received(c, 3);
        assert.deepEqual([...new Set(payloads(got))], ['q1', 'q2', 'q3']);
        const resubscribed = c.sends.filter((s) => s.connection === 2 && s.packet.type === PacketType.Subscribe);
        assert.deepEqual(resubscribed, [], 'the server kept the subscription: no SUBSCRIBE');
      });

      test('will: published when the connection drops, not after a normal end()', async (t) => {
        const topic = unique('will');
        const watcher = await connectedClient(t, url, base(version));
        await watcher.client.subscribe([topic, `${topic}/barrier`], { qos: 1 });
        const will = { topic, payload: 'gone', qos: 1 as const };
        const polite = await connectedClient(t, url, base(version, { will: { ...will, payload: 'polite' } }));
        await polite.client.end();
        await watcher.client.publish(`${topic}/barrier`, 'barrier', { qos: 1 });
        await received(watcher, 1);
        const dialer = new TrackingDialer();
        await connectedClient(t, url, base(version, { will, dialer: dialer.dialer, reconnect: false }));
        dialer.cut();
        const got = await received(watcher, 2);
        assert.deepEqual(payloads(got), ['barrier', 'gone']);
        assert.equal(got[1]?.topic, topic);
      });

      if (version === 5) {
        test('v5 properties out and in: user properties, response topic, correlation data, expiry, content type, subscription identifier', async (t) => {
          const topic = unique('props');
          const c = await connectedClient(t, url, base(5));
          await c.client.subscribe(topic, { qos: 1, properties: { subscriptionIdentifier: 42 } });
          await c.client.publish(topic, '{"x":1}', {
            qos: 1,
            properties: {
              userProperties: [
                ['k', 'v'],
                ['k', 'w'],
              ],
              responseTopic: `${topic}/reply`,
              correlationData: Buffer.from([0xca, 0xfe]),
              messageExpiryInterval: 120,
              contentType: 'application/json',
              payloadFormatIndicator: 1,
            },
          });
          const [m] = await received(c, 1);
          const p = m?.properties;
          assert.deepEqual(p?.userProperties, [
            ['k', 'v'],
            ['k', 'w'],
          ]);
          assert.equal(p?.responseTopic, `${topic}/reply`);
          assert.deepEqual([...(p?.correlationData ?? [])], [0xca, 0xfe]);
          assert.ok((p?.messageExpiryInterval ?? 0) > 100 && (p?.messageExpiryInterval ?? 0) <= 120, `expiry ${p?.messageExpiryInterval}`);
          assert.equal(p?.contentType, 'application/json');
          assert.equal(p?.payloadFormatIndicator, 1);
          assert.deepEqual(p?.subscriptionIdentifiers, [42]);
        });

        test('v5: no Client Identifier: the server assigns one and the client uses it', async (t) => {
          const c = startClient(t, url, base(5));
          const [connack] = await nextEvent(c.client, 'connect');
          const assigned = connack.properties?.assignedClientIdentifier;
          assert.ok(assigned !== undefined && assigned.length > 0);
          assert.equal(c.client.clientId, assigned);
        });

        test('[MQTT-3.2.2-21/5.0] Server Keep Alive from the broker replaces the Keep Alive the client asked for', async (t) => {
          const s = await serverFor(t, name, { limits: { maxKeepAlive: 10 } }, ['max_keepalive 10']);
          const c = await connectedClient(t, s.url, base(5, { keepAlive: 60 }));
          assert.equal(c.client.keepAlive, 10);
        });

        test('v5: end({ reasonCode: 0x04 }) asks the server to publish the will', async (t) => {
          const topic = unique('will4');
          const watcher = await connectedClient(t, url, base(5));
          await watcher.client.subscribe(topic, { qos: 1 });
          const c = await connectedClient(t, url, base(5, { will: { topic, payload: 'with will' } }));
          await c.client.end({ reasonCode: ReasonCode.DisconnectWithWillMessage });
          assert.deepEqual(payloads(await received(watcher, 1)), ['with will']);
        });
      }

      const refusal = version === 5 ? ReasonCode.NotAuthorized : 5;
      test(`anonymous refused: connectAsync rejects with CONNECTION_REFUSED (${version === 5 ? '0x87' : 'rc 5'}), and a permanent refusal stops reconnecting`, async (t) => {
        const s = await serverFor(t, name, { allowAnonymous: false }, ['allow_anonymous false']);
        await assert.rejects(connectAsync(s.url, base(version)), (e: unknown) => {
          assert.ok(e instanceof ClientError);
          assert.equal(e.code, 'CONNECTION_REFUSED');
          assert.equal(e.reasonCode, refusal);
          assert.match(e.message, /not authori[sz]ed/i);
          return true;
        });
        const clock = new FakeClock();
        const dialer = new TrackingDialer();
        const c = startClient(t, s.url, base(version, { clock, dialer: dialer.dialer, reconnect: { initial: 1000 } }));
        await assert.rejects(c.connected, { code: 'CONNECTION_REFUSED' });
        await waitUntil(() => c.log.includes('close'), 'the refused connection to close');
        assert.equal(clock.pending, 0, 'no reconnect scheduled');
        clock.advance(300_000);
        assert.equal(dialer.dials, 1);
      });

      test('reconnect with backoff after the broker restarts (fake clock): 1 s, 2 s, 4 s; resubscribes; queued publish delivered', async (t) => {
        const s = await serverFor(t, name);
        const topic = unique('restart');
        const clock = new FakeClock();
        const dialer = new TrackingDialer();
        const c = await connectedClient(
          t,
          s.url,
          base(version, { clock, dialer: dialer.dialer, keepAlive: 0, reconnect: { initial: 1000, max: 8000, jitter: 0 } }),
        );
        await c.client.subscribe(topic, { qos: 1 });
        const delays: number[] = [];
        c.client.on('reconnect', (_attempt, delay) => delays.push(delay));
        const offline = nextEvent(c.client, 'offline');
        await s.kill();
        await offline;
        const queued = c.client.publish(topic, 'while down', { qos: 1 });
        const failedDials = () => c.errors.filter((e) => e.code === 'DIAL_FAILED').length;
        clock.advance(999);
        assert.equal(dialer.dials, 1, 'no attempt before the first delay');
        clock.advance(1);
        await waitUntil(() => failedDials() === 1, 'the first attempt to fail');
        clock.advance(1999);
        assert.equal(dialer.dials, 2);
        clock.advance(1);
        await waitUntil(() => failedDials() === 2, 'the second attempt to fail');
        await s.restart();
        const back = nextEvent(c.client, 'connect');
        clock.advance(4000);
        await back;
        assert.deepEqual(delays, [1000, 2000, 4000]);
        assert.ok((await within(queued, 3000, 'queued publish')).reasonCode < 0x80);
        assert.deepEqual(payloads(await received(c, 1)), ['while down'], 'resubscribed: our own message came back');
      });
    });
  }
}

// ---- our broker only: what Mosquitto 2.0.11 does not do --------------------------------------------

test('v5 session takeover: DISCONNECT 0x8E surfaces as SERVER_DISCONNECT with its code; the client does not reconnect', async (t) => {
  // Mosquitto 2.0.11 closes a taken-over connection without DISCONNECT, so this runs on our broker only.
  const h = await startBroker();
  t.after(() => h.stop());
  const clock = new FakeClock();
  const first = await connectedClient(t, h.url, base(5, { clientId: 'taken', clock }));
  const disconnect = nextEvent(first.client, 'disconnect');
  await connectedClient(t, h.url, base(5, { clientId: 'taken' }));
  const [packet] = await disconnect;
  assert.equal(packet.reasonCode, ReasonCode.SessionTakenOver);
  await waitUntil(() => first.log.includes('close'), 'the old connection to close');
  const e = first.errors.find((x) => x.code === 'SERVER_DISCONNECT');
  assert.equal(e?.reasonCode, ReasonCode.SessionTakenOver);
  assert.match(e?.message ?? '', /taken over/i);
  assert.equal(clock.pending, 0, 'no reconnect scheduled');
  assert.equal(h.broker.isConnected('taken'), true, 'the new connection keeps the session');
});

for (const version of [4, 5] as const) {
  test(`v${version}: subscribe rejects with SUBSCRIBE_FAILED when every filter fails, and resolves with the codes when some do`, async (t) => {
    // Mosquitto's default access control never fails a SUBSCRIBE (denied filters are granted and filtered
    // on delivery), so failures come from our broker with wildcard subscriptions turned off.
    const h = await startBroker({ capabilities: { wildcardSubscriptionAvailable: false } });
    t.after(() => h.stop());
    const c = await connectedClient(t, h.url, base(version));
    const failure = version === 5 ? ReasonCode.WildcardSubscriptionsNotSupported : 0x80;
    await assert.rejects(c.client.subscribe(['w/#', 'w/+/x']), (e: unknown) => {
      assert.ok(e instanceof ClientError);
      assert.equal(e.code, 'SUBSCRIBE_FAILED');
      assert.equal(e.reasonCode, failure);
      return true;
    });
    const partial = await c.client.subscribe(['w/plain', 'w/#'], { qos: 1 });
    assert.deepEqual(partial.reasonCodes, [1, failure]);
  });
}

// ---- against a scripted server ---------------------------------------------------------------------

test('[MQTT-3.14.4-1/3.1.1] [MQTT-3.14.4-2/3.1.1] [MQTT-3.14.4-1/5.0] [MQTT-3.14.4-2/5.0] end(): DISCONNECT is the last packet, then the client closes the connection', async (t) => {
  for (const version of [4, 5] as const) {
    const server = await fakeServer(t);
    const c = await connectedClient(t, server.url, base(version));
    await c.client.subscribe('x');
    await c.client.publish('x', 'y', { qos: 1 });
    await c.client.end();
    const conn = server.connections[0];
    assert.ok(conn !== undefined);
    await server.waitFor(() => conn.closed, 'the connection to close');
    assert.equal(conn.received.at(-1)?.type, PacketType.Disconnect, `v${version}`);
    assert.equal(server.connections.length, 1, 'and no new connection');
  }
});

test('end() waits for delayed PUBACK / PUBCOMP; end({ force: true }) does not, failing them with CLIENT_ENDED', async (t) => {
  const server = await fakeServer(t, { ackDelayMs: 60 });
  const patient = await connectedClient(t, server.url, base(5));
  const p1 = patient.client.publish('slow', 'a', { qos: 1 });
  const p2 = patient.client.publish('slow', 'b', { qos: 2 });
  await patient.client.end();
  assert.ok((await p1).reasonCode === 0 && (await p2).reasonCode === 0);
  assert.equal(server.connections[0]?.received.at(-1)?.type, PacketType.Disconnect);

  const slower = await fakeServer(t, { ackDelayMs: 5_000 });
  const hasty = await connectedClient(t, slower.url, base(5));
  const p3 = hasty.client.publish('slow', 'c', { qos: 1 });
  const started = Date.now();
  await hasty.client.end({ force: true });
  assert.ok(Date.now() - started < 2_000, 'force: no waiting for the 5 s ack');
  await assert.rejects(p3, { code: 'CLIENT_ENDED' });
});

test('end({ timeout }) stops waiting for acks that never come', async (t) => {
  const server = await fakeServer(t, { ackDelayMs: 60_000 });
  const c = await connectedClient(t, server.url, base(5));
  const p = c.client.publish('never', 'acked', { qos: 1 });
  const started = Date.now();
  await c.client.end({ timeout: 100 });
  const took = Date.now() - started;
  assert.ok(took >= 90 && took < 1500, `end took ${took} ms`);
  await assert.rejects(p, { code: 'CLIENT_ENDED' });
});

test('[MQTT-3.1.3-7/3.1.1] v4: a zero-length Client Identifier needs Clean Session 1: with clean=false the client refuses to start', async (t) => {
  assert.throws(
    () => new MqttClient('mqtt://127.0.0.1:1', { protocolVersion: 4, clientId: '', clean: false, dialer: nodeDialer }),
    (e: unknown) => e instanceof ClientError && e.code === 'INVALID_ARGUMENT' && /clean/i.test(e.message),
  );
  const server = await fakeServer(t);
  await connectedClient(t, server.url, base(4, { clientId: '', clean: true }));
  const connect = server.connections[0]?.connect;
  assert.deepEqual([connect?.clientId, connect?.clean], ['', true]);
});

test('[MQTT-3.1.2-30/5.0] [MQTT-4.12.0-3/5.0] [MQTT-4.12.1-1/5.0] enhanced auth: only AUTH before CONNACK, AUTH 0x18 answers a challenge, reauthenticate sends 0x19', async (t) => {
  const server = await fakeServer(t, {
    connack: () => 'silent',
    intercept: (conn, p) => {
      if (p.type === PacketType.Connect) {
        // Challenge first; CONNACK only after the client's answer.
        setImmediate(() =>
          conn.send({
            type: PacketType.Auth,
            reasonCode: ReasonCode.ContinueAuthentication,
            properties: { authenticationMethod: 'TEST', authenticationData: Buffer.from('challenge') },
          }),
        );
        return false;
      }
      if (p.type === PacketType.Auth && p.reasonCode === ReasonCode.ContinueAuthentication) {
        conn.send({ type: PacketType.Connack, sessionPresent: false, reasonCode: 0 });
        return true;
      }
      return p.type === PacketType.Auth;
    },
  });
  const challenges: string[] = [];
  const c = startClient(
    t,
    server.url,
    base(5, {
      properties: { authenticationMethod: 'TEST', authenticationData: Buffer.from('hello') },
      auth: ({ data }) => {
        challenges.push(Buffer.from(data ?? []).toString());
        return Buffer.from('response');
      },
    }),
  );
  const early = c.client.publish('auth/t', 'queued before CONNACK', { qos: 1 });
  await within(c.connected, 3000, 'CONNACK after the AUTH exchange');
  assert.deepEqual(challenges, ['challenge']);
  const conn = server.connections[0];
  assert.ok(conn !== undefined);
  const beforeConnack = conn.received.slice(0, 2);
  assert.deepEqual(
    beforeConnack.map((p) => p.type),
    [PacketType.Connect, PacketType.Auth],
  );
  const answer = beforeConnack[1];
  assert.ok(answer?.type === PacketType.Auth);
  assert.equal(answer.reasonCode, ReasonCode.ContinueAuthentication);
  assert.equal(answer.properties?.authenticationMethod, 'TEST');
  assert.equal(answer.properties?.authenticationData?.toString(), 'response');
  assert.ok((await within(early, 2000, 'publish')).reasonCode === 0);
  await c.client.reauthenticate(Buffer.from('again'));
  await server.waitFor(
    () => conn.received.some((p) => p.type === PacketType.Auth && p.reasonCode === ReasonCode.ReAuthenticate),
    'AUTH 0x19',
  );
});

test('[MQTT-4.12.0-7/5.0] without an Authentication Method the client never sends AUTH: reauthenticate() is refused', async (t) => {
  const server = await fakeServer(t);
  const c = await connectedClient(t, server.url, base(5));
  await assert.rejects(c.client.reauthenticate(), { code: 'INVALID_ARGUMENT' });
  await c.client.publish('x', 'y', { qos: 1 });
  assert.equal(
    server.connections[0]?.received.some((p) => p.type === PacketType.Auth),
    false,
  );
});

test('[MQTT-4.12.1-1/5.0] reauthenticate() only after CONNACK: while disconnected it is refused, and the next connection starts with CONNECT', async (t) => {
  const server = await fakeServer(t);
  const dialer = new TrackingDialer();
  const c = await connectedClient(
    t,
    server.url,
    base(5, { dialer: dialer.dialer, properties: { authenticationMethod: 'TEST' }, auth: () => Buffer.from('r') }),
  );
  dialer.hold();
  const offline = nextEvent(c.client, 'offline');
  dialer.cut();
  await offline;
  await assert.rejects(c.client.reauthenticate(Buffer.from('now?')), { code: 'CONNECTION_LOST' });
  const back = nextEvent(c.client, 'connect');
  dialer.open();
  await back;
  const second = server.connections[1];
  assert.equal(second?.received[0]?.type, PacketType.Connect, 'CONNECT is the first packet');
  assert.equal(
    second?.received.some((p) => p.type === PacketType.Auth),
    false,
  );
});
