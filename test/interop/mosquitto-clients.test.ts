/**
 * Interop with Eclipse Mosquitto's command-line clients (Debian mosquitto-clients 2.0.11): mosquitto_sub
 * and mosquitto_pub as separate processes against the broker on an ephemeral loopback port, asserting
 * exactly what they print and how they exit.
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { existsSync } from 'node:fs';
import { type TestContext, test } from 'node:test';
import type { TcpHarness } from '../helpers/broker-harness.js';
import { type Spawned, spawnTracked, waitUntil } from '../helpers/child.js';
import { brokerFor } from './mqttjs-support.js';

const SUB = '/usr/bin/mosquitto_sub';
const PUB = '/usr/bin/mosquitto_pub';
const missing = !existsSync(SUB) || !existsSync(PUB) ? 'mosquitto-clients (mosquitto_sub, mosquitto_pub) not installed' : false;

const versions = [
  { flag: '31', level: 3 },
  { flag: '311', level: 4 },
  { flag: '5', level: 5 },
] as const;

function sub(t: TestContext, h: TcpHarness, args: readonly string[]): Spawned {
  return spawnTracked(t, SUB, ['-h', '127.0.0.1', '-p', String(h.port), ...args]);
}

/** Runs mosquitto_pub to completion and checks it succeeded. */
async function pub(t: TestContext, h: TcpHarness, args: readonly string[], stdin?: string): Promise<void> {
  const p = spawnTracked(t, PUB, ['-h', '127.0.0.1', '-p', String(h.port), ...args], stdin === undefined ? {} : { stdin });
  const exit = await p.exit();
  assert.deepEqual(exit, { code: 0, signal: null }, `${p.describe()}\n${p.output()}`);
}

/** Waits until `clientId` is connected with at least `n` subscriptions, so later publishes match. */
async function subscribed(h: TcpHarness, clientId: string, n = 1): Promise<void> {
  await waitUntil(
    () => h.broker.isConnected(clientId) && (h.broker.sessions.get(clientId)?.subscriptions.size ?? 0) >= n,
    `${clientId} to subscribe`,
  );
}

/** Waits for a mosquitto_sub with -C to exit 0 and returns what it printed. */
async function output(p: Spawned): Promise<string> {
  const exit = await p.exit();
  assert.deepEqual(exit, { code: 0, signal: null }, `${p.describe()}\n${p.output()}`);
  assert.equal(p.stderr, '', 'nothing on stderr');
  return p.stdout;
}

test('[MQTT-3.8.4-8/5.0] [MQTT-3.8.4-6/3.1.1] mosquitto_sub/pub -V 31, 311, 5 with -q 0/1/2: -v output, and QoS at min(published, granted)', {
  skip: missing,
}, async (t) => {
  const h = await brokerFor(t);
  for (const v of versions) {
    const verbose = sub(t, h, ['-V', v.flag, '-i', `sv${v.flag}`, '-q', '2', '-t', 'mz/#', '-v', '-C', '3']);
    const formatted = sub(t, h, ['-V', v.flag, '-i', `sf${v.flag}`, '-q', '1', '-t', 'mz/#', '-F', '%t|%q|%r|%p', '-C', '3']);
    await subscribed(h, `sv${v.flag}`);
    await subscribed(h, `sf${v.flag}`);
    assert.equal(h.broker.sessions.get(`sv${v.flag}`)?.protocolVersion, v.level);
    for (const q of [0, 1, 2]) await pub(t, h, ['-V', v.flag, '-q', String(q), '-t', `mz/q${q}`, '-m', `hello v${v.flag} q${q}`]);
    assert.equal(
      await output(verbose),
      `mz/q0 hello v${v.flag} q0\nmz/q1 hello v${v.flag} q1\nmz/q2 hello v${v.flag} q2\n`,
      `-V ${v.flag}`,
    );
    assert.equal(
      await output(formatted),
      `mz/q0|0|0|hello v${v.flag} q0\nmz/q1|1|0|hello v${v.flag} q1\nmz/q2|1|0|hello v${v.flag} q2\n`,
      `-V ${v.flag}: granted QoS 1 caps QoS 2 messages [MQTT-3.8.4-8]`,
    );
  }
});

