/**
 * The built command line, spawned as a user runs it: `node dist/src/cli/main.js ...`. Covers help and
 * version output, the start line, the anonymous-access rule and its warnings, graceful shutdown on
 * SIGTERM / SIGINT, and the errors a user meets (port in use, bad flags, bad configuration files).
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { defaultSettings } from '../../src/broker/options.js';
import { PacketType } from '../../src/protocol/index.js';
import { type Spawned, spawnTracked } from '../helpers/child.js';
import { PacketClient } from '../helpers/packet-client.js';
import { Inbox, mqttjs } from '../interop/mqttjs-support.js';

// Compiled to dist/test/cli/: the CLI is dist/src/cli/main.js, package.json is at the repository root.
const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const PACKAGE = fileURLToPath(new URL('../../../package.json', import.meta.url));
const version = (JSON.parse(readFileSync(PACKAGE, 'utf8')) as { version: string }).version;

function mozzie(t: TestContext, args: readonly string[]): Spawned {
  return spawnTracked(t, process.execPath, [MAIN, ...args], { env: { ...process.env, NO_COLOR: '1' } });
}

/** Runs a command that should end by itself; returns its exit code. */
async function run(t: TestContext, args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = mozzie(t, args);
  const exit = await p.exit(8000);
  return { code: exit.code, stdout: p.stdout, stderr: p.stderr };
}

const START_LINE =
  /^mozzie (\S+) listening on mqtt:\/\/([^\s:]+|\[[^\]]+\]):(\d+) \(MQTT 3\.1, 3\.1\.1, 5\.0; anonymous access (allowed|refused)\)$/m;

/** Starts `mozzie broker ...` and waits for its start line; returns the process and the bound port. */
async function startCli(t: TestContext, args: readonly string[]): Promise<{ p: Spawned; port: number; host: string; anonymous: string }> {
  const p = mozzie(t, ['broker', ...args]);
  const m = await p.waitFor(START_LINE, 'stderr', 8000);
  return { p, host: m[2] ?? '', port: Number(m[3]), anonymous: m[4] ?? '' };
}

/** A port something is listening on, held until the test ends. */
async function occupiedPort(t: TestContext): Promise<number> {
  const server: Server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const address = server.address();
  assert.ok(typeof address === 'object' && address !== null);
  return address.port;
}

