/**
 * SCRAM-SHA-256 as MQTT 5.0 enhanced authentication: the RFC 7677 test vector, the exchange byte by
 * byte with the packet client (success, wrong password, unknown user, tampered proof, re-authentication),
 * and end to end with our client library (src/auth/scram-client.ts) and MQTT.js.
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { writeFileSync } from 'node:fs';
import { type TestContext, test } from 'node:test';
import { connect as mqttConnect } from 'mqtt';
import { clientKeyOf, deriveCredentials, hmac, saltedPassword, serverKeyOf, sha256, xor } from '../../src/auth/scram.js';
import { scramClient } from '../../src/auth/scram-client.js';
import { connectAsync } from '../../src/client/index.js';
import { type AuthPacket, type ConnackPacket, PacketType, ReasonCode } from '../../src/protocol/index.js';
import { waitUntil } from '../helpers/child.js';
import type { PacketClient } from '../helpers/packet-client.js';
import { type AuthServer, passwordFile, startAuthServer, subscribe, tempDir, textFile } from './support.js';

const METHOD = 'SCRAM-SHA-256';

test('RFC 7677 section 3 test vector: SaltedPassword, ClientProof and ServerSignature', async () => {
  const salt = Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64');
  const clientFirstBare = 'n=user,r=rOprNGfwEbeRWgbNEkqO';
  const serverFirst = 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096';
  const withoutProof = 'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0';
  const authMessage = `${clientFirstBare},${serverFirst},${withoutProof}`;
  const salted = await saltedPassword(Buffer.from('pencil'), salt, 4096);
  const clientKey = clientKeyOf(salted);
  const credentials = await deriveCredentials(Buffer.from('pencil'), salt, 4096);
  assert.deepEqual(credentials.storedKey, sha256(clientKey));
  const proof = xor(clientKey, hmac(credentials.storedKey, authMessage));
  assert.equal(proof.toString('base64'), 'dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=');
  assert.equal(hmac(serverKeyOf(salted), authMessage).toString('base64'), '6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=');
});

async function scramServer(t: TestContext, auth: { scram?: boolean } = {}): Promise<AuthServer> {
  const dir = tempDir(t);
  const passwd = await passwordFile(dir, { alice: 'wonderland', 'b,o=b': 'builder' });
  // A Mosquitto $7$ entry (password "secret"): plain CONNECT works, SCRAM cannot (no StoredKey).
  writeFileSync(
    passwd,
    'mosq:$7$101$24ifXLvzYdNj7BU7$egjg8m/woyJGKgQrnBm9Y4n13C4ltfRhfk9yyGm6sYZnvPc/7wJiTquFyXih80gTiLr52mGI/yoUVx6Upc8VdQ==\n',
    { flag: 'a' },
  );
  const acl = textFile(dir, 'acl', 'pattern readwrite home/%u/#\n');
  return startAuthServer(t, { passwordFile: passwd, aclFile: acl, ...auth }, { allowAnonymous: false });
}

/** CONNECT with SCRAM's client-first; resolves with the server's AUTH challenge (or CONNACK, if it refused at once). */
async function begin(c: PacketClient, clientFirst: Buffer, clientId = 'scram'): Promise<AuthPacket | ConnackPacket> {
  c.send({
    type: PacketType.Connect,
    protocolVersion: 5,
    clientId,
    clean: true,
    keepAlive: 0,
    properties: { authenticationMethod: METHOD, authenticationData: clientFirst },
  });
  const seen = c.received.length;
  await waitUntil(() => c.received.length > seen, 'AUTH or CONNACK', 2000);
  const first = c.received[seen];
  // Consume it, so later expect() calls look past it.
  if (first?.type === PacketType.Auth) return c.expect(PacketType.Auth);
  return c.expect(PacketType.Connack);
}

/** Sends AUTH with `reasonCode` and SCRAM data. */
function auth(c: PacketClient, data: Buffer, reasonCode: number = ReasonCode.ContinueAuthentication): void {
  c.send({ type: PacketType.Auth, reasonCode, properties: { authenticationMethod: METHOD, authenticationData: data } });
}

async function challenge(c: PacketClient, clientFirst: Buffer, clientId?: string): Promise<AuthPacket> {
  const p = await begin(c, clientFirst, clientId);
  assert.equal(p.type, PacketType.Auth, `expected AUTH, got CONNACK 0x${p.reasonCode.toString(16)}`);
  return p as AuthPacket;
}

