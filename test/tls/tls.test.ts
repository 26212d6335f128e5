/**
 * MQTT over TLS on loopback with certificates made in the test: server authentication, mutual TLS,
 * certificate identity as the username, refusals (no certificate, expired, wrong CA, old TLS version)
 * and certificate reload without dropping clients. Clients: ours, MQTT.js and mosquitto_pub/sub.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { after, before, type TestContext, test } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { type IClientOptions, connectAsync as mqttjsConnect } from 'mqtt';
import { issueClientCertificate, issueServerCertificate } from '../../src/certs/index.js';
import { spawnTracked, waitUntil } from '../helpers/child.js';
import {
  CLIENT_CN,
  makePki,
  mqttjsRefusal,
  nextMessage,
  ourClient,
  ourClientError,
  type Pki,
  servedCertificate,
  startServer,
  tlsListener,
} from '../transport/helpers.js';

const MOSQUITTO_PUB = '/usr/bin/mosquitto_pub';
const MOSQUITTO_SUB = '/usr/bin/mosquitto_sub';
const noMosquittoClients = existsSync(MOSQUITTO_PUB) && existsSync(MOSQUITTO_SUB) ? false : 'mosquitto-clients not installed';

let pki: Pki;
before(() => {
  pki = makePki();
});
after(() => pki.remove());

const read = (path: string) => readFileSync(path);

/** Runs mosquitto_pub (or _sub) to the end; returns its exit code and output. */
async function mosquitto(t: TestContext, tool: 'pub' | 'sub', args: readonly string[]): Promise<{ code: number | null; output: string }> {
  const p = spawnTracked(t, tool === 'pub' ? MOSQUITTO_PUB : MOSQUITTO_SUB, args);
  const exit = await p.exit(8000);
  return { code: exit.code, output: `${p.stdout}${p.stderr}` };
}

/** mosquitto_pub flags for our TLS listener, trusting the test CA. */
function mosquittoTls(port: number, extra: readonly string[] = []): string[] {
  return ['-h', 'localhost', '-p', `${port}`, '--cafile', pki.ca.cert, ...extra];
}

test('TLS: our client, MQTT.js and mosquitto_pub/sub exchange messages over mqtts, verifying the server certificate', async (t) => {
  const r = await startServer(t, { listeners: [tlsListener(pki)] });
  const url = `mqtts://localhost:${r.port()}`;
  const ours = await ourClient(t, url, { tls: { ca: read(pki.ca.cert) } });
  await ours.subscribe('tls/#', { qos: 1 });

  const fromMqttjs = nextMessage(ours, 'tls/mqttjs');
  const mqttjs = await mqttjsConnect(url, { ca: read(pki.ca.cert), reconnectPeriod: 0, connectTimeout: 3000 });
  t.after(() => mqttjs.endAsync(true));
  await mqttjs.publishAsync('tls/mqttjs', 'from MQTT.js', { qos: 1 });
  assert.equal(await fromMqttjs, 'from MQTT.js');

  // Also by IP address: the certificate names 127.0.0.1 as an IP SAN.
  const byIp = await ourClient(t, `mqtts://127.0.0.1:${r.port()}`, { tls: { ca: read(pki.ca.cert) } });
  await byIp.publish('tls/by-ip', 'ok', { qos: 1 });

  if (noMosquittoClients === false) {
    const fromMosquitto = nextMessage(ours, 'tls/mosquitto');
    const pub = await mosquitto(t, 'pub', mosquittoTls(r.port(), ['-t', 'tls/mosquitto', '-m', 'from mosquitto_pub', '-q', '1']));
    assert.equal(pub.code, 0, pub.output);
    assert.equal(await fromMosquitto, 'from mosquitto_pub');
    await ours.publish('tls/retained', 'for mosquitto_sub', { qos: 1, retain: true });
    const sub = await mosquitto(t, 'sub', mosquittoTls(r.port(), ['-t', 'tls/retained', '-C', '1', '-W', '5']));
    assert.equal(sub.code, 0, sub.output);
    assert.equal(sub.output.trim(), 'for mosquitto_sub');
  }
  assert.ok(r.connected.length >= 3);
  assert.ok(r.connected.every((c) => c.transport === 'tls'));
});

