/**
 * The password file: parsing its three line formats (ours, Mosquitto's $7$ and $6$), verifying plain
 * passwords against each (with hashes made by Debian's mosquitto_passwd when installed), the cache of
 * successful logins, the decoy hash for unknown users, and the concurrency cap that keeps hashing in
 * bounded numbers off the event loop.
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { test } from 'node:test';
import { ConcurrencyLimiter } from '../../src/auth/limiter.js';
import { formatScramEntry, parseHash, parsePasswordFile, userNameProblem } from '../../src/auth/password-file.js';
import { PasswordStore, verify } from '../../src/auth/passwords.js';
import { deriveCredentials, saslPrep } from '../../src/auth/scram.js';

const MOSQUITTO_PASSWD = '/usr/bin/mosquitto_passwd';
const noMosquitto = existsSync(MOSQUITTO_PASSWD) ? false : 'mosquitto_passwd not installed';

/** Made by mosquitto_passwd 2.0.11: `-b` (PBKDF2-SHA-512, the default) and `-H sha512 -b`. */
const MOSQUITTO_7 =
  'alice:$7$101$24ifXLvzYdNj7BU7$egjg8m/woyJGKgQrnBm9Y4n13C4ltfRhfk9yyGm6sYZnvPc/7wJiTquFyXih80gTiLr52mGI/yoUVx6Upc8VdQ==';
const MOSQUITTO_6 = 'carol:$6$FLodkiqu2/Qwk414$1ih6fYTAYGrq9Mad0l0e9+zKKqxvbsKn3DODlnUoc6i+Wb0b9WV4Gll6FSd+hL+QuGEdMXQU3q3I9K+LwxkYNA==';

async function scramLine(user: string, password: string, iterations = 4096): Promise<string> {
  const salt = Buffer.from('0123456789abcdef');
  return formatScramEntry(user, await deriveCredentials(Buffer.from(password), salt, iterations));
}

function users(text: string) {
  const parsed = parsePasswordFile(text);
  assert.ok(parsed.ok, parsed.ok ? '' : parsed.problems.join('\n'));
  return parsed.users;
}

test('password file: scram-sha-256, $7$ and $6$ lines, comments and blank lines; entries round-trip through format', async () => {
  const line = await scramLine('dave', 'pencil');
  const parsed = users(`# users\n\n${line}\r\n  # indented comment\n${MOSQUITTO_7}\n${MOSQUITTO_6}\n`);
  assert.deepEqual([...parsed.keys()], ['dave', 'alice', 'carol']);
  const dave = parsed.get('dave');
  assert.equal(dave?.kind, 'scram-sha-256');
  if (dave?.kind !== 'scram-sha-256') return;
  assert.equal(dave.iterations, 4096);
  assert.equal(formatScramEntry('dave', dave), line, 'format(parse(line)) is the line');
  assert.match(line, /^dave:\$scram-sha-256\$4096\$[A-Za-z0-9+/]+=*\$[A-Za-z0-9+/]{43}=\$[A-Za-z0-9+/]{43}=$/);
  const alice = parsed.get('alice');
  assert.equal(alice?.kind, 'pbkdf2-sha512');
  if (alice?.kind === 'pbkdf2-sha512') {
    assert.equal(alice.iterations, 101);
    assert.equal(alice.salt.length, 12);
    assert.equal(alice.hash.length, 64);
  }
  assert.equal(parsed.get('carol')?.kind, 'sha512');
});

test('password file: every bad line is reported with its line number', () => {
  const parsed = parsePasswordFile(
    [
      'ok:$6$FLodkiqu2/Qwk414$1ih6fYTAYGrq9Mad0l0e9+zKKqxvbsKn3DODlnUoc6i+Wb0b9WV4Gll6FSd+hL+QuGEdMXQU3q3I9K+LwxkYNA==',
      'no colon here',
      'plain:secret',
      'short:$scram-sha-256$4096$c2FsdA==$AAAA$AAAA',
      'few:$scram-sha-256$100$c2FsdA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=',
      'argon:$argon2id$v=19$m=47104,t=1,p=1$c2FsdA$aGFzaA',
      'weird:$5$abc$def',
      ':$6$x$y',
      'ok:$6$FLodkiqu2/Qwk414$1ih6fYTAYGrq9Mad0l0e9+zKKqxvbsKn3DODlnUoc6i+Wb0b9WV4Gll6FSd+hL+QuGEdMXQU3q3I9K+LwxkYNA==',
    ].join('\n'),
  );
  assert.equal(parsed.ok, false);
  if (parsed.ok) return;
  assert.deepEqual(
    parsed.problems.map((p) => p.replace(/:.*/, '')),
    ['line 2', 'line 3', 'line 4', 'line 5', 'line 6', 'line 7', 'line 8', 'line 9'],
  );
  assert.match(parsed.problems[1] ?? '', /not a password hash/);
  assert.match(parsed.problems[2] ?? '', /StoredKey must be 32 bytes/);
  assert.match(parsed.problems[3] ?? '', /iterations must be between 4096/);
  assert.match(parsed.problems[4] ?? '', /argon2id.*not supported/);
  assert.match(parsed.problems[5] ?? '', /unknown hash type \$5\$/);
  assert.match(parsed.problems[7] ?? '', /"ok" appears twice/);
  assert.equal(typeof parseHash('$7$0$c2FsdA==$x'), 'string', 'iterations below 1');
});

