/**
 * The ACL file: the filter algebra (within / intersects), parsing with line-numbered errors, the rules
 * (general, per user, %u / %c patterns, deny, subscribe-within-pattern), and the broker's answers to a
 * denied SUBSCRIBE and PUBLISH in 3.1.1 and 5.0, with our packet client, MQTT.js and mosquitto_pub/sub.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { type TestContext, test } from 'node:test';
import { Acl, type AclSubject } from '../../src/auth/acl.js';
import { filtersIntersect, filterWithin, levels } from '../../src/auth/filters.js';
import { PacketType } from '../../src/protocol/index.js';
import { spawnTracked, waitUntil } from '../helpers/child.js';
import { Inbox, mqttjs } from '../interop/mqttjs-support.js';
import { type AuthServer, passwordFile, publishPacket, startAuthServer, subscribe, tempDir, textFile } from './support.js';

function acl(text: string): Acl {
  const parsed = Acl.parse(text);
  assert.ok(parsed.ok, parsed.ok ? '' : parsed.problems.join('\n'));
  return parsed.acl;
}

const within = (inner: string, outer: string) => filterWithin(levels(inner), levels(outer));
const meet = (a: string, b: string) => filtersIntersect(levels(a), levels(b)) && filtersIntersect(levels(b), levels(a));

test('filterWithin: a filter is within another when every topic it matches, the other matches too', () => {
  const yes: [string, string][] = [
    ['sensors/+/temp', 'sensors/#'],
    ['sensors/#', 'sensors/#'],
    ['sensors', 'sensors/#'],
    ['a/b', 'a/+'],
    ['a/+', 'a/+'],
    ['+/b', '+/+'],
    ['a/b/c', '#'],
    ['+', '#'],
    ['$SYS/broker/uptime', '$SYS/#'],
    ['a//b', 'a/+/b'],
  ];
  const no: [string, string][] = [
    ['#', 'sensors/#'],
    ['sensors/#', 'sensors/+'],
    ['sensors/+', 'sensors/a'],
    ['a', 'a/+'],
    ['a/b/c', 'a/+'],
    ['a/#', 'a/+/#'],
    ['$SYS/broker', '#'],
    ['$SYS/#', '+/#'],
    ['+/b', 'a/b'],
  ];
  for (const [inner, outer] of yes) assert.equal(within(inner, outer), true, `${inner} within ${outer}`);
  for (const [inner, outer] of no) assert.equal(within(inner, outer), false, `${inner} not within ${outer}`);
});

test('filtersIntersect: two filters intersect when some topic matches both ($ topics only by $ filters)', () => {
  const yes: [string, string][] = [
    ['#', 'a/secret'],
    ['a/#', 'a'],
    ['a/+', 'a/b'],
    ['+/b', 'a/+'],
    ['a/+/c', 'a/b/#'],
    ['$SYS/#', '$SYS/x'],
    ['+/+', 'x/y'],
  ];
  const no: [string, string][] = [
    ['#', '$SYS/x'],
    ['+/x', '$SYS/x'],
    ['a/+', 'a'],
    ['a/b', 'a/c'],
    ['a/+/c', 'a/b/d'],
    ['a/b', 'a/b/c'],
  ];
  for (const [a, b] of yes) assert.equal(meet(a, b), true, `${a} meets ${b}`);
  for (const [a, b] of no) assert.equal(meet(a, b), false, `${a} does not meet ${b}`);
});

test('ACL file: every bad line is reported with its number; access words, spaces in topics, comments', () => {
  const parsed = Acl.parse(
    [
      '# comment',
      'topic read ok/#',
      'topic bad/#/x',
      'frobnicate all',
      'user',
      'pattern write devices/%c-x/status',
      'topic $share/g/x',
      'topic',
      '  # indented comment',
    ].join('\n'),
  );
  assert.equal(parsed.ok, false);
  if (parsed.ok) return;
  assert.deepEqual(
    parsed.problems.map((p) => p.replace(/:.*/, '')),
    ['line 3', 'line 4', 'line 5', 'line 6', 'line 7', 'line 8'],
  );
  assert.match(parsed.problems[0] ?? '', /invalid topic "bad\/#\/x"/);
  assert.match(parsed.problems[1] ?? '', /unknown keyword "frobnicate"/);
  assert.match(parsed.problems[3] ?? '', /whole topic level/);
  const rules = acl('topic read with space/x\ntopic in the/middle\n');
  const anyone: AclSubject = { clientId: 'c', username: undefined };
  assert.equal(rules.canSubscribe(anyone, 'with space/x'), true, '"read" then a topic containing a space');
  assert.equal(rules.canPublish(anyone, 'in the/middle'), true, 'no access word: readwrite, the rest is the topic');
});