test('[MQTT-3.3.1-5/5.0] [MQTT-3.3.1-6] mosquitto_pub -r retains; a later mosquitto_sub -C 1 gets it with RETAIN 1; -n clears it', {
  skip: missing,
}, async (t) => {
  const h = await brokerFor(t);
  for (const v of versions) {
    const topic = `ret/v${v.flag}`;
    await pub(t, h, ['-V', v.flag, '-q', '1', '-r', '-t', topic, '-m', 'first']);
    await pub(t, h, ['-V', v.flag, '-q', '1', '-r', '-t', topic, '-m', `kept ${v.flag}`]);
    const late = sub(t, h, ['-V', v.flag, '-t', topic, '-v', '-C', '1']);
    assert.equal(await output(late), `${topic} kept ${v.flag}\n`);
    const flags = sub(t, h, ['-V', v.flag, '-q', '1', '-t', topic, '-F', '%r %q %p', '-C', '1']);
    assert.equal(await output(flags), `1 1 kept ${v.flag}\n`);

    // An empty retained message removes it: --retained-only exits at the first non-retained message,
    // having printed nothing.
    await pub(t, h, ['-V', v.flag, '-r', '-n', '-t', topic]);
    const after = sub(t, h, ['-V', v.flag, '-i', `ro${v.flag}`, '-t', topic, '-t', `marker/${v.flag}`, '--retained-only', '-v']);
    await subscribed(h, `ro${v.flag}`, 2);
    await pub(t, h, ['-V', v.flag, '-t', `marker/${v.flag}`, '-m', 'end']);
    assert.equal(await output(after), '', 'nothing retained is left');
  }
  assert.equal(h.broker.retained.size, 0);
});

test('[MQTT-3.3.1-9/3.1.1] [MQTT-3.3.1-12/5.0] mosquitto_sub -R still prints a retained publish on an established subscription (RETAIN 0)', {
  skip: missing,
}, async (t) => {
  const h = await brokerFor(t);
  for (const v of versions) {
    const s = sub(t, h, ['-V', v.flag, '-i', `R${v.flag}`, '-t', `live/${v.flag}`, '-R', '-F', '%r %p', '-C', '1']);
    await subscribed(h, `R${v.flag}`);
    await pub(t, h, ['-V', v.flag, '-r', '-t', `live/${v.flag}`, '-m', 'fresh']);
    assert.equal(await output(s), '0 fresh\n');
  }
});

test('mosquitto_sub -N -v: no newline after each message (and an empty payload prints nothing under -N)', { skip: missing }, async (t) => {
  const h = await brokerFor(t);
  const s = sub(t, h, ['-i', 'nsub', '-t', 'fmt/#', '-v', '-N', '-C', '3']);
  await subscribed(h, 'nsub');
  await pub(t, h, ['-t', 'fmt/a', '-m', 'one two']);
  await pub(t, h, ['-t', 'fmt/b', '-n']);
  await pub(t, h, ['-t', 'fmt/c/d', '-m', 'three']);
  // mosquitto_sub prints "topic (null)" for an empty payload only when it ends lines; -N prints nothing.
  assert.equal(await output(s), 'fmt/a one twofmt/c/d three');
});

test('[MQTT-3.3.2-15] [MQTT-3.3.2-16] [MQTT-3.3.2-17] [MQTT-3.3.2-18] [MQTT-3.3.2-20] mosquitto_pub -D publish properties arrive unaltered at mosquitto_sub -V 5', {
  skip: missing,
}, async (t) => {
  const h = await brokerFor(t);
  const s = sub(t, h, ['-V', '5', '-i', 'dsub', '-t', 'props/#', '-F', 'topic=%t payload=%p props=%P ct=%C rt=%R cd=%D exp=%E', '-C', '1']);
  await subscribed(h, 'dsub');
  await pub(t, h, [
    ...['-V', '5', '-q', '1', '-t', 'props/x', '-m', 'with props'],
    ...['-D', 'publish', 'user-property', 'a', 'b'],
    ...['-D', 'publish', 'user-property', 'c', 'd'],
    ...['-D', 'publish', 'user-property', 'a', 'again'],
    ...['-D', 'publish', 'content-type', 'text/plain'],
    ...['-D', 'publish', 'response-topic', 'reply/here'],
    ...['-D', 'publish', 'correlation-data', 'corr-42'],
    ...['-D', 'publish', 'message-expiry-interval', '3600'],
    ...['-D', 'publish', 'payload-format-indicator', '1'],
  ]);
  assert.equal(await output(s), 'topic=props/x payload=with props props=a:b c:d a:again ct=text/plain rt=reply/here cd=corr-42 exp=3600\n');
});