/** A port free a moment ago (bound to 0, then released). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  assert.ok(typeof address === 'object' && address !== null);
  return address.port;
}

function configFile(t: TestContext, name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'mozzie-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

// ---- help and version ---------------------------------------------------------------------------

test('mozzie --help lists the commands and options, exit 0', async (t) => {
  const [r, short] = await Promise.all([run(t, ['--help']), run(t, ['-h'])]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.match(r.stdout, new RegExp(`^mozzie ${version.replaceAll('.', '\\.')}: MQTT 3\\.1, 3\\.1\\.1 and 5\\.0`));
  assert.match(r.stdout, /^Usage: mozzie <command> \[options\]$/m);
  assert.match(r.stdout, /^ {2}broker {5}run the MQTT broker/m);
  assert.match(r.stdout, /-v, --version/);
  assert.equal(short.stdout, r.stdout);
});

test('mozzie without a command prints the usage and exits 1', async (t) => {
  const r = await run(t, []);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stdout, /Usage: mozzie <command>/);
});

test('mozzie --version prints the package version, exit 0', async (t) => {
  for (const r of await Promise.all([run(t, ['--version']), run(t, ['-v'])])) {
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${version}\n`);
    assert.equal(r.stderr, '');
  }
});

test('mozzie broker --help lists options and every setting with its default', async (t) => {
  const r = await run(t, ['broker', '--help']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  for (const flag of ['--config FILE', '--host HOST', '--port PORT', '--allow-anonymous', '--log-level LEVEL', '--log-json', '--help']) {
    assert.ok(r.stdout.includes(flag), `help mentions ${flag}`);
  }
  const setting = (key: string, def: string | number | boolean) =>
    assert.match(r.stdout, new RegExp(`^ {2}${key.replace(/[.[\]]/g, '\\$&')} +${String(def)} +\\S`, 'm'), `${key} with default ${def}`);
  setting('listeners[].host', '127.0.0.1');
  setting('listeners[].port', 1883);
  setting('log.level', 'info');
  setting('limits.maxInflight', defaultSettings.limits.maxInflight);
  setting('limits.maxPacketSize', defaultSettings.limits.maxPacketSize);
  setting('capabilities.maximumQoS', defaultSettings.capabilities.maximumQoS);
  setting('capabilities.topicAliasMaximum', defaultSettings.capabilities.topicAliasMaximum);
  setting('sessions.maxExpiryInterval', defaultSettings.sessions.maxExpiryInterval);
  setting('sharedSubscriptionStrategy', defaultSettings.sharedSubscriptionStrategy);
  setting('sys.interval', defaultSettings.sysInterval);
  assert.match(r.stdout, /^ {2}allowAnonymous +- +Accept clients without credentials/m);
  assert.match(r.stdout, /log\.level .*\(debug \| info \| warn \| error\)/);
});

// ---- starting --------------------------------------------------------------------------------------

test('mozzie broker --port 0: start line with the bound port, MQTT works, SIGTERM exits 0', async (t) => {
  const { p, port, host, anonymous } = await startCli(t, ['--port', '0']);
  assert.equal(host, '127.0.0.1');
  assert.ok(port > 0);
  assert.equal(anonymous, 'allowed');
  assert.match(p.stderr, new RegExp(`^mozzie ${version.replaceAll('.', '\\.')} listening on mqtt://127\\.0\\.0\\.1:${port} `, 'm'));
  assert.doesNotMatch(p.stderr, /WARNING|Note:/);

  const c = await mqttjs(t, `mqtt://127.0.0.1:${port}`, { protocolVersion: 5, clientId: 'cli-client' });
  const inbox = new Inbox(c);
  await c.subscribeAsync('cli/#', { qos: 1 });
  await c.publishAsync('cli/hello', 'world', { qos: 1 });
  const [m] = await inbox.take(1);
  assert.equal(m?.payload, 'world');
  await p.waitFor(/INFO {2}client connected clientId=cli-client protocolVersion=5/, 'stderr');
  await c.endAsync();

  assert.deepEqual(await p.kill('SIGTERM', 5000), { code: 0, signal: null }, p.output());
  assert.match(p.stderr, /mozzie: shutting down\n$/);
  assert.equal(p.stdout, '');
});

test('mozzie broker --host 0.0.0.0 --allow-anonymous warns that anyone can connect, and accepts clients', async (t) => {
  const { p, port, host, anonymous } = await startCli(t, ['--host', '0.0.0.0', '--port', '0', '--allow-anonymous']);
  assert.equal(host, '0.0.0.0');
  assert.equal(anonymous, 'allowed');
  await p.waitFor(/^WARNING: anonymous clients are accepted on a non-loopback address/m, 'stderr');
  const c = await PacketClient.tcp(port, 4);
  t.after(() => c.end());
  const ack = await c.connect({ clientId: 'anon-ok' });
  assert.equal(ack.reasonCode, 0);
  assert.deepEqual(await p.kill('SIGTERM'), { code: 0, signal: null });
});

test('[MQTT-3.2.2-6/5.0] mozzie broker --host 0.0.0.0 refuses anonymous clients by default: rc 5 (3.1.1), 0x87 (5.0)', async (t) => {
  const { p, port, anonymous } = await startCli(t, ['--host', '0.0.0.0', '--port', '0']);
  assert.equal(anonymous, 'refused');
  await p.waitFor(/^Note: no authentication is configured, so every client will be refused; use --allow-anonymous/m, 'stderr');
  assert.doesNotMatch(p.stderr, /WARNING/);
  const v311 = await PacketClient.tcp(port, 4);
  t.after(() => v311.end());
  const ack4 = await v311.connect({ clientId: 'anon-311' });
  assert.equal(ack4.reasonCode, 5, 'Connection Refused, not authorized');
  assert.equal(ack4.sessionPresent, false);
  await v311.waitClosed();
  const v5 = await PacketClient.tcp(port, 5);
  t.after(() => v5.end());
  const ack5 = await v5.connect({ clientId: 'anon-5' });
  assert.equal(ack5.reasonCode, 0x87);
  await v5.waitClosed();
  assert.deepEqual(await p.kill('SIGTERM'), { code: 0, signal: null });
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`[MQTT-3.1.2-10] mozzie broker on ${signal}: clients get DISCONNECT 0x8B, no Will is published, exit 0`, async (t) => {
    const { p, port } = await startCli(t, ['--port', '0', '--log-level', 'debug']);
    // The client with a Will connects first, so it is closed first: a Will published then would reach
    // the watcher before its own DISCONNECT.
    const willer = await PacketClient.tcp(port, 5);
    t.after(() => willer.end());
    const ack = await willer.connect({
      clientId: 'willer',
      will: { topic: 'will/cli', payload: Buffer.from('should not be sent'), qos: 0, retain: false },
    });
    assert.equal(ack.reasonCode, 0);
    const watcher = await PacketClient.tcp(port, 5);
    t.after(() => watcher.end());
    await watcher.connect({ clientId: 'watcher' });
    watcher.send({
      type: PacketType.Subscribe,
      packetId: 1,
      subscriptions: [{ topicFilter: 'will/#', qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
    });
    await watcher.expect(PacketType.Suback);

    p.child.kill(signal);
    const d1 = await willer.expect(PacketType.Disconnect, 5000);
    const d2 = await watcher.expect(PacketType.Disconnect, 5000);
    assert.equal(d1.reasonCode, 0x8b, 'Server shutting down');
    assert.equal(d2.reasonCode, 0x8b);
    await willer.waitClosed();
    await watcher.waitClosed();
    assert.deepEqual(
      watcher.received.filter((x) => x.type === PacketType.Publish),
      [],
      'the Will was not published',
    );
    assert.deepEqual(await p.exit(5000), { code: 0, signal: null }, p.output());
    assert.match(p.stderr, /^mozzie: shutting down$/m);
    assert.match(p.stderr, /client disconnected clientId=willer reason=server-shutting-down/);
    assert.doesNotMatch(p.stderr, /publishing will/, 'the debug log shows no Will either');
  });
}

// ---- errors ---------------------------------------------------------------------------------------

test('mozzie broker on a port in use: a friendly error and exit 1', async (t) => {
  const port = await occupiedPort(t);
  const r = await run(t, ['broker', '--port', String(port)]);
  assert.equal(r.code, 1, r.stderr);
  assert.equal(
    r.stderr,
    `mozzie broker: the address is already in use (listen EADDRINUSE: address already in use 127.0.0.1:${port}); is another broker running? Use --port to pick another.\n`,
  );
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
});

test('mozzie broker with an unknown flag, a missing value or a stray argument: message and exit 2', async (t) => {
  const [unknown, missing, stray, command] = await Promise.all([
    run(t, ['broker', '--bogus']),
    run(t, ['broker', '--port']),
    run(t, ['broker', 'extra']),
    run(t, ['brokr']),
  ]);
  assert.equal(unknown.code, 2, unknown.stderr);
  assert.equal(unknown.stderr, `mozzie broker: Unknown option '--bogus'\nRun "mozzie broker --help" for the options.\n`);
  assert.equal(missing.code, 2, missing.stderr);
  assert.match(missing.stderr, /^mozzie broker: Option '-p, --port <value>' argument missing\n/);
  assert.equal(stray.code, 2, stray.stderr);
  assert.match(stray.stderr, /Unexpected argument 'extra'/);
  assert.equal(command.code, 2, command.stderr);
  assert.equal(command.stderr, 'mozzie: unknown command "brokr". Run "mozzie --help" for the list.\n');
});

test('mozzie broker with bad flag values names the setting, exit 2', async (t) => {
  const [port, big, level] = await Promise.all([
    run(t, ['broker', '--port', 'abc']),
    run(t, ['broker', '--port', '70000']),
    run(t, ['broker', '--log-level', 'loud']),
  ]);
  assert.equal(port.code, 2, port.stderr);
  assert.match(port.stderr, /^mozzie broker: command line has 1 problem:\n {2}- listeners\[0\]\.port: .*expected number/);
  assert.equal(big.code, 2, big.stderr);
  assert.match(big.stderr, /listeners\[0\]\.port: .*65535/);
  assert.equal(level.code, 2, level.stderr);
  assert.match(level.stderr, /log\.level: .*"debug"\|"info"\|"warn"\|"error"/);
});

test('mozzie broker --config: a YAML syntax error names its line, exit 2', async (t) => {
  const path = configFile(t, 'broken.yaml', 'limits:\n  maxInflight: 10\n  maxPacketSize: [1, 2\nlog:\n  level: info\n');
  const [r, tabs, missing] = await Promise.all([
    run(t, ['broker', '--config', path]),
    run(t, ['broker', '--config', configFile(t, 'tabs.yaml', 'limits:\n\tmaxInflight: 3\n')]),
    run(t, ['broker', '--config', join(tmpdir(), 'mozzie-no-such-file.yaml')]),
  ]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, new RegExp(`^mozzie broker: ${path.replace(/[.\\]/g, '\\$&')} has \\d+ problems?:\n`));
  assert.match(r.stderr, /^ {2}- line 4\b/m, r.stderr);
  assert.equal(tabs.code, 2, tabs.stderr);
  assert.match(tabs.stderr, /^ {2}- line 2\b.*[Tt]ab/m);
  assert.equal(missing.code, 2, missing.stderr);
  assert.match(missing.stderr, /mozzie-no-such-file\.yaml has 1 problem:\n {2}- file not found\n$/);
});

test('mozzie broker --config: every schema error at once, each naming its key, exit 2', async (t) => {
  const path = configFile(
    t,
    'invalid.yaml',
    [
      'listeners:',
      '  - host: 127.0.0.1',
      '    port: 99999',
      'limits:',
      '  maxInflight: 0',
      '  maxPacketSize: big',
      'log:',
      '  level: loud',
      'capabilities:',
      '  maximumQoS: 3',
      'sharedSubscriptionStrategy: fastest',
      '',
    ].join('\n'),
  );
  const r = await run(t, ['broker', '-c', path]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /has 6 problems:\n/);
  const problems = r.stderr.split('\n').filter((l) => l.startsWith('  - '));
  assert.equal(problems.length, 6, r.stderr);
  for (const key of [
    'listeners[0].port',
    'limits.maxInflight',
    'limits.maxPacketSize',
    'log.level',
    'capabilities.maximumQoS',
    'sharedSubscriptionStrategy',
  ]) {
    assert.ok(
      problems.some((l) => l.startsWith(`  - ${key}: `)),
      `${key} named in:\n${r.stderr}`,
    );
  }
  assert.equal(r.stdout, '');
});

test('mozzie broker --config: an unknown key suggests the one meant ("did you mean")', async (t) => {
  const path = configFile(
    t,
    'typos.yaml',
    ['limist: {}', 'limits:', '  maxInflght: 5', 'listeners:', '  - prot: 1884', 'allowAnonymus: true', ''].join('\n'),
  );
  const r = await run(t, ['broker', '-c', path]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /has 4 problems:\n/);
  assert.match(r.stderr, /^ {2}- limist: unknown setting \(did you mean "limits"\?\)$/m);
  assert.match(r.stderr, /^ {2}- limits\.maxInflght: unknown setting \(did you mean "maxInflight"\?\)$/m);
  assert.match(r.stderr, /^ {2}- listeners\[0\]\.prot: unknown setting \(did you mean "port"\?\)$/m);
  assert.match(r.stderr, /^ {2}- allowAnonymus: unknown setting \(did you mean "allowAnonymous"\?\)$/m);
});

test('mozzie broker --config: the file sets the port and log level; flags override the file', async (t) => {
  const port = await freePort();
  const path = configFile(t, 'mozzie.yaml', `listeners:\n  - host: 127.0.0.1\n    port: ${port}\nlog:\n  level: warn\n`);
  const fromFile = await startCli(t, ['--config', path]);
  assert.equal(fromFile.port, port, 'port from the file');
  const c = await PacketClient.tcp(port, 5);
  t.after(() => c.end());
  assert.equal((await c.connect({ clientId: 'quiet' })).reasonCode, 0);
  c.end();
  assert.deepEqual(await fromFile.p.kill('SIGTERM'), { code: 0, signal: null });
  assert.doesNotMatch(fromFile.p.stderr, /client connected/, 'log.level warn from the file hides info lines');

  // The same file with flags: --port replaces the file's port, --log-level and --log-json its log settings.
  const busy = await occupiedPort(t);
  const busyPath = configFile(
    t,
    'busy.yaml',
    `listeners:\n  - host: 127.0.0.1\n    port: ${busy}\nlog:\n  level: warn\nallowAnonymous: false\n`,
  );
  const overridden = mozzie(t, ['broker', '-c', busyPath, '--port', '0', '--log-level', 'debug', '--log-json', '--allow-anonymous']);
  const line = await overridden.waitFor(/listening on mqtt:\/\/127\.0\.0\.1:(\d+) .*anonymous access allowed/, 'stderr', 8000);
  const actual = Number(line[1]);
  assert.notEqual(actual, busy);
  const d = await PacketClient.tcp(actual, 4);
  t.after(() => d.end());
  assert.equal((await d.connect({ clientId: 'json-log' })).reasonCode, 0, '--allow-anonymous overrides allowAnonymous: false');
  const logged = await overridden.waitFor(/^\{.*"msg":"client connected".*\}$/m, 'stderr');
  const entry = JSON.parse(logged[0]) as Record<string, unknown>;
  assert.equal(entry['level'], 'info');
  assert.equal(entry['clientId'], 'json-log');
  assert.equal(entry['protocolVersion'], 4);
  assert.equal(typeof entry['time'], 'string');
  d.end();
  assert.deepEqual(await overridden.kill('SIGINT'), { code: 0, signal: null });
});

test('mozzie broker --config accepts JSON', async (t) => {
  const path = configFile(t, 'mozzie.json', JSON.stringify({ listeners: [{ port: 0 }], capabilities: { maximumQoS: 1 } }));
  const { p, port } = await startCli(t, ['-c', path]);
  const c = await PacketClient.tcp(port, 5);
  t.after(() => c.end());
  const ack = await c.connect({ clientId: 'json-config' });
  assert.equal(ack.properties?.maximumQoS, 1, 'the setting from the JSON file is in force');
  c.end();
  assert.deepEqual(await p.kill('SIGTERM'), { code: 0, signal: null });
});