test('user names the file cannot hold are refused', () => {
  for (const bad of ['', 'a:b', '#admin', ' alice', 'bob\n', 'tab\there'])
    assert.ok(userNameProblem(bad) !== undefined, JSON.stringify(bad));
  for (const good of ['alice', 'a b', 'ünï', 'x#y', 'dev/42', 'a=b,c']) assert.equal(userNameProblem(good), undefined, good);
});

test('verify: right and wrong passwords for scram-sha-256, $7$ and $6$ entries (constant-time compare)', async () => {
  const parsed = users(`${await scramLine('dave', 'pencil')}\n${MOSQUITTO_7}\n${MOSQUITTO_6}\n`);
  const cases: [string, string, boolean][] = [
    ['dave', 'pencil', true],
    ['dave', 'Pencil', false],
    ['dave', '', false],
    ['alice', 'secret', true],
    ['alice', 'secret ', false],
    ['carol', 'c4rol', true],
    ['carol', 'carol', false],
  ];
  for (const [user, password, ok] of cases) {
    const entry = parsed.get(user);
    assert.ok(entry !== undefined);
    assert.equal(await verify(entry, Buffer.from(password)), ok, `${user} / ${password}`);
  }
});

test('verify: SCRAM passwords are SASLprepped (non-ASCII space, soft hyphen, NFKC); control characters never match', async () => {
  assert.equal(saslPrep('I\u00ADX'), 'IX');
  assert.equal(saslPrep('a\u00A0b'), 'a b');
  assert.equal(saslPrep('\u2168'), 'IX', 'ROMAN NUMERAL NINE is NFKC IX');
  assert.equal(saslPrep('bell\u0007'), undefined);
  const entry = users(await scramLine('u', 'IX')).get('u');
  assert.ok(entry !== undefined);
  assert.equal(await verify(entry, Buffer.from('I\u00ADX')), true);
  assert.equal(await verify(entry, Buffer.from('\u2168')), true);
  assert.equal(await verify(entry, Buffer.from('IX\u0007')), false);
  assert.equal(await verify(entry, Buffer.from([0xff, 0xfe])), false, 'bytes that are not UTF-8 are hashed as they are');
});

test('Mosquitto interop: hashes made by mosquitto_passwd -b (PBKDF2-SHA-512) and -H sha512 verify', { skip: noMosquitto }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mozzie-mosq-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'passwd');
  const accounts: [string, string, string[]][] = [
    ['mia', 'pa ss:w$rd ü', ['-c']],
    ['nils', 'n', []],
    ['olga', 'sha-512 salted', ['-H', 'sha512']],
  ];
  for (const [user, password, flags] of accounts) execFileSync(MOSQUITTO_PASSWD, [...flags, '-b', file, user, password]);
  const parsed = users(readFileSync(file, 'utf8'));
  assert.deepEqual(
    [...parsed.values()].map((e) => e.kind),
    ['pbkdf2-sha512', 'pbkdf2-sha512', 'sha512'],
  );
  for (const [user, password] of accounts) {
    const entry = parsed.get(user);
    assert.ok(entry !== undefined);
    assert.equal(await verify(entry, Buffer.from(password)), true, user);
    assert.equal(await verify(entry, Buffer.from(`${password}x`)), false, `${user} wrong`);
  }
});

/** Counts the hashes a store asks for. */
class CountingLimiter extends ConcurrencyLimiter {
  count = 0;
  override run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T> | undefined {
    this.count++;
    return super.run(task, signal);
  }
}