test('mutual TLS with identityFrom cn: the certificate CN becomes the username, whatever the client sends', async (t) => {
  const r = await startServer(t, {
    listeners: [tlsListener(pki, { ca: pki.ca.cert, requireCertificate: true, identityFrom: 'cn', allowAnonymous: false })],
  });
  const url = `mqtts://localhost:${r.port()}`;
  const tls = { ca: read(pki.ca.cert), cert: read(pki.client.cert), key: read(pki.client.key) };
  await ourClient(t, url, { tls, username: 'someone-else', clientId: 'ours' });
  const mqttjs = await mqttjsConnect(url, { ...tls, clientId: 'mqttjs', reconnectPeriod: 0, connectTimeout: 3000 });
  t.after(() => mqttjs.endAsync(true));
  if (noMosquittoClients === false) {
    const pub = await mosquitto(
      t,
      'pub',
      mosquittoTls(r.port(), ['--cert', pki.client.cert, '--key', pki.client.key, '-u', 'spoofed', '-i', 'mosq', '-t', 'x', '-m', 'y']),
    );
    assert.equal(pub.code, 0, pub.output);
  }
  // Anonymous access is off and no authentication hook exists: the verified certificate alone let them in.
  const names = new Map(r.connected.map((c) => [c.clientId, c.username]));
  assert.equal(names.get('ours'), CLIENT_CN);
  assert.equal(names.get('mqttjs'), CLIENT_CN);
  if (noMosquittoClients === false) assert.equal(names.get('mosq'), CLIENT_CN);
});

test('mutual TLS: an authenticate hook sees the certificate CN as the username and can refuse a wrong CN', async (t) => {
  const other = pki.write('device-7', issueClientCertificate(pki.ca.issued, { commonName: 'device-7' }));
  const r = await startServer(t, { listeners: [tlsListener(pki, { ca: pki.ca.cert, requireCertificate: true, identityFrom: 'cn' })] }, [
    { name: 'only device-42', authenticate: (e) => (e.client.username === CLIENT_CN ? 'allow' : { verdict: 'deny', reasonCode: 0x87 }) },
  ]);
  const url = `mqtts://localhost:${r.port()}`;
  await ourClient(t, url, { tls: { ca: read(pki.ca.cert), cert: read(pki.client.cert), key: read(pki.client.key) } });
  const err = await ourClientError(url, {
    username: CLIENT_CN,
    tls: { ca: read(pki.ca.cert), cert: read(other.cert), key: read(other.key) },
  });
  assert.equal(err.code, 'CONNECTION_REFUSED');
  assert.equal((err as { reasonCode?: number }).reasonCode, 0x87);
  assert.deepEqual(
    r.connected.map((c) => c.username),
    [CLIENT_CN],
  );
});

test('mutual TLS with identityFrom subject: the whole certificate subject becomes the username', async (t) => {
  const r = await startServer(t, {
    listeners: [tlsListener(pki, { ca: pki.ca.cert, requireCertificate: true, identityFrom: 'subject' })],
  });
  await ourClient(t, `mqtts://localhost:${r.port()}`, {
    tls: { ca: read(pki.ca.cert), cert: read(pki.client.cert), key: read(pki.client.key) },
  });
  assert.equal(r.connected[0]?.username, `O=Acme,CN=${CLIENT_CN}`);
});

test('optional client certificates: with one the client is its CN, without one it keeps its own username', async (t) => {
  const r = await startServer(t, { listeners: [tlsListener(pki, { ca: pki.ca.cert, identityFrom: 'cn' })] });
  const url = `mqtts://localhost:${r.port()}`;
  await ourClient(t, url, { clientId: 'with', tls: { ca: read(pki.ca.cert), cert: read(pki.client.cert), key: read(pki.client.key) } });
  await ourClient(t, url, { clientId: 'without', username: 'alice', tls: { ca: read(pki.ca.cert) } });
  const names = new Map(r.connected.map((c) => [c.clientId, c.username]));
  assert.equal(names.get('with'), CLIENT_CN);
  assert.equal(names.get('without'), 'alice');
});

test('requireCertificate: a client without a certificate is refused during the handshake', async (t) => {
  const r = await startServer(t, { listeners: [tlsListener(pki, { ca: pki.ca.cert, requireCertificate: true })] });
  const err = await ourClientError(`mqtts://localhost:${r.port()}`, { tls: { ca: read(pki.ca.cert) } });
  // TLS 1.3: the client finishes its side of the handshake, then reads the server's alert.
  assert.match(err.message, /certificate required/i);
  if (noMosquittoClients === false) {
    const pub = await mosquitto(t, 'pub', mosquittoTls(r.port(), ['-t', 'x', '-m', 'y']));
    assert.notEqual(pub.code, 0, pub.output);
  }
  assert.equal(r.connected.length, 0);
});