test('[MQTT-4.12.0-2] [MQTT-4.12.0-5] SCRAM-SHA-256 success: AUTH 0x18 challenge, CONNACK 0x00 with the method and v=ServerSignature', async (t) => {
  const s = await scramServer(t);
  const c = await s.client(5);
  const scram = scramClient({ username: 'alice', password: 'wonderland' });
  const first = scram.clientFirst();
  assert.match(first.toString(), /^n,,n=alice,r=[A-Za-z0-9+/]{24}$/);
  const ch = await challenge(c, first);
  assert.equal(ch.reasonCode, 0x18);
  assert.equal(ch.properties?.authenticationMethod, METHOD);
  const serverFirst = ch.properties?.authenticationData?.toString() ?? '';
  const nonce = first.toString().slice('n,,n=alice,r='.length);
  assert.match(serverFirst, new RegExp(`^r=${nonce.replace(/[+/]/g, '\\$&')}[A-Za-z0-9+/]{24},s=[A-Za-z0-9+/]+=*,i=4096$`));
  auth(c, await scram.auth({ data: ch.properties?.authenticationData }));
  const ack = await c.expect(PacketType.Connack);
  assert.equal(ack.reasonCode, 0);
  assert.equal(ack.properties?.authenticationMethod, METHOD);
  assert.match(ack.properties?.authenticationData?.toString() ?? '', /^v=/);
  assert.equal(scram.verifyServer(ack.properties?.authenticationData), true, 'the server proved it holds ServerKey');
  // The SCRAM user is the connection's user: the %u pattern lets alice use home/alice/.
  assert.deepEqual(await subscribe(c, ['home/alice/#', 'home/bob/#']), [1, 0x87]);
});

test('[MQTT-4.12.0-4] SCRAM with a wrong password: CONNACK 0x87 after the exchange, connection closed', async (t) => {
  const s = await scramServer(t);
  const c = await s.client(5);
  const scram = scramClient({ username: 'alice', password: 'wonderlant' });
  const ch = await challenge(c, scram.clientFirst());
  auth(c, await scram.auth({ data: ch.properties?.authenticationData }));
  const ack = await c.expect(PacketType.Connack);
  assert.equal(ack.reasonCode, ReasonCode.NotAuthorized);
  assert.equal(ack.sessionPresent, false);
  await c.waitClosed();
});

test('SCRAM with an unknown user looks like a known one: same challenge shape, a stable fake salt, 0x87 at the end', async (t) => {
  const s = await scramServer(t);
  const shape = (serverFirst: string) => serverFirst.replace(/^r=[^,]+/, 'r=').replace(/s=[^,]+/, 's=');
  const salts: string[] = [];
  for (const user of ['alice', 'mallory', 'mallory']) {
    const c = await s.client(5);
    const scram = scramClient({ username: user, password: 'guess' });
    const ch = await challenge(c, scram.clientFirst(), `probe-${salts.length}`);
    const serverFirst = ch.properties?.authenticationData?.toString() ?? '';
    assert.equal(shape(serverFirst), 'r=,s=,i=4096', user);
    salts.push(/s=([^,]+)/.exec(serverFirst)?.[1] ?? '');
    auth(c, await scram.auth({ data: ch.properties?.authenticationData }));
    assert.equal((await c.expect(PacketType.Connack)).reasonCode, ReasonCode.NotAuthorized, user);
  }
  assert.equal(salts[1], salts[2], 'asking twice about an unknown user gives the same salt');
  assert.notEqual(salts[0], salts[1]);
  assert.equal(Buffer.from(salts[1] ?? '', 'base64').length, 16);
});