test('PasswordStore: a successful login is remembered (no second hash); a wrong password is never cached', async () => {
  const counting = new CountingLimiter(2, 10);
  const store = new PasswordStore(users(await scramLine('dave', 'pencil')), counting);
  const hashes = () => counting.count;
  assert.equal(await store.check('dave', Buffer.from('pencil')), 'ok');
  assert.equal(hashes(), 1);
  assert.equal(await store.check('dave', Buffer.from('pencil')), 'ok');
  assert.equal(hashes(), 1, 'the cached digest answered');
  assert.equal(await store.check('dave', Buffer.from('pencil!')), 'bad');
  assert.equal(await store.check('dave', Buffer.from('pencil!')), 'bad');
  assert.equal(hashes(), 3, 'each wrong password is hashed');
  assert.equal(await store.check('nobody', Buffer.from('pencil')), 'bad');
  assert.equal(hashes(), 4, 'an unknown user costs a decoy hash, like a known one');
  store.forget();
  assert.equal(await store.check('dave', Buffer.from('pencil')), 'ok');
  assert.equal(hashes(), 5, 'forget() (a reload) empties the cache');
});

test('PasswordStore: unknown users get stable fake SCRAM salts and the file’s usual iteration count', async () => {
  const store = new PasswordStore(users(await scramLine('dave', 'pencil', 5000)), PasswordStore.limiter());
  const a = store.scramCredentials('ghost');
  const b = store.scramCredentials('ghost');
  assert.equal(a.real, false);
  assert.deepEqual(a.credentials.salt, b.credentials.salt, 'the same salt every time: asking twice reveals nothing');
  assert.notDeepEqual(a.credentials.salt, store.scramCredentials('phantom').credentials.salt);
  assert.equal(a.credentials.iterations, 5000);
  assert.equal(store.scramCredentials('dave').real, true);
  const mosquitto = new PasswordStore(users(MOSQUITTO_7), PasswordStore.limiter(), { fakeIterations: 12_345 });
  assert.equal(mosquitto.scramCredentials('alice').real, false, 'a $7$ entry has no StoredKey: SCRAM cannot use it');
  assert.equal(mosquitto.scramCredentials('alice').credentials.iterations, 12_345);
});

test('ConcurrencyLimiter: never more than the cap at once, a bounded queue, abandoned waiters never run', async () => {
  const limiter = new ConcurrencyLimiter(2, 3);
  let peak = 0;
  const releases: (() => void)[] = [];
  const task = () =>
    new Promise<void>((resolve) => {
      peak = Math.max(peak, limiter.active);
      releases.push(resolve);
    });
  const runs = [limiter.run(task), limiter.run(task), limiter.run(task), limiter.run(task)];
  const abort = new AbortController();
  const abandoned = limiter.run(task, abort.signal);
  assert.equal(limiter.run(task), undefined, 'the sixth is refused: 2 running, 3 waiting');
  assert.equal(limiter.waiting, 3);
  abort.abort(new Error('gave up'));
  await assert.rejects(abandoned ?? Promise.resolve(), /gave up/);
  assert.equal(limiter.waiting, 2);
  while (releases.length > 0 || limiter.active > 0) {
    releases.shift()?.();
    await new Promise((r) => setImmediate(r));
  }
  await Promise.all(runs);
  assert.equal(peak, 2);
  assert.equal(limiter.active, 0);
});

test('many wrong logins at once: hashing stays off the event loop, at most the cap at once, the excess is refused as busy', async () => {
  const limiter = new ConcurrencyLimiter(2, 64);
  const store = new PasswordStore(users(await scramLine('dave', 'pencil', 10_000)), limiter);
  const delay = monitorEventLoopDelay({ resolution: 5 });
  let peak = 0;
  const sampler = setInterval(() => {
    peak = Math.max(peak, limiter.active);
  }, 1);
  delay.enable();
  const started = Date.now();
  const results = await Promise.all(
    Array.from({ length: 100 }, (_, i) => store.check(i % 2 === 0 ? 'dave' : 'ghost', Buffer.from(`guess${i}`))),
  );
  const elapsed = Date.now() - started;
  delay.disable();
  clearInterval(sampler);
  const busy = results.filter((r) => r === 'busy').length;
  assert.equal(results.filter((r) => r === 'ok').length, 0);
  assert.equal(busy, 100 - 2 - 64, 'beyond 2 running and 64 waiting, refused at once');
  assert.ok(peak <= 2, `peak concurrency ${peak}`);
  // 66 hashes of 10000 PBKDF2 rounds ran while the loop stayed responsive.
  const maxDelayMs = delay.max / 1e6;
  assert.ok(maxDelayMs < 150, `event loop delay peaked at ${maxDelayMs.toFixed(1)} ms over ${elapsed} ms of hashing`);
});