test('mutual TLS: an expired client certificate is refused', async (t) => {
  const r = await startServer(t, { listeners: [tlsListener(pki, { ca: pki.ca.cert, requireCertificate: true, identityFrom: 'cn' })] });
  const tls = { ca: read(pki.ca.cert), cert: read(pki.expiredClient.cert), key: read(pki.expiredClient.key) };
  const err = await ourClientError(`mqtts://localhost:${r.port()}`, { tls });
  assert.match(err.message, /expired|certificate|closed|ECONNRESET/i);
  if (noMosquittoClients === false) {
    const pub = await mosquitto(
      t,
      'pub',
      mosquittoTls(r.port(), ['--cert', pki.expiredClient.cert, '--key', pki.expiredClient.key, '-t', 'x', '-m', 'y']),
    );
    assert.notEqual(pub.code, 0, pub.output);
  }
  assert.equal(r.connected.length, 0);
});

test('mutual TLS: a client certificate signed by another CA is refused', async (t) => {
  const r = await startServer(t, { listeners: [tlsListener(pki, { ca: pki.ca.cert, requireCertificate: true, identityFrom: 'cn' })] });
  const tls = { ca: read(pki.ca.cert), cert: read(pki.wrongCaClient.cert), key: read(pki.wrongCaClient.key) };
  // Node verifies client certificates after the handshake and closes the socket without an alert.
  const err = await ourClientError(`mqtts://localhost:${r.port()}`, { tls });
  assert.match(err.message, /closed before CONNACK/);
  await mqttjsRefusal(`mqtts://localhost:${r.port()}`, tls);
  assert.equal(r.connected.length, 0);
});

test('wrong CA: a client that does not trust the server certificate fails the handshake with a clear error', async (t) => {
  const r = await startServer(t, {
    listeners: [{ type: 'tls', host: '127.0.0.1', port: 0, cert: pki.wrongCaServer.cert, key: pki.wrongCaServer.key }],
  });
  const url = `mqtts://localhost:${r.port()}`;
  const err = await ourClientError(url, { tls: { ca: read(pki.ca.cert) } });
  assert.equal(err.code, 'DIAL_FAILED');
  assert.match(err.message, /cannot connect to mqtts:\/\/localhost:\d+: .*(certificate|issuer)/);

  const mqttjsError = await mqttjsRefusal(url, { ca: read(pki.ca.cert) });
  assert.ok(mqttjsError instanceof Error);
  assert.match(mqttjsError.message, /certificate|issuer/);

  if (noMosquittoClients === false) {
    const pub = await mosquitto(t, 'pub', mosquittoTls(r.port(), ['-t', 'x', '-m', 'y']));
    assert.notEqual(pub.code, 0, pub.output);
    assert.match(pub.output, /TLS|certificate/i);
  }
  // A certificate for other names is refused too (host name check).
  const wrongName = await ourClientError(url, { tls: { ca: read(pki.otherCa.cert), servername: 'broker.example.org' } });
  assert.match(wrongName.message, /broker\.example\.org|altnames|does not match/i);
  assert.equal(r.connected.length, 0);
});

test('minVersion TLSv1.3 refuses TLS 1.2 clients and accepts TLS 1.3 ones', async (t) => {
  const r = await startServer(t, {
    listeners: [tlsListener(pki, { minVersion: 'TLSv1.3' }), tlsListener(pki, { minVersion: 'TLSv1.2' })],
  });
  const handshake = (port: number, maxVersion: 'TLSv1.2' | 'TLSv1.3') =>
    new Promise<string>((resolve, reject) => {
      const s = tlsConnect({ host: '127.0.0.1', port, ca: read(pki.ca.cert), maxVersion }, () => {
        const v = s.getProtocol() ?? '';
        s.destroy();
        resolve(v);
      });
      s.once('error', reject);
    });
  await assert.rejects(handshake(r.port(0), 'TLSv1.2'), /protocol version|alert/i);
  assert.equal(await handshake(r.port(0), 'TLSv1.3'), 'TLSv1.3');
  // The default (TLSv1.2) listener takes both.
  assert.equal(await handshake(r.port(1), 'TLSv1.2'), 'TLSv1.2');
  await ourClient(t, `mqtts://localhost:${r.port(0)}`, { tls: { ca: read(pki.ca.cert) } });
  // MQTT.js hands its options to tls.connect, maxVersion included.
  const tls12: IClientOptions & { maxVersion: string } = { ca: read(pki.ca.cert), maxVersion: 'TLSv1.2' };
  const mqttjsError = await mqttjsRefusal(`mqtts://localhost:${r.port(0)}`, tls12);
  assert.ok(mqttjsError instanceof Error);
  assert.match(mqttjsError.message, /protocol version|alert/i);
  // mosquitto_pub cannot be held to TLS 1.2 (its --tls-version sets the minimum); openssl s_client can.
  const s12 = spawnTracked(t, 'openssl', ['s_client', '-connect', `127.0.0.1:${r.port(0)}`, '-tls1_2', '-CAfile', pki.ca.cert], {
    stdin: '',
  });
  const exit12 = await s12.exit(8000);
  assert.notEqual(exit12.code, 0, s12.output());
  if (noMosquittoClients === false) {
    const current = await mosquitto(t, 'pub', mosquittoTls(r.port(0), ['--tls-version', 'tlsv1.3', '-t', 'x', '-m', 'y']));
    assert.equal(current.code, 0, current.output);
  }
});

