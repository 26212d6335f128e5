/**
 * The `auth` settings wired through createServer: CONNECT passwords (codes in 3.1.1 and 5.0), anonymous
 * clients under allowAnonymous, certificate identities, reload (users added, removed, changed; broken
 * files keep the rules in force), configuration errors, and the event loop under a flood of wrong logins.
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { appendFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { type TestContext, test } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { ConfigError, settingsHelp, validateConfig } from '../../src/config/index.js';
import { PacketType } from '../../src/protocol/index.js';
import { createServer } from '../../src/server/server.js';
import { PacketClient } from '../helpers/packet-client.js';
import { CLIENT_CN, makePki } from '../transport/helpers.js';
import { type AuthServer, passwordFile, publishPacket, startAuthServer, subscribe, tempDir, textFile, userLine } from './support.js';

const pw = (s: string) => Buffer.from(s);

async function passwordServer(t: TestContext, allowAnonymous: boolean): Promise<{ s: AuthServer; dir: string; file: string }> {
  const dir = tempDir(t);
  const file = await passwordFile(dir, { alice: 'wonderland' });
  const s = await startAuthServer(t, { passwordFile: file }, { allowAnonymous });
  return { s, dir, file };
}

test('[MQTT-3.1.4-2/5.0] [MQTT-3.2.2-6/5.0] [MQTT-3.2.2-7/5.0] 5.0: a wrong password, an unknown user or a user name without password get CONNACK 0x86 and the connection closes', async (t) => {
  const { s } = await passwordServer(t, true);
  const ok = await s.client(5);
  assert.equal((await ok.connect({ clientId: 'ok', username: 'alice', password: pw('wonderland') })).reasonCode, 0);
  const cases: [string, Partial<Parameters<PacketClient['connect']>[0]>][] = [
    ['wrong password', { username: 'alice', password: pw('wonderlant') }],
    ['unknown user', { username: 'mallory', password: pw('wonderland') }],
    ['no password', { username: 'alice' }],
  ];
  for (const [what, fields] of cases) {
    const c = await s.client(5);
    const ack = await c.connect({ clientId: what.replace(/ /g, '-'), ...fields });
    assert.deepEqual([ack.reasonCode, ack.sessionPresent], [0x86, false], what);
    await c.waitClosed();
  }
  assert.ok(s.log.lines.some((l) => l.startsWith('info login refused: bad user name or password') && l.includes('"user":"mallory"')));
});

test('[MQTT-3.2.2-5/3.1.1] [MQTT-3.2.2-4/3.1.1] 3.1.1: a wrong password gets return code 4 and the connection closes; anonymous without allowAnonymous gets 5', async (t) => {
  const { s } = await passwordServer(t, false);
  const bad = await s.client(4);
  const ack = await bad.connect({ clientId: 'bad4', username: 'alice', password: pw('nope') });
  assert.deepEqual([ack.reasonCode, ack.sessionPresent], [4, false]);
  await bad.waitClosed();
  const anonymous = await s.client(4);
  assert.equal((await anonymous.connect({ clientId: 'anon4' })).reasonCode, 5);
  const good = await s.client(4);
  assert.equal((await good.connect({ clientId: 'good4', username: 'alice', password: pw('wonderland') })).reasonCode, 0);
});

test('with a password file, clients without a user name are governed by allowAnonymous', async (t) => {
  const open = (await passwordServer(t, true)).s;
  const c = await open.client(5);
  assert.equal((await c.connect({ clientId: 'anon' })).reasonCode, 0);
  const closed = (await passwordServer(t, false)).s;
  const d = await closed.client(5);
  assert.equal((await d.connect({ clientId: 'anon' })).reasonCode, 0x87);
});

test('a verified client certificate vouches for its user name: no password asked; the same name without the certificate needs one', async (t) => {
  const pki = makePki();
  t.after(() => pki.remove());
  const dir = tempDir(t);
  const s = await startAuthServer(
    t,
    { passwordFile: await passwordFile(dir, { alice: 'wonderland' }), aclFile: textFile(dir, 'acl', 'pattern readwrite devices/%u/#\n') },
    {
      allowAnonymous: false,
      listeners: [{ type: 'tls', port: 0, cert: pki.server.cert, key: pki.server.key, ca: pki.ca.cert, identityFrom: 'cn' }],
    },
  );
  const tls = async (withCert: boolean) => {
    const socket = tlsConnect({
      host: '127.0.0.1',
      port: s.port,
      ca: pki.ca.issued.certificatePem,
      servername: 'localhost',
      ...(withCert ? { cert: pki.client.issued.certificatePem, key: pki.client.issued.keyPem } : {}),
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', resolve);
      socket.once('error', reject);
    });
    const c = new PacketClient(socket, 5);
    t.after(() => c.end());
    return c;
  };
  const device = await tls(true);
  assert.equal((await device.connect({ clientId: 'dev' })).reasonCode, 0, 'the certificate is the credential');
  assert.deepEqual(await subscribe(device, [`devices/${CLIENT_CN}/#`]), [1], 'its user name is the CN');
  const impostor = await tls(false);
  assert.equal((await impostor.connect({ clientId: 'imp', username: CLIENT_CN })).reasonCode, 0x86, 'a claimed name needs a password');
});

test('reload: users added, removed and re-passworded take effect; remembered logins are forgotten', async (t) => {
  const { s, file } = await passwordServer(t, false);
  const login = async (user: string, password: string) => {
    const c = await s.client(5);
    const code = (await c.connect({ clientId: `${user}-${password}`, username: user, password: pw(password) })).reasonCode;
    c.end();
    return code;
  };
  assert.equal(await login('alice', 'wonderland'), 0);
  assert.equal(await login('bob', 'builder'), 0x86);
  writeFileSync(file, `${await userLine('alice', 'looking-glass')}\n${await userLine('bob', 'builder')}\n`);
  await s.server.reload();
  assert.equal(await login('bob', 'builder'), 0, 'added');
  assert.equal(await login('alice', 'wonderland'), 0x86, 'the old password (remembered before the reload) no longer works');
  assert.equal(await login('alice', 'looking-glass'), 0, 'changed');
  writeFileSync(file, `${await userLine('bob', 'builder')}\n`);
  await s.server.reload();
  assert.equal(await login('alice', 'looking-glass'), 0x86, 'removed');
  assert.ok(s.log.lines.some((l) => l.startsWith('info reloaded the password file') && l.includes('"users":1')));
});

test('reload: a broken password or ACL file is logged with file and line, and the rules in force stay', async (t) => {
  const dir = tempDir(t);
  const file = await passwordFile(dir, { alice: 'wonderland' });
  const acl = textFile(dir, 'acl', 'user alice\ntopic readwrite alice/#\n');
  const s = await startAuthServer(t, { passwordFile: file, aclFile: acl }, { allowAnonymous: false });
  appendFileSync(file, 'bob:plaintext\n');
  writeFileSync(acl, 'user alice\ntopic readwrite alice/#\ntopic read a/#/b\n');
  const result = await s.server.auth?.reload();
  assert.equal(result?.errors.length, 2);
  assert.equal(result?.errors[0], `${file}: line 2: not a password hash (expected $scram-sha-256$..., $7$... or $6$...) (user "bob")`);
  assert.ok(result?.errors[1]?.startsWith(`${acl}: line 3: invalid topic "a/#/b": `), result?.errors[1]);
  await s.server.reload();
  const errors = s.log.lines.filter((l) => l.startsWith('error could not reload'));
  assert.equal(errors.length, 4, 'each reload logged both files');
  assert.ok(errors[0]?.includes(file) && errors[0].includes('line 2'));
  assert.ok(errors[1]?.includes(acl) && errors[1].includes('line 3'));
  const c = await s.client(5);
  assert.equal((await c.connect({ clientId: 'a', username: 'alice', password: pw('wonderland') })).reasonCode, 0);
  c.send(publishPacket('alice/x', 'still allowed', 1, 1));
  assert.equal((await c.expect(PacketType.Puback)).reasonCode, 0x10, 'allowed (no subscribers), by the old ACL');
  rmSync(acl);
  await s.server.reload();
  assert.ok(s.log.lines.some((l) => l.includes(acl) && l.includes('file not found')));
});

test('a broken password or ACL file stops createServer with a ConfigError naming the file and line', async (t) => {
  const dir = tempDir(t);
  const bad = textFile(dir, 'passwd', '# users\nalice:$7$abc$x$y\n');
  assert.throws(
    () => createServer({ listeners: [{ port: 0 }], auth: { passwordFile: bad } }),
    (err: unknown) =>
      err instanceof ConfigError && err.source === bad && /^line 2: iterations must be a number/.test(err.problems[0] ?? ''),
  );
  assert.throws(
    () => createServer({ listeners: [{ port: 0 }], auth: { aclFile: join(dir, 'missing') } }),
    (err: unknown) => err instanceof ConfigError && err.problems[0] === 'file not found',
  );
  assert.throws(
    () => validateConfig({ auth: { scram: true } }),
    (err: unknown) => err instanceof ConfigError && err.problems.some((p) => p.startsWith('auth.scram: needs passwordFile')),
  );
  assert.throws(() => validateConfig({ auth: { iterations: 100 } }), ConfigError);
  const help = settingsHelp();
  for (const key of ['auth.passwordFile', 'auth.aclFile', 'auth.scram', 'auth.iterations', 'auth.hashConcurrency']) {
    assert.match(help, new RegExp(`^ {2}${key.replace('.', '\\.')} `, 'm'), key);
  }
});

test('a flood of wrong passwords: the event loop stays responsive and a connected client is served meanwhile', async (t) => {
  const dir = tempDir(t);
  // 10000 iterations, as mozzie passwd writes by default.
  const file = join(dir, 'passwd');
  writeFileSync(file, `${await userLine('alice', 'wonderland', 10_000)}\n`);
  const s = await startAuthServer(t, { passwordFile: file }, { allowAnonymous: true });
  const watcher = await s.client(5);
  await watcher.connect({ clientId: 'watcher' });
  const attackers = await Promise.all(Array.from({ length: 60 }, () => s.client(5)));
  const delay = monitorEventLoopDelay({ resolution: 5 });
  delay.enable();
  const started = Date.now();
  const refusals = attackers.map((c, i) => c.connect({ clientId: `guess${i}`, username: 'alice', password: pw(`guess${i}`) }, 5000));
  // While 60 hashes queue up, a connected client's PINGREQ is answered at once.
  watcher.send({ type: PacketType.Pingreq });
  await watcher.expect(PacketType.Pingresp, 1000);
  const pingMs = Date.now() - started;
  const codes = (await Promise.all(refusals)).map((a) => a.reasonCode);
  const floodMs = Date.now() - started;
  delay.disable();
  assert.deepEqual(new Set(codes), new Set([0x86]));
  const maxDelayMs = delay.max / 1e6;
  assert.ok(pingMs < 150, `PINGRESP after ${pingMs} ms during the flood`);
  assert.ok(maxDelayMs < 150, `event loop delay peaked at ${maxDelayMs.toFixed(1)} ms (flood took ${floodMs} ms)`);
});