test('ACL rules: general rules for everyone, user sections, %u and %c patterns, deny first, nothing else', () => {
  const rules = acl(
    [
      'topic read public/#',
      'topic write inbox',
      'pattern readwrite users/%u/#',
      'pattern write devices/%c/status',
      'pattern deny users/%u/private/#',
      'user alice',
      'topic readwrite alice/#',
      'topic deny alice/secret',
      'topic subscribe news/+/headlines',
      'user bob',
      'topic read alice/shared/#',
    ].join('\n'),
  );
  const alice = { clientId: 'a1', username: 'alice' };
  const bob = { clientId: 'b1', username: 'bob' };
  const anonymous = { clientId: 'anon', username: undefined };
  // publish
  assert.equal(rules.canPublish(alice, 'alice/notes'), true);
  assert.equal(rules.canPublish(alice, 'alice/secret'), false, 'deny wins over readwrite alice/#');
  assert.equal(rules.canPublish(bob, 'alice/notes'), false);
  assert.equal(rules.canPublish(anonymous, 'inbox'), true, 'general rules apply to anonymous clients');
  assert.equal(rules.canPublish(alice, 'inbox'), true, '... and to every user');
  assert.equal(rules.canPublish(alice, 'public/x'), false, 'read is not write');
  assert.equal(rules.canPublish(alice, 'users/alice/x'), true, '%u');
  assert.equal(rules.canPublish(bob, 'users/alice/x'), false);
  assert.equal(rules.canPublish(anonymous, 'users/undefined/x'), false, 'no user name: %u patterns grant nothing');
  assert.equal(rules.canPublish(bob, 'devices/b1/status'), true, '%c');
  assert.equal(rules.canPublish(bob, 'devices/a1/status'), false);
  // subscribe
  assert.equal(rules.canSubscribe(alice, 'public/+/temp'), true, 'within read public/#');
  assert.equal(rules.canSubscribe(alice, '#'), false, '# is not within any rule');
  assert.equal(rules.canSubscribe(alice, 'alice/+'), false, 'alice/+ could carry alice/secret');
  assert.equal(rules.canSubscribe(alice, 'alice/notes/#'), true);
  assert.equal(rules.canSubscribe(alice, 'news/sport/headlines'), true, 'subscribe access');
  assert.equal(rules.canPublish(alice, 'news/sport/headlines'), false, 'subscribe is not write');
  assert.equal(rules.canSubscribe(bob, 'alice/shared/x'), true);
  assert.equal(rules.canSubscribe(bob, 'inbox'), false, 'write is not read');
  assert.equal(rules.canSubscribe(alice, 'users/alice/#'), false, 'users/alice/# could carry users/alice/private/...');
  assert.equal(
    rules.canSubscribe(alice, 'users/alice/+'),
    false,
    'users/alice/+ matches users/alice/private, which deny .../private/# covers',
  );
  assert.equal(rules.canSubscribe(alice, 'users/alice/notes/#'), true);
  assert.equal(rules.canSubscribe(alice, '$share/g/public/#'), true, 'the filter after $share/{group}/ is checked');
  assert.equal(rules.canSubscribe(alice, '$share/g/alice/+'), false);
});

test('ACL patterns: a user name or client id that is empty, starts with $ or holds / + # grants nothing and widens a deny', () => {
  const rules = acl(
    ['pattern readwrite c/%c/#', 'pattern readwrite u/%u/#', 'topic readwrite open/#', 'pattern deny open/%u/x'].join('\n'),
  );
  for (const clientId of ['+', '#', 'a/b', '$SYS', '']) {
    const who = { clientId, username: 'u' };
    assert.equal(rules.canPublish(who, `c/${clientId}/x`), false, `client id ${JSON.stringify(clientId)}`);
    assert.equal(rules.canSubscribe(who, 'c/+/#'), false);
  }
  assert.equal(rules.canSubscribe({ clientId: '$SYS', username: 'u' }, '$SYS/#'), false);
  const sneaky = { clientId: 'c', username: '+' };
  assert.equal(rules.canPublish(sneaky, 'u/bob/x'), false, 'user name "+" is no wildcard');
  assert.equal(rules.canPublish(sneaky, 'open/anything/x'), false, 'deny open/%u/x became deny open/#');
  assert.equal(rules.canPublish({ clientId: 'c', username: 'bob' }, 'open/anything/x'), true);
  assert.equal(rules.canPublish({ clientId: 'c', username: 'bob' }, 'open/bob/x'), false);
});