test('reload() swaps the server certificate: connected clients stay, new connections get the new certificate', async (t) => {
  // Files of its own, since this test rewrites them.
  const first = pki.write('reload', issueServerCertificate(pki.ca.issued, { hosts: ['localhost'] }));
  const r = await startServer(t, { listeners: [{ type: 'tls', host: '127.0.0.1', port: 0, cert: first.cert, key: first.key }] });
  const url = `mqtts://localhost:${r.port()}`;
  const tls = { ca: read(pki.ca.cert) };
  const subscriber = await ourClient(t, url, { tls, clientId: 'stays' });
  await subscriber.subscribe('reload/#', { qos: 1 });
  const mqttjs = await mqttjsConnect(url, { ca: read(pki.ca.cert), clientId: 'stays-too', reconnectPeriod: 0, connectTimeout: 3000 });
  t.after(() => mqttjs.endAsync(true));
  assert.equal((await servedCertificate(r.port())).fingerprint256, first.issued.certificate.fingerprint256);

  const second = pki.write('reload', issueServerCertificate(pki.ca.issued, { hosts: ['localhost'] }));
  await r.server.reload();
  assert.equal((await servedCertificate(r.port())).fingerprint256, second.issued.certificate.fingerprint256);
  // Clients connected before the reload still deliver and receive.
  const got = nextMessage(subscriber, 'reload/after');
  await mqttjs.publishAsync('reload/after', 'still here', { qos: 1 });
  assert.equal(await got, 'still here');
  const fresh = await ourClient(t, url, { tls });
  await fresh.publish('reload/fresh', 'new connection', { qos: 1 });
  assert.equal(r.disconnected.length, 0);

  // Broken files: the reload is refused and the current certificate stays.
  writeFileSync(first.cert, 'not a certificate');
  await r.server.reload();
  assert.ok(r.logs.some((l) => l.startsWith('error could not reload TLS certificates; keeping the old ones')));
  assert.equal((await servedCertificate(r.port())).fingerprint256, second.issued.certificate.fingerprint256);
  assert.equal(r.disconnected.length, 0);
});

test('SIGHUP makes `mozzie broker` reload its certificate without dropping clients', { skip: process.platform === 'win32' }, async (t) => {
  const first = pki.write('sighup', issueServerCertificate(pki.ca.issued, { hosts: ['localhost'] }));
  const config = `${pki.dir}/sighup.yaml`;
  writeFileSync(config, `listeners:\n  - type: tls\n    port: 0\n    cert: ${first.cert}\n    key: ${first.key}\n`);
  const main = new URL('../../src/cli/main.js', import.meta.url).pathname;
  // In the PKI's folder: whatever the broker keeps on disk goes there and is removed with it.
  const p = spawnTracked(t, process.execPath, [main, 'broker', '--config', config], { lifetimeMs: 20_000, cwd: pki.dir });
  const m = await p.waitFor(/listening on mqtts:\/\/127\.0\.0\.1:(\d+)/, 'stderr', 8000);
  const port = Number(m[1]);
  const tls = { ca: read(pki.ca.cert) };
  const subscriber = await ourClient(t, `mqtts://localhost:${port}`, { tls });
  await subscriber.subscribe('hup/#', { qos: 1 });
  assert.equal((await servedCertificate(port)).fingerprint256, first.issued.certificate.fingerprint256);

  const second = pki.write('sighup', issueServerCertificate(pki.ca.issued, { hosts: ['localhost'] }));
  p.child.kill('SIGHUP');
  await p.waitFor(/reloaded TLS certificates/, 'both', 5000);
  await waitUntil(() => p.running, 'broker still running');
  assert.equal((await servedCertificate(port)).fingerprint256, second.issued.certificate.fingerprint256);
  const got = nextMessage(subscriber, 'hup/after');
  const publisher = await ourClient(t, `mqtts://localhost:${port}`, { tls });
  await publisher.publish('hup/after', 'after SIGHUP', { qos: 1 });
  assert.equal(await got, 'after SIGHUP');
  const exit = await p.kill('SIGTERM');
  assert.equal(exit.code, 0, p.output());
});