test('SCRAM refuses a tampered proof, a changed nonce or channel binding, malformed messages: CONNACK 0x87', async (t) => {
  const s = await scramServer(t);
  const scram = scramClient({ username: 'alice', password: 'wonderland' });
  const tamper: [string, (final: string) => string, number][] = [
    ['proof bit flipped', (f) => f.replace(/p=(.)/, (_, ch: string) => `p=${ch === 'A' ? 'B' : 'A'}`), 0x87],
    ['proof truncated', (f) => f.replace(/p=.*/, 'p=AAAA'), 0x87],
    ['nonce changed', (f) => f.replace(/r=(.)/, (_, ch: string) => `r=${ch === 'x' ? 'y' : 'x'}`), 0x87],
    ['channel binding y', (f) => f.replace('c=biws', 'c=eSws'), 0x87],
    ['no proof', (f) => f.replace(/,p=.*/, ''), 0x87],
  ];
  for (const [what, change, code] of tamper) {
    const c = await s.client(5);
    const ch = await challenge(c, scram.clientFirst(), what.replace(/ /g, '-'));
    const final = (await scram.auth({ data: ch.properties?.authenticationData })).toString();
    auth(c, Buffer.from(change(final)));
    assert.equal((await c.expect(PacketType.Connack)).reasonCode, code, what);
    await c.waitClosed();
  }
  const refusedAtOnce: [string, string][] = [
    ['channel binding requested', 'p=tls-unique,,n=alice,r=abc'],
    ['authzid', 'n,a=bob,n=alice,r=abc'],
    ['no gs2 header', 'n=alice,r=abc'],
    ['bad escape', 'n,,n=al=2Aice,r=abc'],
    ['mandatory extension', 'n,,m=ext,n=alice,r=abc'],
  ];
  for (const [what, first] of refusedAtOnce) {
    const c = await s.client(5);
    const p = await begin(c, Buffer.from(first), what.replace(/ /g, '-'));
    assert.deepEqual([p.type, p.reasonCode], [PacketType.Connack, 0x87], what);
  }
});

test('SCRAM: user names with , and = are escaped (=2C, =3D); a Mosquitto $7$ user cannot use SCRAM but can send a plain password', async (t) => {
  const s = await scramServer(t);
  const c = await s.client(5);
  const scram = scramClient({ username: 'b,o=b', password: 'builder' });
  assert.match(scram.clientFirst().toString(), /^n,,n=b=2Co=3Db,r=/);
  const ch = await challenge(c, scram.clientFirst());
  auth(c, await scram.auth({ data: ch.properties?.authenticationData }));
  assert.equal((await c.expect(PacketType.Connack)).reasonCode, 0);
  const m = await s.client(5);
  const mosq = scramClient({ username: 'mosq', password: 'secret' });
  const ch2 = await challenge(m, mosq.clientFirst(), 'mosq-scram');
  auth(m, await mosq.auth({ data: ch2.properties?.authenticationData }));
  assert.equal((await m.expect(PacketType.Connack)).reasonCode, 0x87);
  const plain = await s.client(5);
  assert.equal((await plain.connect({ clientId: 'mosq-plain', username: 'mosq', password: Buffer.from('secret') })).reasonCode, 0);
});

test('[MQTT-4.12.1-1] [MQTT-4.12.1-2] SCRAM re-authentication: AUTH 0x19 -> 0x18 -> 0x18 -> AUTH 0x00 with v=; a wrong password there ends in DISCONNECT 0x87', async (t) => {
  const s = await scramServer(t);
  const c = await s.client(5);
  const scram = scramClient({ username: 'alice', password: 'wonderland' });
  const ch = await challenge(c, scram.clientFirst());
  auth(c, await scram.auth({ data: ch.properties?.authenticationData }));
  assert.equal((await c.expect(PacketType.Connack)).reasonCode, 0);
  for (let round = 0; round < 2; round++) {
    auth(c, scram.clientFirst(), ReasonCode.ReAuthenticate);
    const again = await c.expect(PacketType.Auth);
    assert.equal(again.reasonCode, 0x18);
    auth(c, await scram.auth({ data: again.properties?.authenticationData }));
    const done = await c.expect(PacketType.Auth);
    assert.equal(done.reasonCode, 0);
    assert.equal(done.properties?.authenticationMethod, METHOD);
    assert.equal(scram.verifyServer(done.properties?.authenticationData), true, `round ${round}`);
  }
  assert.deepEqual(await subscribe(c, ['home/alice/x']), [1], 'still alice, still connected');
  const wrong = scramClient({ username: 'alice', password: 'not it' });
  auth(c, wrong.clientFirst(), ReasonCode.ReAuthenticate);
  const ch2 = await c.expect(PacketType.Auth);
  auth(c, await wrong.auth({ data: ch2.properties?.authenticationData }));
  assert.equal((await c.expect(PacketType.Disconnect)).reasonCode, 0x87);
  await c.waitClosed();
});

