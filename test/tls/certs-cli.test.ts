/**
 * `mozzie certs` as a user runs it: a CA, server and client certificates in a folder, keys mode 0600,
 * and printed configuration that works when pasted (checked by starting `mozzie broker` with it and
 * connecting mosquitto_pub with the printed flags).
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { spawnTracked } from '../helpers/child.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'mozzie-certs-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function certs(
  t: TestContext,
  cwd: string,
  args: readonly string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = spawnTracked(t, process.execPath, [MAIN, 'certs', ...args], { cwd });
  const exit = await p.exit(8000);
  return { code: exit.code, stdout: p.stdout, stderr: p.stderr };
}

const mode = (path: string) => statSync(path).mode & 0o777;
const cert = (path: string) => new X509Certificate(readFileSync(path));

test('mozzie certs --help shows the commands and examples; no command is a usage error', async (t) => {
  const dir = tempDir(t);
  const help = await certs(t, dir, ['--help']);
  assert.equal(help.code, 0);
  for (const s of ['Usage: mozzie certs', 'init', 'ca', 'server', 'client', '--host', '--cn', 'Examples:'])
    assert.ok(help.stdout.includes(s), s);
  assert.equal((await certs(t, dir, [])).code, 2);
  const unknown = await certs(t, dir, ['frobnicate']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command "frobnicate"/);
});

test('mozzie certs ca, server and client: files signed by the CA, keys readable by the owner only', async (t) => {
  const dir = tempDir(t);
  const ca = await certs(t, dir, ['ca', '--out', './certs']);
  assert.equal(ca.code, 0, ca.stderr);
  assert.match(ca.stdout, /Wrote CA certs\/ca\.crt and its key certs\/ca\.key \(mode 0600\)/);
  const server = await certs(t, dir, ['server', '--ca', './certs', '--host', 'localhost', '--host', '127.0.0.1', '--out', './certs']);
  assert.equal(server.code, 0, server.stderr);
  const client = await certs(t, dir, ['client', '--ca', './certs', '--cn', 'device-42', '--out', './certs']);
  assert.equal(client.code, 0, client.stderr);

  const files = join(dir, 'certs');
  for (const name of ['ca', 'server', 'device-42']) {
    assert.equal(mode(join(files, `${name}.key`)), 0o600, `${name}.key`);
    assert.equal(mode(join(files, `${name}.crt`)), 0o644, `${name}.crt`);
  }
  const caCert = cert(join(files, 'ca.crt'));
  const serverCert = cert(join(files, 'server.crt'));
  const clientCert = cert(join(files, 'device-42.crt'));
  assert.ok(caCert.ca);
  assert.ok(serverCert.verify(caCert.publicKey) && serverCert.checkIssued(caCert));
  assert.ok(clientCert.verify(caCert.publicKey));
  assert.equal(serverCert.subjectAltName, 'DNS:localhost, IP Address:127.0.0.1');
  assert.equal(serverCert.checkHost('localhost'), 'localhost');
  assert.equal(clientCert.subject, 'CN=device-42');
  assert.deepEqual(clientCert.keyUsage, ['1.3.6.1.5.5.7.3.2']);
  assert.deepEqual(serverCert.keyUsage, ['1.3.6.1.5.5.7.3.1']);
  // OpenSSL, an implementation independent of node's X509Certificate, agrees, purposes included.
  for (const [file, purpose] of [
    ['server.crt', 'sslserver'],
    ['device-42.crt', 'sslclient'],
  ] as const) {
    const v = spawnTracked(t, 'openssl', ['verify', '-purpose', purpose, '-CAfile', join(files, 'ca.crt'), join(files, file)]);
    assert.equal((await v.exit(5000)).code, 0, v.output());
    assert.match(v.stdout, /: OK/);
  }
  // The output says how to use them.
  assert.match(server.stdout, /type: tls/);
  assert.match(server.stdout, /mosquitto_sub -h localhost -p 8883 --cafile certs\/ca\.crt/);
  assert.match(client.stdout, /requireCertificate: true/);
  assert.match(client.stdout, /identityFrom: cn/);
  assert.match(client.stdout, /--cert certs\/device-42\.crt --key certs\/device-42\.key/);
});

test('mozzie certs refuses to replace files unless --force, and reports bad options', async (t) => {
  const dir = tempDir(t);
  assert.equal((await certs(t, dir, ['ca'])).code, 0);
  const again = await certs(t, dir, ['ca']);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /ca\.crt already exists; use --force/);
  // init writes all or nothing: with a CA there already, it writes no server certificate either.
  assert.equal((await certs(t, dir, ['init'])).code, 1);
  assert.ok(!existsSync(join(dir, 'certs', 'server.crt')));
  const before = readFileSync(join(dir, 'certs', 'ca.crt'), 'utf8');
  assert.equal((await certs(t, dir, ['ca', '--force', '--key-type', 'rsa'])).code, 0);
  const after = cert(join(dir, 'certs', 'ca.crt'));
  assert.notEqual(after.toString(), before);
  assert.equal(after.publicKey.asymmetricKeyType, 'rsa');

  const noCa = await certs(t, dir, ['server', '--ca', './elsewhere']);
  assert.equal(noCa.code, 1);
  assert.match(noCa.stderr, /no CA at .*elsewhere; create one with "mozzie certs ca --out \.\/elsewhere"/);
  assert.equal((await certs(t, dir, ['client'])).code, 2);
  assert.equal((await certs(t, dir, ['ca', '--key-type', 'dsa'])).code, 2);
  assert.equal((await certs(t, dir, ['ca', '--days', '0'])).code, 2);
  assert.equal((await certs(t, dir, ['server', '--host', 'bad host!'])).code, 2);
});

test('mozzie certs init: the printed mutual-TLS configuration and mosquitto_pub flags work as printed', async (t) => {
  const dir = tempDir(t);
  const init = await certs(t, dir, ['init', '--cn', 'sensor-1']);
  assert.equal(init.code, 0, init.stderr);
  for (const f of ['ca', 'server', 'sensor-1']) assert.ok(existsSync(join(dir, 'certs', `${f}.key`)), f);

  // The second "listeners:" block is the mutual-TLS one; pick a free port instead of 8883.
  const blocks = init.stdout.split(/^listeners:$/m);
  const yaml = `listeners:${(blocks[2] ?? '').split(/\n\n/)[0]}\n`.replace('port: 8883', 'port: 0');
  assert.match(yaml, /requireCertificate: true/);
  const config = join(dir, 'mozzie.yaml');
  writeFileSync(config, yaml);

  const check = spawnTracked(t, process.execPath, [MAIN, 'broker', '--config', config, '--check-config'], { cwd: dir });
  assert.equal((await check.exit(8000)).code, 0, check.output());
  assert.match(check.stdout, /OK: 0 errors/);

  const broker = spawnTracked(t, process.execPath, [MAIN, 'broker', '--config', config], { cwd: dir, lifetimeMs: 20_000 });
  const m = await broker.waitFor(/listening on mqtts:\/\/127\.0\.0\.1:(\d+)/, 'stderr', 8000);
  const pubLine = init.stdout.split('\n').find((l) => l.trim().startsWith('mosquitto_pub') && l.includes('--cert'));
  assert.ok(pubLine !== undefined);
  if (existsSync('/usr/bin/mosquitto_pub')) {
    const args = pubLine
      .trim()
      .split(/\s+/)
      .slice(1)
      .map((a) => (a === '8883' ? (m[1] ?? '') : a));
    const pub = spawnTracked(t, '/usr/bin/mosquitto_pub', args, { cwd: dir });
    assert.equal((await pub.exit(8000)).code, 0, pub.output());
  }
  assert.equal((await broker.kill('SIGTERM')).code, 0);
});
