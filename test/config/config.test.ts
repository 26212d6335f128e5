/**
 * The configuration schema (validateConfig, loadConfigFile, settingsHelp) and embedding the server with
 * createServer(config), including the loopback rule for anonymous access.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { type TestContext, test } from 'node:test';
import {
  ConfigError,
  createConsoleLogger,
  createServer,
  defaultSettings,
  isLoopback,
  type Logger,
  loadConfigFile,
  type MozzieConfigInput,
  type MozzieServer,
  PacketType,
  settingsHelp,
  validateConfig,
} from '../../src/index.js';
import { PacketClient } from '../helpers/packet-client.js';
import { Inbox, mqttjs } from '../interop/mqttjs-support.js';

/** Runs `fn`, which must throw a ConfigError; returns it. */
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a ConfigError');
}

async function configErrorAsync(promise: Promise<unknown>): Promise<ConfigError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a ConfigError');
}

function file(t: TestContext, name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'mozzie-config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** A server built from `input` with a silent logger, stopped in the test's cleanup. */
function server(t: TestContext, input: MozzieConfigInput, logger?: Logger): MozzieServer {
  const s = createServer(input, { logger: logger ?? createConsoleLogger({ level: 'error', format: 'text', write: () => undefined }) });
  t.after(() => s.stop());
  return s;
}

// ---- validateConfig -------------------------------------------------------------------------------

test('validateConfig({}) fills in every default, from the broker defaults', () => {
  const c = validateConfig({});
  assert.deepEqual(c.listeners, [{ type: 'tcp', host: '127.0.0.1', port: 1883, proxyProtocol: false }]);
  assert.deepEqual(c.log, { level: 'info', format: 'text' });
  assert.deepEqual(c.capabilities, defaultSettings.capabilities);
  assert.deepEqual(c.limits, defaultSettings.limits);
  assert.deepEqual(c.sessions, defaultSettings.sessions);
  assert.equal(c.sharedSubscriptionStrategy, defaultSettings.sharedSubscriptionStrategy);
  assert.equal(c.outboundTopicAliases, defaultSettings.outboundTopicAliases);
  assert.equal(c.validatePayloadFormat, defaultSettings.validatePayloadFormat);
  assert.equal(c.sys.interval, defaultSettings.sysInterval);
  assert.equal(c.allowAnonymous, undefined, 'unset: decided by the loopback rule');
  assert.equal(c.responseInformation, undefined);
  assert.deepEqual(validateConfig(undefined), c);
  assert.deepEqual(validateConfig(null), c);
});

test('validateConfig keeps what is given and defaults the rest, nested and in listeners', () => {
  const c = validateConfig({
    listeners: [{ port: 1884 }, { host: '::1', port: 0 }],
    limits: { maxInflight: 5 },
    capabilities: { maximumQoS: 1 },
    log: { format: 'json' },
    allowAnonymous: false,
  });
  assert.deepEqual(c.listeners, [
    { type: 'tcp', host: '127.0.0.1', port: 1884, proxyProtocol: false },
    { type: 'tcp', host: '::1', port: 0, proxyProtocol: false },
  ]);
  assert.equal(c.limits.maxInflight, 5);
  assert.equal(c.limits.maxPacketSize, defaultSettings.limits.maxPacketSize);
  assert.equal(c.capabilities.maximumQoS, 1);
  assert.equal(c.capabilities.retainAvailable, true);
  assert.deepEqual(c.log, { level: 'info', format: 'json' });
  assert.equal(c.allowAnonymous, false);
});

test('validateConfig reports every problem at once, each naming its key', () => {
  const err = configError(() =>
    validateConfig(
      {
        listeners: [{ port: 99_999 }, { host: '' }],
        limits: { maxInflight: 0, maxPacketSize: 'big', connectTimeout: 1.5 },
        capabilities: { maximumQoS: 3 },
        log: { level: 'loud' },
        sys: { interval: -1 },
      },
      'test.yaml',
    ),
  );
  assert.equal(err.source, 'test.yaml');
  const keys = err.problems.map((p) => p.slice(0, p.indexOf(': ')));
  assert.deepEqual(
    [...keys].sort(),
    [
      'capabilities.maximumQoS',
      'limits.connectTimeout',
      'limits.maxInflight',
      'limits.maxPacketSize',
      'listeners[0].port',
      'listeners[1].host',
      'log.level',
      'sys.interval',
    ].sort(),
    err.message,
  );
  assert.match(err.message, /^test\.yaml has 8 problems:\n {2}- /);
  for (const p of err.problems) assert.match(err.message, new RegExp(`\n {2}- ${p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  assert.equal(err.name, 'ConfigError');
});

test('validateConfig: an empty listener list and wrong types at the top level are named', () => {
  const empty = configError(() => validateConfig({ listeners: [] }));
  assert.equal(empty.problems.length, 1);
  assert.match(empty.problems[0] ?? '', /^listeners: /);
  const wrong = configError(() => validateConfig({ limits: 5, allowAnonymous: 'yes' }));
  assert.deepEqual(wrong.problems.map((p) => p.slice(0, p.indexOf(':'))).sort(), ['allowAnonymous', 'limits']);
  assert.match(configError(() => validateConfig([1])).problems[0] ?? '', /^\(top level\): /);
  assert.match(configError(() => validateConfig({ listeners: {} })).message, /^configuration has 1 problem:/);
});

test('validateConfig: unknown keys suggest the setting meant, at every level ("did you mean")', () => {
  const err = configError(() =>
    validateConfig({
      limist: {},
      limits: { maxInflght: 3, maxpacketsize: 100 },
      listeners: [{ prot: 1884 }],
      capabilities: { retainAvailible: true },
      allowAnonymus: true,
      zzzzzzzzzz: 1,
    }),
  );
  const problems = [...err.problems].sort();
  assert.deepEqual(problems, [
    'allowAnonymus: unknown setting (did you mean "allowAnonymous"?)',
    'capabilities.retainAvailible: unknown setting (did you mean "retainAvailable"?)',
    'limist: unknown setting (did you mean "limits"?)',
    'limits.maxInflght: unknown setting (did you mean "maxInflight"?)',
    'limits.maxpacketsize: unknown setting (did you mean "maxPacketSize"?)',
    'listeners[0].prot: unknown setting (did you mean "port"?)',
    'zzzzzzzzzz: unknown setting',
  ]);
  assert.match(err.message, /^configuration has 7 problems:\n/, 'each unknown key counts as a problem of its own');
});

// ---- loadConfigFile -------------------------------------------------------------------------------

test('loadConfigFile reads YAML (and JSON) into the raw object and the validated config', async (t) => {
  const yaml = file(t, 'm.yaml', '# comment\nlisteners:\n  - port: 1999\nlimits:\n  maxInflight: 7\nallowAnonymous: true\n');
  const { raw, config } = await loadConfigFile(yaml);
  assert.deepEqual(raw, { listeners: [{ port: 1999 }], limits: { maxInflight: 7 }, allowAnonymous: true });
  assert.equal(config.listeners[0]?.port, 1999);
  assert.equal(config.listeners[0]?.host, '127.0.0.1');
  assert.equal(config.limits.maxInflight, 7);
  assert.equal(config.allowAnonymous, true);
  const json = await loadConfigFile(file(t, 'm.json', '{"sys": {"interval": 0}}'));
  assert.equal(json.config.sys.interval, 0);
  const empty = await loadConfigFile(file(t, 'empty.yaml', '# nothing set\n'));
  assert.deepEqual(empty.config, validateConfig({}));
});

test('loadConfigFile: syntax errors name line and column; schema errors name the file and the keys', async (t) => {
  const broken = file(t, 'broken.yaml', 'limits:\n  maxInflight: 10\n  maxPacketSize: [1, 2\nlog:\n  level: info\n');
  const syntax = await configErrorAsync(loadConfigFile(broken));
  assert.equal(syntax.source, broken);
  assert.ok(syntax.problems.length >= 1);
  assert.match(syntax.problems[0] ?? '', /^line 4, column \d+: \S/);
  const dup = await configErrorAsync(loadConfigFile(file(t, 'dup.yaml', 'log:\n  level: info\nlog:\n  level: warn\n')));
  assert.match(dup.problems[0] ?? '', /^line 3, column 1: .*unique/);

  const invalid = file(t, 'invalid.yaml', 'limits:\n  maxInflight: -1\nlog:\n  levl: debug\n');
  const schema = await configErrorAsync(loadConfigFile(invalid));
  assert.equal(schema.source, invalid);
  assert.deepEqual(schema.problems.map((p) => p.slice(0, p.indexOf(':'))).sort(), ['limits.maxInflight', 'log.levl']);
});

test('loadConfigFile: a missing file and a non-mapping document are reported plainly', async (t) => {
  const missing = join(tmpdir(), 'mozzie-definitely-missing.yaml');
  const err = await configErrorAsync(loadConfigFile(missing));
  assert.deepEqual(err.problems, ['file not found']);
  assert.equal(err.message, `${missing} has 1 problem:\n  - file not found`);
  const list = await configErrorAsync(loadConfigFile(file(t, 'list.yaml', '- 1\n- 2\n')));
  assert.deepEqual(list.problems, ['(top level): expected a mapping of settings']);
  const scalar = await configErrorAsync(loadConfigFile(file(t, 'scalar.yaml', 'just text\n')));
  assert.deepEqual(scalar.problems, ['(top level): expected a mapping of settings']);
});

// ---- settingsHelp ---------------------------------------------------------------------------------

test('settingsHelp lists every setting with its default and description', () => {
  const help = settingsHelp();
  const lines = help.split('\n');
  const row = (key: string): string | undefined => lines.find((l) => l.trimStart().startsWith(`${key} `));
  const groups = {
    limits: defaultSettings.limits,
    capabilities: defaultSettings.capabilities,
    sessions: defaultSettings.sessions,
  } as const;
  for (const [group, values] of Object.entries(groups)) {
    for (const [key, value] of Object.entries(values)) {
      const line = row(`${group}.${key}`);
      assert.ok(line !== undefined, `${group}.${key} is listed`);
      const [, def, description] = line.trim().split(/ {2,}/);
      assert.equal(def, String(value), `${group}.${key} default`);
      assert.ok((description ?? '').length > 5, `${group}.${key} has a description`);
    }
  }
  for (const key of ['listeners[]', 'listeners[].host', 'listeners[].port', 'allowAnonymous', 'log.level', 'log.format', 'sys.interval']) {
    assert.ok(row(key) !== undefined, `${key} is listed`);
  }
  assert.match(row('listeners[].port') ?? '', /1883/);
  assert.match(row('log.format') ?? '', /\(text \| json\)/);
  assert.match(row('sharedSubscriptionStrategy') ?? '', /round-robin .*\(round-robin \| random \| sticky\)/);
  // Columns line up: every description starts at the same offset.
  const offsets = new Set(lines.map((l) => l.search(/\S+ {2,}\S+ {2,}\S/)));
  assert.deepEqual([...offsets], [2]);
});

// ---- isLoopback and the anonymous rule -------------------------------------------------------------

test('isLoopback: 127.0.0.0/8, ::1 and localhost only', () => {
  for (const host of ['127.0.0.1', '127.1.2.3', '::1', 'localhost', 'LocalHost']) assert.equal(isLoopback(host), true, host);
  for (const host of [
    '0.0.0.0',
    '::',
    '192.168.1.10',
    '10.0.0.1',
    'example.com',
    'localhost.example.com',
    '127.0.0.1.nip.io',
    '1127.0.0.1',
  ]) {
    assert.equal(isLoopback(host), false, host);
  }
});

test('createServer: anonymous access defaults to allowed on loopback listeners only; explicit settings win', (t) => {
  // [input, allowed per listener]
  const cases: [MozzieConfigInput, boolean | boolean[]][] = [
    [{}, true],
    [{ listeners: [{ host: '127.0.0.1', port: 0 }] }, true],
    [
      {
        listeners: [
          { host: '::1', port: 0 },
          { host: 'localhost', port: 0 },
        ],
      },
      true,
    ],
    [{ listeners: [{ host: '0.0.0.0', port: 0 }] }, false],
    [
      {
        listeners: [
          { host: '127.0.0.1', port: 0 },
          { host: '0.0.0.0', port: 0 },
        ],
      },
      [true, false],
    ],
    [
      {
        listeners: [
          { host: '0.0.0.0', port: 0, allowAnonymous: true },
          { host: '127.0.0.1', port: 0, allowAnonymous: false },
        ],
      },
      [true, false],
    ],
    [{ listeners: [{ host: '0.0.0.0', port: 0 }], allowAnonymous: true }, true],
    [{ listeners: [{ host: '127.0.0.1', port: 0 }], allowAnonymous: false }, false],
  ];
  for (const [input, expected] of cases) {
    const s = server(t, { ...input, sys: { interval: 0 } });
    const perListener = s.config.listeners.map((l) => s.anonymousAllowed(l));
    assert.deepEqual(perListener, Array.isArray(expected) ? expected : perListener.map(() => expected), JSON.stringify(input));
    assert.equal(s.allowAnonymous, perListener[0], 'allowAnonymous reports the first listener');
    assert.equal(
      s.broker.settings.allowAnonymous,
      perListener.every((a) => a),
      'the broker default is the strictest',
    );
  }
});

test('createServer refuses an invalid configuration with a ConfigError before binding anything', () => {
  const err = configError(() => createServer({ limits: { maxInflight: 0 } }));
  assert.deepEqual(
    err.problems.map((p) => p.slice(0, p.indexOf(':'))),
    ['limits.maxInflight'],
  );
});

// ---- embedding ------------------------------------------------------------------------------------

test('createServer(config): start, settings in force, MQTT.js pub/sub, stop sends DISCONNECT 0x8B', async (t) => {
  const lines: string[] = [];
  const s = server(
    t,
    { listeners: [{ port: 0 }], capabilities: { maximumQoS: 1 }, sys: { interval: 0 }, log: { level: 'debug' } },
    createConsoleLogger({ level: 'info', format: 'json', write: (l) => lines.push(l) }),
  );
  assert.deepEqual(s.listeners, [], 'nothing listens before start()');
  const listeners = await s.start();
  assert.equal(listeners.length, 1);
  const l = listeners[0];
  assert.ok(l !== undefined && l.port > 0);
  assert.equal(l.kind, 'tcp');
  assert.equal(l.url, `mqtt://127.0.0.1:${l.port}`);
  assert.equal(s.listeners, listeners);

  const c = await mqttjs(t, l.url, { protocolVersion: 5, clientId: 'embedded' });
  const inbox = new Inbox(c);
  const granted = await c.subscribeAsync('emb/#', { qos: 2 });
  assert.equal(granted[0]?.qos, 1, 'capabilities.maximumQoS 1 caps the grant');
  await c.publishAsync('emb/x', 'inside', { qos: 1 });
  const [m] = await inbox.take(1);
  assert.equal(m?.payload, 'inside');
  assert.equal(s.broker.connectedCount, 1);
  const connected = lines.map((x) => JSON.parse(x) as Record<string, unknown>).find((e) => e['msg'] === 'client connected');
  assert.equal(connected?.['clientId'], 'embedded', 'the logger given is used');

  const disconnect = new Promise<number | undefined>((resolve) => c.once('disconnect', (p) => resolve(p.reasonCode)));
  await s.stop();
  assert.equal(await disconnect, 0x8b);
  await s.stop();
  // Nothing listens any more.
  await assert.rejects(PacketClient.tcp(l.port), /ECONNREFUSED/);
});

test('createServer on a non-loopback host refuses anonymous clients (rc 5 / 0x87); allowAnonymous: true accepts them', async (t) => {
  const closed = server(t, { listeners: [{ host: '0.0.0.0', port: 0 }], sys: { interval: 0 } });
  const [l] = await closed.start();
  assert.ok(l !== undefined);
  const v4 = await PacketClient.tcp(l.port, 4);
  t.after(() => v4.end());
  assert.equal((await v4.connect({ clientId: 'a4' })).reasonCode, 5);
  const v5 = await PacketClient.tcp(l.port, 5);
  t.after(() => v5.end());
  assert.equal((await v5.connect({ clientId: 'a5' })).reasonCode, 0x87);
  await v5.waitClosed();

  const open = server(t, { listeners: [{ host: '0.0.0.0', port: 0 }], allowAnonymous: true, sys: { interval: 0 } });
  const [o] = await open.start();
  assert.ok(o !== undefined);
  const ok = await PacketClient.tcp(o.port, 5);
  t.after(() => ok.end());
  const ack = await ok.connect({ clientId: 'welcome' });
  assert.equal(ack.reasonCode, 0);
  assert.equal(ok.received[0]?.type, PacketType.Connack);
});

test('createServer.start() on a port in use rejects with EADDRINUSE and leaves nothing running', async (t) => {
  const blocker = createNetServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
  const address = blocker.address();
  assert.ok(typeof address === 'object' && address !== null);
  const s = server(t, { listeners: [{ port: 0 }, { port: address.port }], sys: { interval: 0 } });
  await assert.rejects(s.start(), (err: NodeJS.ErrnoException) => err.code === 'EADDRINUSE');
  assert.deepEqual(s.listeners, [], 'the listener that did start was closed again');
  assert.throws(() => s.broker.handle(new NullStream()), /closed/);
});

/** A do-nothing duplex for handing to a closed broker. */
class NullStream extends Duplex {
  override _read(): void {
    // Nothing to read.
  }
  override _write(_chunk: unknown, _enc: BufferEncoding, cb: () => void): void {
    cb();
  }
}