// ---- through the broker ---------------------------------------------------------------------------

const ACL = [
  'topic read public/#',
  'user alice',
  'topic readwrite alice/#',
  'topic deny alice/secret/#',
  'topic read sensors/#',
  'topic write sensors/alice/#',
  'pattern write clients/%c/#',
].join('\n');

async function aclServer(t: TestContext): Promise<AuthServer> {
  const dir = tempDir(t);
  return startAuthServer(t, {
    passwordFile: await passwordFile(dir, { alice: 'wonderland', bob: 'builder' }),
    aclFile: textFile(dir, 'acl', ACL),
  });
}

test('[MQTT-3.9.3-2] [MQTT-3.8.4-5/3.1.1] [MQTT-3.8.4-7/5.0] denied SUBSCRIBE: 0x80 for 3.1.1, 0x87 Not authorized for 5.0, per filter', async (t) => {
  const s = await aclServer(t);
  for (const version of [4, 5] as const) {
    const c = await s.client(version);
    assert.equal((await c.connect({ clientId: `alice${version}`, username: 'alice', password: Buffer.from('wonderland') })).reasonCode, 0);
    const codes = await subscribe(c, ['sensors/+/temp', '#', 'alice/#', 'alice/notes/+', 'public/x', 'clients/x/#']);
    const refused = version === 5 ? 0x87 : 0x80;
    assert.deepEqual(codes, [1, refused, refused, 1, 1, refused], `v${version}`);
  }
});

test('[MQTT-3.3.5-2/3.1.1] denied PUBLISH in 3.1.1: acknowledged as usual, not delivered', async (t) => {
  const s = await aclServer(t);
  const watcher = await s.client(5);
  await watcher.connect({ clientId: 'watcher', username: 'alice', password: Buffer.from('wonderland') });
  assert.deepEqual(await subscribe(watcher, ['sensors/#']), [1]);
  const c = await s.client(4);
  await c.connect({ clientId: 'bob4', username: 'bob', password: Buffer.from('builder') });
  c.send(publishPacket('sensors/bob/temp', 'denied', 1, 7));
  assert.equal((await c.expect(PacketType.Puback)).packetId, 7);
  c.send(publishPacket('sensors/bob/temp', 'denied', 2, 8));
  const rec = await c.expect(PacketType.Pubrec);
  assert.deepEqual([rec.packetId, rec.reasonCode], [8, 0]);
  c.send(publishPacket('sensors/bob/temp', 'denied', 0));
  const alice = await s.client(4);
  await alice.connect({ clientId: 'alice4', username: 'alice', password: Buffer.from('wonderland') });
  alice.send(publishPacket('sensors/alice/temp', 'allowed', 1, 9));
  await alice.expect(PacketType.Puback);
  const delivered = await watcher.expect(PacketType.Publish);
  assert.equal(delivered.topic, 'sensors/alice/temp', 'only the allowed message arrived');
  assert.ok(await watcher.expectNone(PacketType.Publish, 150));
});

test('[MQTT-3.4.2-1] [MQTT-3.5.2-1] denied PUBLISH in 5.0: PUBACK / PUBREC 0x87, QoS 0 dropped', async (t) => {
  const s = await aclServer(t);
  const c = await s.client(5);
  await c.connect({ clientId: 'alice5', username: 'alice', password: Buffer.from('wonderland') });
  assert.deepEqual(await subscribe(c, ['alice/notes/#']), [1]);
  c.send(publishPacket('alice/secret/plan', 'x', 1, 1));
  assert.equal((await c.expect(PacketType.Puback)).reasonCode, 0x87);
  c.send(publishPacket('public/news', 'x', 2, 2));
  assert.equal((await c.expect(PacketType.Pubrec)).reasonCode, 0x87, 'read access only');
  c.send(publishPacket('clients/alice5/state', 'x', 1, 3));
  assert.equal((await c.expect(PacketType.Puback)).reasonCode, 0x10, '%c pattern grants; No matching subscribers');
  c.send(publishPacket('alice/notes/1', 'hello', 1, 4));
  assert.equal((await c.expect(PacketType.Puback)).reasonCode, 0);
  assert.equal((await c.expect(PacketType.Publish)).topic, 'alice/notes/1');
});

