/**
 * `mozzie broker --check-config`: what each listener accepts, and the checks of certificate files
 * (present, parsable, key matches, not expired, expiring soon, host covered), with exit 0 / 1 and no
 * secrets in the output.
 */
import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { issueServerCertificate } from '../../src/certs/index.js';
import { inspectTlsFiles } from '../../src/certs/inspect.js';
import { spawnTracked } from '../helpers/child.js';
import { makePki, type Pki } from '../transport/helpers.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const DAY = 86_400_000;

let pki: Pki;
before(() => {
  pki = makePki();
});
after(() => pki.remove());

async function check(t: TestContext, yaml: string, extra: readonly string[] = []): Promise<{ code: number | null; out: string }> {
  const file = join(pki.dir, `config-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, yaml);
  const p = spawnTracked(t, process.execPath, [MAIN, 'broker', '--config', file, '--check-config', ...extra]);
  const exit = await p.exit(8000);
  return { code: exit.code, out: p.stdout + p.stderr };
}

test('--check-config explains each listener: TLS, client certificates, identity, anonymous access, PROXY, WebSocket', async (t) => {
  const r = await check(
    t,
    `listeners:
  - type: tls
    host: 127.0.0.1
    port: 8883
    cert: ${pki.server.cert}
    key: ${pki.server.key}
    ca: ${pki.ca.cert}
    requireCertificate: true
    identityFrom: cn
    allowAnonymous: false
  - type: tcp
    host: 127.0.0.1
    port: 1884
    proxyProtocol: true
  - type: wss
    port: 8884
    cert: ${pki.server.cert}
    key: ${pki.server.key}
    minVersion: TLSv1.3
    path: /ws
`,
  );
  assert.equal(r.code, 0, r.out);
  for (const s of [
    'Listener 1: tls:8883  mqtts://127.0.0.1:8883',
    'TLS: TLS 1.2 and 1.3',
    `client certificates: required, signed by a CA in ${pki.ca.cert}`,
    'identity: the certificate CN becomes the username (identityFrom: cn)',
    'anonymous clients: refused (listener allowAnonymous)',
    'the certificate covers 127.0.0.1',
    'belongs to the certificate',
    'client CA',
    'PROXY protocol: every connection must start with a v1 or v2 header',
    'anonymous clients: allowed (default: a loopback address)',
    'wss://127.0.0.1:8884/ws',
    'TLS 1.3 only',
    'client certificates: not requested',
    'WebSocket path /ws',
    'Authentication: none configured',
    'OK: 0 errors, 0 warnings',
  ]) {
    assert.ok(r.out.includes(s), `missing "${s}" in:\n${r.out}`);
  }
  assert.ok(!r.out.includes('PRIVATE KEY'));
});

test('--check-config fails (exit 1) for an expired certificate, a key of another certificate and a missing file', async (t) => {
  const now = Date.now();
  const expired = pki.write(
    'expired-server',
    issueServerCertificate(pki.ca.issued, { hosts: ['localhost'], notBefore: new Date(now - 10 * DAY), notAfter: new Date(now - DAY) }),
  );
  const r = await check(
    t,
    `listeners:
  - type: tls
    cert: ${expired.cert}
    key: ${expired.key}
  - type: tls
    port: 8884
    cert: ${pki.server.cert}
    key: ${pki.client.key}
  - type: tls
    port: 8885
    cert: ${join(pki.dir, 'nope.crt')}
    key: ${pki.server.key}
`,
  );
  assert.equal(r.code, 1, r.out);
  assert.match(r.out, /ERROR server certificate CN=localhost expired on \d{4}-\d\d-\d\d/);
  assert.match(r.out, /ERROR key .*client\.key does not belong to the certificate/);
  assert.match(r.out, /ERROR server certificate .*nope\.crt: file not found/);
  assert.match(r.out, /FAILED: 3 errors/);
});

test('--check-config warns about a certificate that expires within 30 days, but passes', async (t) => {
  const soon = pki.write('soon', issueServerCertificate(pki.ca.issued, { hosts: ['127.0.0.1'], days: 10 }));
  const r = await check(t, `listeners:\n  - type: tls\n    cert: ${soon.cert}\n    key: ${soon.key}\n`);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /WARN {2}server certificate CN=127\.0\.0\.1 expires in (9|10) days/);
  assert.match(r.out, /OK: 0 errors, 1 warning$/m);
});

test('--check-config: the certificate must cover the host the listener binds', async (t) => {
  const r = await check(
    t,
    `listeners:
  - type: tls
    host: broker.example.org
    cert: ${pki.server.cert}
    key: ${pki.server.key}
  - type: tls
    host: 127.0.0.2
    cert: ${pki.server.cert}
    key: ${pki.server.key}
  - type: tls
    host: 0.0.0.0
    port: 8884
    cert: ${pki.server.cert}
    key: ${pki.server.key}
    allowAnonymous: false
`,
  );
  assert.equal(r.code, 1, r.out);
  assert.match(r.out, /ERROR the certificate does not cover broker\.example\.org \(it covers DNS:localhost, IP Address:127\.0\.0\.1/);
  assert.match(r.out, /WARN {2}the certificate does not cover 127\.0\.0\.2; clients must connect by one of/);
  assert.match(r.out, /info {2}listening on every interface: clients must connect by a name the certificate covers/);
  assert.match(r.out, /no client can connect here/);
});

test('--check-config never prints a passphrase or key, and says when the passphrase is wrong', async (t) => {
  const secret = 'correct horse battery staple';
  const encrypted = join(pki.dir, 'encrypted.key');
  const key = createPrivateKey(pki.server.issued.keyPem);
  writeFileSync(encrypted, key.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: secret }));
  chmodSync(encrypted, 0o644);
  const config = (passphrase: string) =>
    `listeners:\n  - type: tls\n    cert: ${pki.server.cert}\n    key: ${encrypted}\n    passphrase: ${JSON.stringify(passphrase)}\n`;
  const good = await check(t, config(secret));
  assert.equal(good.code, 0, good.out);
  assert.match(good.out, /key passphrase: set \(not shown\)/);
  assert.match(good.out, /WARN {2}key .*encrypted\.key is readable by other users \(mode 644\)/);
  const bad = await check(t, config('wrong guess'));
  assert.equal(bad.code, 1, bad.out);
  assert.match(bad.out, /the configured passphrase does not decrypt it/);
  for (const out of [good.out, bad.out]) {
    assert.ok(!out.includes(secret) && !out.includes('wrong guess') && !out.includes('PRIVATE KEY'), out);
  }
});

test('--check-config exits 1 on an invalid configuration, naming the key', async (t) => {
  const r = await check(t, 'listeners:\n  - type: tls\n    cert: x.crt\n    requireCertificate: true\n');
  assert.equal(r.code, 1, r.out);
  assert.match(r.out, /listeners\[0\]\.key/);
});

test('inspectTlsFiles: a wrong-CA chain and a CA certificate used as the server certificate are reported', async () => {
  const chain = join(pki.dir, 'bad-chain.crt');
  // The server certificate followed by a CA that did not sign it.
  writeFileSync(chain, pki.server.issued.certificatePem + pki.otherCa.issued.certificatePem);
  const findings = await inspectTlsFiles({ cert: chain, key: pki.server.key, host: 'localhost' });
  assert.ok(findings.some((f) => f.severity === 'error' && /is not signed by the next one/.test(f.text)));
  const ca = await inspectTlsFiles({ cert: pki.ca.cert, key: pki.ca.key, host: '127.0.0.1', ca: pki.client.cert });
  assert.ok(ca.some((f) => f.severity === 'warn' && /is a CA certificate/.test(f.text)));
  assert.ok(ca.some((f) => f.severity === 'warn' && /is not a CA certificate/.test(f.text)));
});

test('--check-config reports the password and ACL files (names only) and fails when one is missing', async (t) => {
  const passwords = join(pki.dir, 'passwords');
  writeFileSync(passwords, '');
  const ok = await check(t, `listeners:\n  - type: tcp\n    host: 0.0.0.0\nauth:\n  passwordFile: ${passwords}\n`);
  assert.equal(ok.code, 0, ok.out);
  assert.match(ok.out, /Authentication: password file .*passwords/);
  assert.ok(!ok.out.includes('no client can connect here'), ok.out);
  const missing = await check(t, `auth:\n  passwordFile: ${passwords}\n  aclFile: ${join(pki.dir, 'no-acl')}\n`);
  assert.equal(missing.code, 1, missing.out);
  assert.match(missing.out, /ERROR ACL file .*no-acl: file not found/);
});