test('mosquitto_sub -F %j: JSON output carries the v5 properties the broker forwarded', { skip: missing }, async (t) => {
  const h = await brokerFor(t);
  const s = sub(t, h, ['-V', '5', '-i', 'jsub', '-q', '2', '-t', 'json/#', '-F', '%j', '-C', '1']);
  await subscribed(h, 'jsub');
  await pub(t, h, ['-V', '5', '-q', '2', '-t', 'json/1', '-m', '{"v":1}', '-D', 'publish', 'user-property', 'k', 'v']);
  const line = (await output(s)).trim();
  const parsed: unknown = JSON.parse(line);
  assert.ok(typeof parsed === 'object' && parsed !== null);
  const { tst, mid, ...rest } = parsed as Record<string, unknown>;
  assert.equal(typeof tst, 'string', 'a timestamp');
  assert.ok(typeof mid === 'number' && mid > 0, 'a QoS 2 message has a Packet Identifier');
  assert.deepEqual(rest, {
    topic: 'json/1',
    qos: 2,
    retain: 0,
    payloadlen: 7,
    properties: { 'user-properties': { k: 'v' } },
    payload: '{"v":1}',
  });
});

test('mosquitto_pub -l sends one message per line (blank lines as empty messages)', { skip: missing }, async (t) => {
  const h = await brokerFor(t);
  const s = sub(t, h, ['-i', 'lsub', '-q', '1', '-t', 'lines', '-F', '[%p]', '-C', '4']);
  await subscribed(h, 'lsub');
  await pub(t, h, ['-q', '1', '-t', 'lines', '-l'], 'one\ntwo words\n\nthree\n');
  assert.equal(await output(s), '[one]\n[two words]\n[]\n[three]\n');
});

test('mosquitto_pub -s sends all of stdin as one message, bytes intact', { skip: missing }, async (t) => {
  const h = await brokerFor(t);
  const s = sub(t, h, ['-i', 'ssub', '-t', 'stdin', '-F', '%l:%x', '-C', '1']);
  await subscribed(h, 'ssub');
  await pub(t, h, ['-t', 'stdin', '-s'], 'a\nb\n\u00e9');
  assert.equal(await output(s), `6:${Buffer.from('a\nb\n\u00e9').toString('hex')}\n`);
});