test('anonymous clients get the general rules only', async (t) => {
  const s = await aclServer(t);
  const c = await s.client(5);
  assert.equal((await c.connect({ clientId: 'anon' })).reasonCode, 0);
  assert.deepEqual(await subscribe(c, ['public/#', 'sensors/#']), [1, 0x87]);
  c.send(publishPacket('public/x', 'x', 1, 2));
  assert.equal((await c.expect(PacketType.Puback)).reasonCode, 0x87);
});

/** MQTT.js rejects a SUBSCRIBE with any failure code; the SUBACK's codes travel on the error. */
function subackCodes(err: unknown): readonly number[] {
  const packet = (err as { packet?: { granted?: readonly number[]; reasonCodes?: readonly number[] } }).packet;
  return packet?.granted ?? packet?.reasonCodes ?? [];
}

test('MQTT.js: a refused subscription gets 0x80 (3.1.1) or 0x87 (5.0); a refused publish gets PUBACK 0x87', async (t) => {
  const s = await aclServer(t);
  for (const protocolVersion of [4, 5] as const) {
    const c = await mqttjs(t, s.url, {
      protocolVersion,
      username: 'alice',
      password: 'wonderland',
      clientId: `mqttjs-alice${protocolVersion}`,
    });
    const err = await c.subscribeAsync({ 'alice/notes/#': { qos: 1 }, 'alice/#': { qos: 1 } }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.deepEqual(subackCodes(err), [1, protocolVersion === 5 ? 0x87 : 0x80], `v${protocolVersion}`);
  }
  const client = await mqttjs(t, s.url, { protocolVersion: 5, username: 'alice', password: 'wonderland', clientId: 'mqttjs-alice' });
  const inbox = new Inbox(client);
  await assert.rejects(client.subscribeAsync('alice/#', { qos: 1 }), /Not authorized/);
  await client.subscribeAsync('alice/notes/#', { qos: 1 });
  await assert.rejects(client.publishAsync('alice/secret/x', 'no', { qos: 1 }), /Not authorized|135/i);
  await client.publishAsync('alice/notes/today', 'yes', { qos: 1 });
  const [m] = await inbox.take(1);
  assert.equal(m?.topic, 'alice/notes/today');
});

const SUB = '/usr/bin/mosquitto_sub';
const PUB = '/usr/bin/mosquitto_pub';
const noClients = existsSync(SUB) && existsSync(PUB) ? false : 'mosquitto-clients not installed';

test('mosquitto_sub / mosquitto_pub: allowed topics flow, a refused subscription is reported, a refused publish is dropped', {
  skip: noClients,
}, async (t) => {
  const s = await aclServer(t);
  const base = ['-h', '127.0.0.1', '-p', String(s.port), '-u', 'alice', '-P', 'wonderland'];
  // stdin: '' closes the pipe at once, so no open handle outlives the child.
  const denied = spawnTracked(t, SUB, [...base, '-V', '5', '-t', '#', '-C', '1', '-W', '3'], { stdin: '' });
  await denied.waitFor('All subscription requests were denied.', 'stderr', 4000);
  const sub = spawnTracked(t, SUB, [...base, '-V', '311', '-i', 'msub', '-t', 'alice/notes/+', '-v', '-C', '1'], { stdin: '' });
  await waitUntil(() => (s.server.broker.sessions.get('msub')?.subscriptions.size ?? 0) > 0, 'mosquitto_sub to subscribe', 3000);
  for (const [topic, message] of [
    ['alice/secret/x', 'refused'],
    ['alice/notes/1', 'delivered'],
  ] as const) {
    const pub = spawnTracked(t, PUB, [...base, '-V', '311', '-q', '1', '-t', topic, '-m', message], { stdin: '' });
    assert.deepEqual(await pub.exit(), { code: 0, signal: null }, pub.output());
  }
  assert.deepEqual(await sub.exit(), { code: 0, signal: null }, sub.output());
  assert.equal(sub.stdout, 'alice/notes/1 delivered\n');
});