test('SCRAM re-authentication as another user is refused with DISCONNECT 0x87', async (t) => {
  const s = await scramServer(t);
  const c = await s.client(5);
  const alice = scramClient({ username: 'alice', password: 'wonderland' });
  const ch = await challenge(c, alice.clientFirst());
  auth(c, await alice.auth({ data: ch.properties?.authenticationData }));
  assert.equal((await c.expect(PacketType.Connack)).reasonCode, 0);
  auth(c, scramClient({ username: 'b,o=b', password: 'builder' }).clientFirst(), ReasonCode.ReAuthenticate);
  assert.equal((await c.expect(PacketType.Disconnect)).reasonCode, 0x87);
  await c.waitClosed();
});

test('[MQTT-4.12.0-1] an unsupported method is refused with CONNACK 0x8C; scram: false turns SCRAM off', async (t) => {
  const s = await scramServer(t, { scram: false });
  const c = await s.client(5);
  const p = await begin(c, scramClient({ username: 'alice', password: 'wonderland' }).clientFirst());
  assert.deepEqual([p.type, p.reasonCode], [PacketType.Connack, ReasonCode.BadAuthenticationMethod]);
  const plain = await s.client(5);
  assert.equal((await plain.connect({ clientId: 'plain', username: 'alice', password: Buffer.from('wonderland') })).reasonCode, 0);
});

test('our client library: scramClient plugs into connectAsync (auth + clientFirst) and reauthenticate()', async (t) => {
  const s = await scramServer(t);
  const scram = scramClient({ username: 'alice', password: 'wonderland' });
  const client = await connectAsync(s.url, {
    protocolVersion: 5,
    clientId: 'lib-alice',
    reconnect: false,
    properties: { authenticationMethod: scram.method, authenticationData: scram.clientFirst() },
    auth: scram.auth,
  });
  t.after(() => client.end({ force: true }));
  const results: AuthPacket[] = [];
  client.on('packetreceive', (p) => {
    if (p.type === PacketType.Auth && p.reasonCode === 0) results.push(p);
  });
  await client.reauthenticate(scram.clientFirst());
  const deadline = Date.now() + 2000;
  while (results.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  assert.equal(results.length, 1, 'AUTH 0x00 after re-authentication');
  assert.equal(scram.verifyServer(results[0]?.properties?.authenticationData), true);
  const wrong = scramClient({ username: 'alice', password: 'x' });
  const refused = connectAsync(s.url, {
    protocolVersion: 5,
    reconnect: false,
    properties: { authenticationMethod: wrong.method, authenticationData: wrong.clientFirst() },
    auth: wrong.auth,
  });
  await assert.rejects(refused, (err: Error & { reasonCode?: number }) => err.reasonCode === 0x87);
});

test('MQTT.js: SCRAM-SHA-256 through its handleAuth hook, and a refusal it reports as Not authorized', async (t) => {
  const s = await scramServer(t);
  const run = (password: string) =>
    new Promise<{ code: number; data: Buffer | undefined; verified: boolean }>((resolve, reject) => {
      const scram = scramClient({ username: 'alice', password });
      const client = mqttConnect(s.url, {
        protocolVersion: 5,
        reconnectPeriod: 0,
        connectTimeout: 3000,
        properties: { authenticationMethod: METHOD, authenticationData: scram.clientFirst() },
      });
      t.after(() => client.endAsync(true));
      client.handleAuth = (packet, callback) => {
        scram.auth({ data: packet.properties?.authenticationData }).then(
          (data) =>
            callback(undefined, { cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: METHOD, authenticationData: data } }),
          (err: Error) => callback(err),
        );
      };
      client.once('connect', (ack) => {
        const data = ack.properties?.authenticationData;
        resolve({ code: ack.reasonCode ?? 0, data, verified: scram.verifyServer(data) });
      });
      client.once('error', (err) => resolve({ code: (err as Error & { code?: number }).code ?? -1, data: undefined, verified: false }));
      setTimeout(() => reject(new Error('no CONNACK')), 3000).unref();
    });
  const ok = await run('wonderland');
  assert.equal(ok.code, 0);
  assert.equal(ok.verified, true);
  const bad = await run('wonderlant');
  assert.equal(bad.code, 0x87);
});