test('[MQTT-3.1.2-8] [MQTT-3.1.2-10] mosquitto_sub --will-*: published when the client is killed; on SIGINT only for 5.0 (DISCONNECT 0x04)', {
  skip: missing,
}, async (t) => {
  const h = await brokerFor(t);
  for (const v of versions) {
    const v5 = v.level === 5;
    const watcher = sub(t, h, [
      '-V',
      v.flag,
      '-i',
      `ww${v.flag}`,
      '-q',
      '1',
      '-t',
      `will/${v.flag}/#`,
      '-F',
      '%t %q %r %p',
      '-C',
      v5 ? '3' : '2',
    ]);
    await subscribed(h, `ww${v.flag}`);
    const willArgs = (name: string) => ['--will-topic', `will/${v.flag}/${name}`, '--will-payload', `${name} gone`, '--will-qos', '1'];
    const polite = sub(t, h, ['-V', v.flag, '-i', `wp${v.flag}`, '-t', 'ignored', ...willArgs('polite')]);
    const killed = sub(t, h, ['-V', v.flag, '-i', `wk${v.flag}`, '-t', 'ignored', ...willArgs('killed')]);
    const retained = sub(t, h, ['-V', v.flag, '-i', `wr${v.flag}`, '-t', 'ignored', ...willArgs('retained'), '--will-retain']);
    await subscribed(h, `wp${v.flag}`);
    await subscribed(h, `wk${v.flag}`);
    await subscribed(h, `wr${v.flag}`);

    // On SIGINT mosquitto_sub sends DISCONNECT: in 3.1/3.1.1 a normal one, which discards the Will
    // ([MQTT-3.1.2-10]); in 5.0 with Reason Code 0x04 (Disconnect with Will Message), which asks for it.
    assert.deepEqual(await polite.kill('SIGINT'), { code: 0, signal: null });
    await waitUntil(() => !h.broker.isConnected(`wp${v.flag}`), 'the polite client to leave');
    if (v5) await waitUntil(() => watcher.stdout.length > 0, 'the 0x04 Will');
    assert.deepEqual(await killed.kill('SIGKILL'), { code: null, signal: 'SIGKILL' });
    await waitUntil(() => !h.broker.isConnected(`wk${v.flag}`), 'the killed client to be noticed');
    await retained.kill('SIGKILL');
    // An established subscription sees the Will as any message: RETAIN 0.
    assert.equal(
      await output(watcher),
      `${v5 ? `will/5/polite 1 0 polite gone\n` : ''}will/${v.flag}/killed 1 0 killed gone\nwill/${v.flag}/retained 1 0 retained gone\n`,
    );

    // [MQTT-3.1.2-15/5.0] [MQTT-3.1.2-17/3.1.1] A retained Will is stored as a retained message.
    const late = sub(t, h, ['-V', v.flag, '-t', `will/${v.flag}/#`, '-F', '%t %r %p', '-C', '1']);
    assert.equal(await output(late), `will/${v.flag}/retained 1 retained gone\n`);
  }
});

test('[MQTT-3.1.2-5] mosquitto_sub -c: a persistent session gets the QoS 1 messages published while it was away', {
  skip: missing,
}, async (t) => {
  const h = await brokerFor(t);
  for (const v of versions) {
    const id = `pc${v.flag}`;
    // -E: exit as soon as the subscription is acknowledged.
    const first = sub(t, h, ['-V', v.flag, '-c', '-i', id, '-q', '1', '-t', `away/${v.flag}/#`, '-E']);
    assert.equal(await output(first), '');
    await waitUntil(() => !h.broker.isConnected(id), 'the session to go offline');
    assert.ok(h.broker.sessions.has(id), 'the session outlives the connection');
    await pub(t, h, ['-V', v.flag, '-q', '1', '-t', `away/${v.flag}/a`, '-m', 'while away 1']);
    await pub(t, h, ['-V', v.flag, '-q', '2', '-t', `away/${v.flag}/b`, '-m', 'while away 2']);
    const back = sub(t, h, ['-V', v.flag, '-c', '-i', id, '-q', '1', '-t', `away/${v.flag}/#`, '-v', '-C', '2']);
    assert.equal(await output(back), `away/${v.flag}/a while away 1\naway/${v.flag}/b while away 2\n`);
  }
});

test('mosquitto_sub/pub are refused when anonymous access is off: rc 5 (3.1, 3.1.1) and 0x87 (5.0)', { skip: missing }, async (t) => {
  const h = await brokerFor(t, { allowAnonymous: false });
  const expected = {
    '31': { code: 5, message: 'Connection error: Connection Refused: not authorised.\n' },
    '311': { code: 5, message: 'Connection error: Connection Refused: not authorised.\n' },
    '5': { code: 135, message: 'Connection error: Not authorized\n' },
  } as const;
  for (const v of versions) {
    const s = sub(t, h, ['-V', v.flag, '-t', 'x']);
    const exit = await s.exit();
    assert.deepEqual(exit, { code: expected[v.flag].code, signal: null }, s.output());
    assert.equal(s.stderr, expected[v.flag].message);
    assert.equal(s.stdout, '');
  }
  assert.equal(h.broker.connectedCount, 0);
});
