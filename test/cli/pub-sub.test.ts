/**
 * `mozzie pub` and `mozzie sub`, the built CLI spawned as a user runs it, against our broker on an
 * ephemeral loopback port, side by side with Debian's mosquitto_pub / mosquitto_sub 2.0.11: the same
 * flags must print the same bytes and exit with the same codes.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { BrokerOptions } from '../../src/broker/options.js';
import { listenTls } from '../../src/transport/tls.js';
import { listenWebSocket } from '../../src/transport/ws.js';
import { startBroker, type TcpHarness } from '../helpers/broker-harness.js';
import { type Spawned, spawnTracked, waitUntil } from '../helpers/child.js';

// Compiled to dist/test/cli/: the CLI is dist/src/cli/main.js.
const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const MOSQUITTO_SUB = '/usr/bin/mosquitto_sub';
const MOSQUITTO_PUB = '/usr/bin/mosquitto_pub';
const noOpenssl = existsSync('/usr/bin/openssl') ? false : 'openssl not installed';
const noMosquitto = !existsSync(MOSQUITTO_SUB) || !existsSync(MOSQUITTO_PUB) ? 'mosquitto-clients not installed' : false;

async function broker(t: TestContext, options: BrokerOptions = {}): Promise<TcpHarness> {
  const h = await startBroker(options);
  t.after(() => h.stop());
  return h;
}

interface RunOptions {
  readonly stdin?: string;
}

/** `mozzie <command> -h 127.0.0.1 -p PORT ...args`. */
function mozzie(t: TestContext, h: TcpHarness | undefined, command: 'pub' | 'sub', args: readonly string[], o: RunOptions = {}): Spawned {
  const target = h === undefined ? [] : ['-h', '127.0.0.1', '-p', String(h.port)];
  return spawnTracked(t, process.execPath, [MAIN, command, ...target, ...args], o.stdin === undefined ? {} : { stdin: o.stdin });
}

function mosquitto(t: TestContext, h: TcpHarness, command: 'pub' | 'sub', args: readonly string[], o: RunOptions = {}): Spawned {
  const bin = command === 'pub' ? MOSQUITTO_PUB : MOSQUITTO_SUB;
  return spawnTracked(t, bin, ['-h', '127.0.0.1', '-p', String(h.port), ...args], o.stdin === undefined ? {} : { stdin: o.stdin });
}

/** Waits for a process that should end by itself; asserts exit code 0 and returns stdout. */
async function ok(p: Spawned): Promise<string> {
  const exit = await p.exit(8000);
  assert.deepEqual(exit, { code: 0, signal: null }, `${p.describe()}\n${p.output()}`);
  return p.stdout;
}

/** Waits until `clientId` is connected with at least `n` subscriptions. */
async function subscribed(h: TcpHarness, clientId: string, n = 1): Promise<void> {
  await waitUntil(
    () => h.broker.isConnected(clientId) && (h.broker.sessions.get(clientId)?.subscriptions.size ?? 0) >= n,
    `${clientId} to subscribe`,
    10_000,
  );
}

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'mozzie-pubsub-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const FORMAT = '%t|%p|%q|%r|%l|%m|%x|%X|%C|%E|%F|%R|%P|%D|%10t|%-10t|%.3t|%05l|%-4l|%%|\\t|@@|\\\\';

// Every test has its own broker and processes: they run side by side to keep the file fast.
describe('mozzie pub and mozzie sub', { concurrency: 4 }, () => {
  test('mozzie sub prints what mosquitto_sub prints: default, -v, -N, -v -N, -R, -F, %j, %S, -T, -V 311, --retained-only', {
    skip: noMosquitto,
  }, async (t) => {
    const h = await broker(t);
    const file = join(tempDir(t), 'bytes.bin');
    writeFileSync(file, Buffer.from([0x00, 0x01, 0xff, 0x0a, 0x41]));
    // Retained before anyone subscribes: every subscriber starts with it (RETAIN 1).
    await ok(mozzie(t, h, 'pub', ['-t', 'cmp/r', '-m', 'retained-1', '-r', '-q', '1']));

    // [flags, messages to wait for (-C)]; every set runs once under mozzie sub and once under mosquitto_sub.
    const sets: [readonly string[], number | undefined][] = [
      [[], 7],
      [['-v'], 7],
      [['-N'], 7],
      [['-v', '-N'], 7],
      [['-R', '-v'], 6],
      [['-F', FORMAT], 7],
      [['-F', '%j', '-T', 'cmp/e'], 6],
      [['-F', '%S:%t', '-D', 'subscribe', 'subscription-identifier', '7'], 7],
      [['-V', '311', '-v', '-F', '%t %r %q %p'], 7],
      [['--retained-only', '-v'], undefined],
    ];
    const running = sets.map(([flags, count], i) => {
      const common = ['-q', '2', '-t', 'cmp/#', ...flags, ...(count === undefined ? [] : ['-C', String(count)])];
      const version = flags.includes('-V') ? [] : ['-V', '5'];
      return {
        flags,
        ours: mozzie(t, h, 'sub', ['-i', `moz${i}`, ...common]),
        theirs: mosquitto(t, h, 'sub', ['-i', `mosq${i}`, ...version, ...common]),
      };
    });
    for (let i = 0; i < sets.length; i++) {
      await subscribed(h, `moz${i}`);
      await subscribed(h, `mosq${i}`);
    }
    // mosquitto_pub for the plain ones (it starts in milliseconds), mozzie pub for -n, -f and -D.
    await ok(mosquitto(t, h, 'pub', ['-t', 'cmp/a', '-m', 'hello']));
    await ok(mozzie(t, h, 'pub', ['-t', 'cmp/b', '-n']));
    await ok(mosquitto(t, h, 'pub', ['-t', 'cmp/c', '-m', 'q"uo\\te', '-q', '1']));
    await ok(mosquitto(t, h, 'pub', ['-t', 'cmp/d', '-m', 'héllo wörld', '-q', '2']));
    await ok(mozzie(t, h, 'pub', ['-t', 'cmp/e', '-f', file, '-q', '1']));
    await ok(
      mozzie(t, h, 'pub', [
        ...['-t', 'cmp/f', '-m', 'props', '-q', '2'],
        ...['-D', 'publish', 'content-type', 'text/plain', '-D', 'publish', 'user-property', 'k', 'v'],
        ...['-D', 'publish', 'user-property', 'k2', 'v2', '-D', 'publish', 'message-expiry-interval', '300'],
        ...['-D', 'publish', 'response-topic', 'reply/here', '-D', 'publish', 'correlation-data', 'cd-1'],
        ...['-D', 'publish', 'payload-format-indicator', '1'],
      ]),
    );

    const tst = /"tst":"[^"]+"/g;
    for (const r of running) {
      const [ours, theirs] = await Promise.all([ok(r.ours), ok(r.theirs)]);
      assert.equal(ours.replace(tst, '"tst":T'), theirs.replace(tst, '"tst":T'), `same stdout for ${r.flags.join(' ') || '(no flags)'}`);
      assert.notEqual(ours, '', `${r.flags.join(' ')} printed something`);
    }
    // Spot checks that the comparison compared something meaningful.
    const printed = (i: number) => running[i]?.ours.stdout ?? '';
    assert.match(printed(1), /^cmp\/r retained-1\ncmp\/a hello\ncmp\/b \(null\)\n/);
    assert.match(printed(5), /\ncmp\/f\|props\|2\|0\|5\|\d+\|70726f7073\|70726F7073\|text\/plain\|300\|1\|reply\/here\|k:v k2:v2\|cd-1\|/);
    assert.equal(printed(9), 'cmp/r retained-1\n');
  });

  test('interop: mosquitto_pub -V 5 -D ... -> mozzie sub --json; mozzie pub -D ... -> mosquitto_sub -F', {
    skip: noMosquitto,
  }, async (t) => {
    const h = await broker(t);
    const json = mozzie(t, h, 'sub', [
      '-i',
      'json',
      '-t',
      'j/#',
      '--json',
      '-C',
      '3',
      '-q',
      '1',
      '-D',
      'subscribe',
      'subscription-identifier',
      '42',
    ]);
    const theirs = mosquitto(t, h, 'sub', ['-i', 'theirs', '-V', '5', '-t', 'j/#', '-C', '3', '-F', '%t %p %C %P %E %R %D']);
    await subscribed(h, 'json');
    await subscribed(h, 'theirs');
    await ok(
      mosquitto(t, h, 'pub', [
        ...['-V', '5', '-t', 'j/text', '-m', 'hi', '-q', '1', '-D', 'publish', 'user-property', 'a', '1'],
        ...['-D', 'publish', 'user-property', 'a', '2', '-D', 'publish', 'content-type', 'text/plain'],
      ]),
    );
    await ok(
      mozzie(
        t,
        h,
        'pub',
        [
          ...['-t', 'j/bin', '-s', '-D', 'publish', 'correlation-data', 'c0rr', '-D', 'publish', 'response-topic', 'r/t'],
          ...['-D', 'publish', 'message-expiry-interval', '60', '-D', 'publish', 'topic-alias', '1'],
        ],
        { stdin: '\u00ff' },
      ),
    );
    await ok(mozzie(t, h, 'pub', ['-t', 'j/retained', '-m', '{"x":1}', '-r', '-q', '1', '-D', 'publish', 'user-property', 'k', 'v']));

    const lines = (await ok(json))
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(lines[0], {
      topic: 'j/text',
      payload: 'hi',
      qos: 1,
      retain: false,
      properties: {
        'user-property': [
          ['a', '1'],
          ['a', '2'],
        ],
        'content-type': 'text/plain',
        'subscription-identifier': [42],
      },
    });
    // U+00FF from stdin (-s) is the two UTF-8 bytes c3 bf: valid text. Expiry counts down, so only its presence is fixed.
    const bin = lines[1] as { properties: Record<string, unknown> };
    assert.equal(lines[1]?.['payload'], '\u00ff');
    assert.equal(bin.properties['correlation-data'], 'c0rr');
    assert.equal(bin.properties['response-topic'], 'r/t');
    assert.ok(typeof bin.properties['message-expiry-interval'] === 'number');
    assert.deepEqual(lines[2], {
      topic: 'j/retained',
      payload: '{"x":1}',
      qos: 1,
      retain: false,
      properties: { 'user-property': [['k', 'v']], 'subscription-identifier': [42] },
    });
    const out = await ok(theirs);
    assert.match(out, /^j\/text hi text\/plain a:1 a:2 {3}\n/);
    assert.match(out, /\nj\/bin \u00ff {3}\d+ r\/t c0rr\nj\/retained \{"x":1\} {2}k:v {3}\n$/);
  });

  test('--json: a payload that is not UTF-8 is base64 with "encoding":"base64"; --pretty indents', async (t) => {
    const h = await broker(t);
    const file = join(tempDir(t), 'raw.bin');
    writeFileSync(file, Buffer.from([0xff, 0xfe, 0x00]));
    const s = mozzie(t, h, 'sub', ['-i', 'b64', '-t', 'b/#', '--json', '--pretty', '-C', '1']);
    // Times cannot be compared with mosquitto_sub's byte for byte; their shapes can.
    const times = mozzie(t, h, 'sub', ['-i', 'times', '-t', 'b/#', '-C', '1', '-F', '%I|%U|@Y-@m-@dT@H:@M:@S.@N@z|@@|%l']);
    await subscribed(h, 'b64');
    await subscribed(h, 'times');
    const before = Date.now() / 1000;
    await ok(mozzie(t, h, 'pub', ['-t', 'b/1', '-f', file]));
    const out = await ok(s);
    assert.deepEqual(JSON.parse(out), { topic: 'b/1', payload: '//4A', encoding: 'base64', qos: 0, retain: false });
    assert.match(out, /^\{\n {2}"topic": "b\/1",\n/);
    const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4})\|(\d+\.\d{9})\|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}[+-]\d{4}\|@\|3\n$/.exec(
      await ok(times),
    );
    assert.ok(m !== null, times.stdout);
    assert.ok(Math.abs(Number(m[2]) - before) < 30, '%U is the Unix time');
  });

  test('-l sends each stdin line (empty lines too, a last unterminated one too) exactly as mosquitto_pub -l does', {
    skip: noMosquitto,
  }, async (t) => {
    const h = await broker(t);
    const input = 'line one\n\nline three\nlast';
    const s = mozzie(t, h, 'sub', ['-i', 'lines', '-t', 'l/#', '-v', '-C', '8', '-q', '1']);
    await subscribed(h, 'lines');
    await ok(mozzie(t, h, 'pub', ['-t', 'l/moz', '-l', '-q', '1'], { stdin: input }));
    await ok(mosquitto(t, h, 'pub', ['-t', 'l/mosq', '-l', '-q', '1'], { stdin: input }));
    const out = await ok(s);
    const [ours, theirs] = [out.split('\n').filter((l) => l.startsWith('l/moz ')), out.split('\n').filter((l) => l.startsWith('l/mosq '))];
    assert.deepEqual(ours, ['l/moz line one', 'l/moz (null)', 'l/moz line three', 'l/moz last']);
    assert.deepEqual(
      theirs.map((l) => l.replace('l/mosq ', 'l/moz ')),
      ours,
    );
  });

  test('pub waits for every acknowledgement: --repeat with QoS 1 and 2 all arrive; -d traces packets on stderr', async (t) => {
    const h = await broker(t);
    const s = mozzie(t, h, 'sub', ['-i', 'rep', '-t', 'rep/#', '-q', '2', '-F', '%t %q %p', '-C', '25']);
    await subscribed(h, 'rep');
    await ok(mozzie(t, h, 'pub', ['-t', 'rep/2', '-m', 'x', '-q', '2', '--repeat', '20']));
    const traced = mozzie(t, h, 'pub', [
      '-t',
      'rep/1',
      '-m',
      'y',
      '-q',
      '1',
      '--repeat',
      '5',
      '--repeat-delay',
      '0.01',
      '-d',
      '-i',
      'tracer',
    ]);
    assert.equal(await ok(traced), '', 'debug lines go to stderr, not stdout');
    const out = await ok(s);
    assert.equal(out, `${'rep/2 2 x\n'.repeat(20)}${'rep/1 1 y\n'.repeat(5)}`);
    const lines = traced.stderr.trimEnd().split('\n');
    assert.deepEqual(lines.slice(0, 4), [
      'Client tracer sending CONNECT',
      'Client tracer received CONNACK (0)',
      "Client tracer sending PUBLISH (d0, q1, r0, m1, 'rep/1', ... (1 bytes))",
      'Client tracer received PUBACK (Mid: 1, RC:0)',
    ]);
    assert.equal(lines.at(-1), 'Client tracer sending DISCONNECT');
    assert.equal(lines.filter((l) => l.includes('sending PUBLISH')).length, 5);
  });

  test('-r retains, -r -n clears; --remove-retained clears what it receives except -T topics', async (t) => {
    const h = await broker(t);
    for (const n of [1, 2, 3]) await ok(mozzie(t, h, 'pub', ['-t', `rr/${n}`, '-m', `v${n}`, '-r', '-q', '1']));
    await ok(mozzie(t, h, 'pub', ['-t', 'rr/4', '-m', 'v4', '-r']));
    await ok(mozzie(t, h, 'pub', ['-t', 'rr/4', '-r', '-n']));
    assert.equal(h.broker.retained.get('rr/4'), undefined, '-r -n removed rr/4');
    assert.equal(h.broker.retained.size, 3);

    const out = await ok(mozzie(t, h, 'sub', ['-t', 'rr/#', '--remove-retained', '-T', 'rr/2', '-v', '-C', '2']));
    assert.equal(out, 'rr/1 v1\nrr/3 v3\n');
    assert.deepEqual(
      [h.broker.retained.get('rr/1'), h.broker.retained.get('rr/2')?.payload.toString(), h.broker.retained.get('rr/3')],
      [undefined, 'v2', undefined],
    );
  });

  test('-c -i resumes a persistent session (messages sent while away arrive); -U unsubscribes; -E exits after SUBACK', async (t) => {
    const h = await broker(t);
    await ok(mozzie(t, h, 'sub', ['-c', '-i', 'persist', '-t', 'p/#', '-q', '1', '-E']));
    assert.equal(h.broker.isConnected('persist'), false);
    await ok(mozzie(t, h, 'pub', ['-t', 'p/1', '-m', 'while away', '-q', '1']));
    assert.equal(await ok(mozzie(t, h, 'sub', ['-c', '-i', 'persist', '-t', 'p/#', '-q', '1', '-v', '-C', '1'])), 'p/1 while away\n');
    await ok(mozzie(t, h, 'sub', ['-c', '-i', 'persist', '-U', 'p/#', '-E']));
    assert.equal(h.broker.sessions.get('persist')?.subscriptions.size, 0);
    // -c alone never expires (as mosquitto: -x defaults to -1 with -c); -x and -D connect set it.
    assert.equal(h.broker.sessions.get('persist')?.expiryInterval, 4_294_967_295);
    await ok(mozzie(t, h, 'sub', ['-c', '-i', 'x60', '-x', '60', '-t', 'p/x', '-E']));
    assert.equal(h.broker.sessions.get('x60')?.expiryInterval, 60);
    await ok(mozzie(t, h, 'sub', ['-i', 'd90', '-D', 'connect', 'session-expiry-interval', '90', '-t', 'p/d', '-E']));
    assert.equal(h.broker.sessions.get('d90')?.expiryInterval, 90);
  });

  test('-c without -i is refused as mosquitto refuses it; so are bad QoS, bad topics, unknown flags and -D names', {
    skip: noMosquitto,
  }, async (t) => {
    const h = await broker(t);
    // [what, command, args, message, also run mosquitto with the same args]
    const cases: [string, 'pub' | 'sub', readonly string[], RegExp, boolean?][] = [
      ['-c without -i', 'sub', ['-t', 'a', '-c'], /client id/, true],
      ['no message', 'pub', ['-t', 'a'], /Both topic and message must be supplied/, true],
      ['no topic', 'sub', [], /specify a topic/],
      ['QoS 3', 'pub', ['-t', 'a', '-m', 'x', '-q', '3'], /QoS/, true],
      ['wildcard publish topic', 'pub', ['-t', 'a/#', '-m', 'x'], /Invalid publish topic 'a\/#'/],
      ['bad filter', 'sub', ['-t', 'a/#/b'], /Invalid subscription topic 'a\/#\/b'/],
      ['unknown flag', 'sub', ['-t', 'a', '--bogus'], /Unknown option '--bogus'/, true],
      ['bad -V', 'pub', ['-t', 'a', '-m', 'x', '-V', '7'], /protocol version/],
      ['two message sources', 'pub', ['-t', 'a', '-m', 'x', '-n'], /Only one type of message/],
      ['-R with --retained-only', 'sub', ['-t', 'a', '-R', '--retained-only'], /makes no sense/],
      ['bad -D property', 'pub', ['-V', '5', '-t', 'a', '-m', 'x', '-D', 'publish', 'bogus', '1'], /bogus/, true],
      ['-D property in the wrong packet', 'pub', ['-V', '5', '-t', 'a', '-m', 'x', '-D', 'connect', 'content-type', 'x'], /content-type/],
      ['-W 0', 'sub', ['-t', 'a', '-W', '0'], /-W/],
    ];
    await Promise.all(
      cases.map(async ([what, command, args, message, compare]) => {
        const ours = mozzie(t, h, command, args);
        const theirs = compare === true ? mosquitto(t, h, command, args) : undefined;
        const [a, b] = await Promise.all([ours.exit(), theirs?.exit()]);
        assert.equal(a.code, 1, `${what}: mozzie exit code\n${ours.output()}`);
        if (theirs !== undefined) assert.equal(b?.code, 1, `${what}: mosquitto exit code\n${theirs.output()}`);
        assert.match(ours.stderr, message, what);
        assert.match(ours.stderr, new RegExp(`Use 'mozzie ${command} --help' to see usage`), what);
        assert.equal(ours.stdout, '', what);
      }),
    );
    // A value starting with a dash is a value, not a flag (parseArgs alone would call it ambiguous).
    const s = mozzie(t, h, 'sub', ['-i', 'dash', '-t', 'dash', '-C', '1']);
    await subscribed(h, 'dash');
    await ok(mozzie(t, h, 'pub', ['-t', 'dash', '-m', '-5 degrees']));
    assert.equal(await ok(s), '-5 degrees\n');
  });

  test('-W times out with exit code 27 and "Timed out", as mosquitto_sub does', { skip: noMosquitto }, async (t) => {
    const h = await broker(t);
    const ours = mozzie(t, h, 'sub', ['-t', 'quiet', '-W', '1']);
    const theirs = mosquitto(t, h, 'sub', ['-t', 'quiet', '-W', '1']);
    const [a, b] = await Promise.all([ours.exit(), theirs.exit()]);
    assert.deepEqual(a, { code: 27, signal: null }, ours.output());
    assert.deepEqual(b, { code: 27, signal: null }, theirs.output());
    assert.equal(ours.stderr, 'Timed out\n');
    assert.equal(ours.stdout, '');
  });

  test('a refused connection prints the reason and exits with the CONNACK code, as mosquitto does (5 / 135)', {
    skip: noMosquitto,
  }, async (t) => {
    const h = await broker(t, { allowAnonymous: false });
    const cases: ['pub' | 'sub', readonly string[], number, string][] = [
      ['pub', ['-V', '311', '-t', 'a', '-m', 'x'], 5, 'Connection error: Connection Refused: not authorised.\n'],
      ['sub', ['-V', '311', '-t', 'a'], 5, 'Connection error: Connection Refused: not authorised.\n'],
      ['pub', ['-V', '5', '-t', 'a', '-m', 'x'], 135, 'Connection error: Not authorized\n'],
      ['sub', ['-V', 'mqttv5', '-t', 'a', '-u', 'alice', '-P', 'wrong'], 135, 'Connection error: Not authorized\n'],
    ];
    await Promise.all(
      cases.map(async ([command, args, code, message]) => {
        const ours = mozzie(t, h, command, args);
        const theirs = mosquitto(t, h, command, args);
        const [a, b] = await Promise.all([ours.exit(), theirs.exit()]);
        assert.equal(a.code, code, `mozzie ${command} ${args.join(' ')}\n${ours.output()}`);
        assert.equal(b.code, code, `mosquitto_${command} ${args.join(' ')}\n${theirs.output()}`);
        assert.equal(ours.stderr, message);
        assert.match(theirs.stderr, new RegExp(`^${message.trimEnd().replace(/[.]/g, '\\.')}`));
      }),
    );
    // The default protocol is MQTT 5, and --quiet silences the message but not the code.
    const quiet = mozzie(t, h, 'pub', ['-t', 'a', '-m', 'x', '--quiet']);
    assert.deepEqual(await quiet.exit(), { code: 135, signal: null });
    assert.equal(quiet.stderr, '');
  });

  test('TLS (--cafile, --insecure) and WebSocket (-L ws://) connections', { skip: noOpenssl }, async (t) => {
    const h = await broker(t);
    const dir = tempDir(t);
    const [cert, key] = [join(dir, 'cert.pem'), join(dir, 'key.pem')];
    execFileSync(
      '/usr/bin/openssl',
      [
        ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1'],
        ...['-keyout', key, '-out', cert, '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'],
      ],
      { stdio: 'ignore' },
    );
    const handle = (stream: Parameters<typeof h.broker.handle>[0]) => void h.broker.handle(stream, { remoteAddress: '127.0.0.1' });
    const tls = await listenTls({ host: '127.0.0.1', port: 0, cert, key, requireCertificate: false, minVersion: 'TLSv1.2' }, handle);
    const ws = await listenWebSocket({ host: '127.0.0.1', port: 0, path: '/mqtt', maxPayload: 1 << 20 }, handle);
    t.after(() => Promise.all([tls.close(), ws.close()]));

    const s = spawnTracked(t, process.execPath, [MAIN, 'sub', '-L', `ws://127.0.0.1:${ws.port}/secure/#`, '-i', 'wsub', '-v', '-C', '2']);
    await subscribed(h, 'wsub');
    const target = ['-h', 'localhost', '-p', String(tls.port), '-t', 'secure/t'];
    await ok(spawnTracked(t, process.execPath, [MAIN, 'pub', ...target, '--cafile', cert, '-m', 'verified']));
    await ok(spawnTracked(t, process.execPath, [MAIN, 'pub', ...target, '--tls-use-os-certs', '--insecure', '-m', 'unverified']));
    const untrusted = spawnTracked(t, process.execPath, [MAIN, 'pub', ...target, '--tls-use-os-certs', '-m', 'refused']);
    assert.deepEqual(await untrusted.exit(), { code: 1, signal: null });
    assert.match(untrusted.stderr, /^Error: .*certificate/);
    assert.equal(await ok(s), 'secure/t verified\nsecure/t unverified\n');
  });

  test('nothing listening: exit 1 with "Connection refused"', async (t) => {
    const h = await broker(t);
    const port = h.port;
    await h.stop();
    const p = spawnTracked(t, process.execPath, [MAIN, 'pub', '-h', '127.0.0.1', '-p', String(port), '-t', 'a', '-m', 'x']);
    assert.deepEqual(await p.exit(), { code: 1, signal: null });
    assert.match(p.stderr, /^Error: Connection refused: is a broker listening on mqtt:\/\/127\.0\.0\.1:\d+\?\n$/);
  });

  test('the Will: published when mozzie sub is killed -9, not when it stops on SIGTERM or SIGINT (exit 0)', async (t) => {
    const h = await broker(t);
    const watcher = mozzie(t, h, 'sub', ['-i', 'watcher', '-t', 'will/#', '-v', '-C', '1', '-q', '1']);
    await subscribed(h, 'watcher');
    const will = ['--will-topic', 'will/gone', '--will-payload', 'bye', '--will-qos', '1', '-t', 'x'];
    const polite = (['SIGTERM', 'SIGINT'] as const).map((signal) => ({
      signal,
      p: mozzie(t, h, 'sub', ['-i', `polite-${signal}`, ...will]),
    }));
    const victim = mozzie(t, h, 'sub', ['-i', 'victim', ...will, '--will-payload', 'killed']);
    await Promise.all(['polite-SIGTERM', 'polite-SIGINT', 'victim'].map((id) => subscribed(h, id)));
    for (const { signal, p } of polite) assert.deepEqual(await p.kill(signal), { code: 0, signal: null }, p.output());
    await victim.kill('SIGKILL');
    assert.equal(await ok(watcher), 'will/gone killed\n', 'only the killed client left a Will');
  });

  test('-L URL gives host, port and topic (a # in the topic too); -f of a missing file exits 1', async (t) => {
    const h = await broker(t);
    const base = `mqtt://127.0.0.1:${h.port}`;
    const s = spawnTracked(t, process.execPath, [MAIN, 'sub', '-L', `${base}/url/#`, '-i', 'url', '-v', '-C', '1']);
    await subscribed(h, 'url');
    await ok(spawnTracked(t, process.execPath, [MAIN, 'pub', '-L', `${base}/url/topic`, '-m', 'via url']));
    assert.equal(await ok(s), 'url/topic via url\n');

    const missing = mozzie(t, h, 'pub', ['-t', 'a', '-f', join(tempDir(t), 'nope.txt')]);
    assert.deepEqual(await missing.exit(), { code: 1, signal: null });
    assert.match(missing.stderr, /^Error loading input file ".*nope\.txt": ENOENT\n$/);
  });

  test('--help for pub and sub: usage, flags, exit codes and examples; mozzie --help lists both', async (t) => {
    for (const command of ['pub', 'sub'] as const) {
      const p = mozzie(t, undefined, command, ['--help']);
      const out = await ok(p);
      assert.match(out, new RegExp(`^Usage: mozzie ${command} `));
      for (const section of ['Connection:', 'Exit status:', 'Examples:', '-D CMD NAME VALUE', '--will-topic', '--cafile']) {
        assert.ok(out.includes(section), `${command} --help mentions ${section}`);
      }
      assert.match(out, command === 'sub' ? /27 {7}-W time ran out/ : /--repeat-delay/);
    }
    const top = await ok(spawnTracked(t, process.execPath, [MAIN, '--help']));
    assert.match(top, /^ {2}pub {8}publish messages/m);
    assert.match(top, /^ {2}sub {8}subscribe and print messages/m);
  });
});
