/**
 * `mozzie passwd`, spawned as a user runs it: batch mode, create, update in place, delete, the password
 * from standard input or asked twice on a terminal (through a pseudo-terminal), file permissions, bad
 * arguments, and the round trip into a running broker that re-reads the file on SIGHUP.
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parsePasswordFile } from '../../src/auth/password-file.js';
import { verify } from '../../src/auth/passwords.js';
import { spawnTracked } from '../helpers/child.js';
import { PacketClient } from '../helpers/packet-client.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

function dir(t: TestContext): string {
  const d = mkdtempSync(join(tmpdir(), 'mozzie-passwd-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

async function passwd(
  t: TestContext,
  args: readonly string[],
  stdin = '',
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = spawnTracked(t, process.execPath, [MAIN, 'passwd', ...args], { stdin });
  const exit = await p.exit(8000);
  return { code: exit.code, stdout: p.stdout, stderr: p.stderr };
}

/** Checks that `password` is the password of `user` in `file`. */
async function holds(file: string, user: string, password: string): Promise<boolean> {
  const parsed = parsePasswordFile(readFileSync(file, 'utf8'));
  assert.ok(parsed.ok, parsed.ok ? '' : parsed.problems.join('\n'));
  const entry = parsed.users.get(user);
  return entry !== undefined && verify(entry, Buffer.from(password));
}

const MOSQUITTO_LINE = 'carol:$6$FLodkiqu2/Qwk414$1ih6fYTAYGrq9Mad0l0e9+zKKqxvbsKn3DODlnUoc6i+Wb0b9WV4Gll6FSd+hL+QuGEdMXQU3q3I9K+LwxkYNA==';

test('mozzie passwd -c -b creates a 0600 file with one scram-sha-256 line that verifies', async (t) => {
  const file = join(dir(t), 'passwd');
  const r = await passwd(t, ['-c', '-b', file, 'alice', 'wonder land']);
  assert.deepEqual(r, { code: 0, stdout: '', stderr: '' });
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const text = readFileSync(file, 'utf8');
  assert.match(text, /^alice:\$scram-sha-256\$10000\$[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=\$[A-Za-z0-9+/]{43}=\n$/);
  assert.equal(await holds(file, 'alice', 'wonder land'), true);
  assert.equal(await holds(file, 'alice', 'wonderland'), false);
  assert.ok(!text.includes('wonder'), 'the password itself is not in the file');
});

test('mozzie passwd updates a user in place, appends a new one, keeps comments and Mosquitto lines, keeps the mode', async (t) => {
  const d = dir(t);
  const file = join(d, 'passwd');
  assert.equal((await passwd(t, ['-c', '-b', '--iterations', '5000', file, 'alice', 'one'])).code, 0);
  writeFileSync(file, `# managed by hand\n${readFileSync(file, 'utf8')}${MOSQUITTO_LINE}\n`);
  chmodSync(file, 0o640);
  assert.equal((await passwd(t, ['-b', file, 'alice', 'two'])).code, 0);
  assert.equal((await passwd(t, ['-b', '-I', '4096', file, 'bob', 'three'])).code, 0);
  const lines = readFileSync(file, 'utf8').split('\n');
  assert.equal(lines[0], '# managed by hand');
  assert.match(lines[1] ?? '', /^alice:\$scram-sha-256\$10000\$/, 'replaced where it was, with the default iterations');
  assert.equal(lines[2], MOSQUITTO_LINE);
  assert.match(lines[3] ?? '', /^bob:\$scram-sha-256\$4096\$/);
  assert.equal(lines.length, 5, 'and a final newline');
  assert.equal(await holds(file, 'alice', 'two'), true);
  assert.equal(await holds(file, 'carol', 'c4rol'), true);
  assert.equal(statSync(file).mode & 0o777, 0o640, 'an existing file keeps its permissions');
  assert.deepEqual(
    readdirSync(d).filter((n) => n.endsWith('.tmp')),
    [],
    'no temporary file left behind',
  );
});

test('mozzie passwd reads the password from standard input when it is not a terminal', async (t) => {
  const file = join(dir(t), 'passwd');
  assert.equal((await passwd(t, ['-c', file, 'dave'], 'from stdin\r\nignored second line\n')).code, 0);
  assert.equal(await holds(file, 'dave', 'from stdin'), true);
  const empty = await passwd(t, [file, 'erin'], '\n');
  assert.equal(empty.code, 1);
  assert.match(empty.stderr, /the password is empty/);
});

test('mozzie passwd -D removes a user; an unknown user or a missing file is an error', async (t) => {
  const file = join(dir(t), 'passwd');
  await passwd(t, ['-c', '-b', '-I', '4096', file, 'alice', 'a']);
  await passwd(t, ['-b', '-I', '4096', file, 'bob', 'b']);
  assert.equal((await passwd(t, ['-D', file, 'alice'])).code, 0);
  assert.deepEqual(
    readFileSync(file, 'utf8')
      .split('\n')
      .map((l) => l.split(':')[0]),
    ['bob', ''],
  );
  const again = await passwd(t, ['-D', file, 'alice']);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /user "alice" is not in/);
  const missing = await passwd(t, ['-b', join(file, '..', 'nope'), 'x', 'y']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /does not exist; use -c to create it/);
});

test('mozzie passwd: bad arguments exit 2 with a pointer to --help; --help exits 0', async (t) => {
  const file = join(dir(t), 'passwd');
  const cases: [readonly string[], RegExp][] = [
    [[], /expected FILE USER/],
    [['-b', file, 'alice'], /-b needs FILE USER PASSWORD/],
    [['-b', file, 'a:b', 'pw'], /cannot contain ':'/],
    [['-b', file, '#root', 'pw'], /cannot start with '#'/],
    [['-b', '--iterations', '100', file, 'alice', 'pw'], /--iterations must be a whole number from 4096/],
    [['-D', '-b', file, 'alice', 'pw'], /-D cannot be combined/],
    [['--frobnicate', file, 'alice'], /Unknown option '--frobnicate'/],
  ];
  for (const [args, message] of cases) {
    const r = await passwd(t, args);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.stderr, message);
    assert.match(r.stderr, /Run "mozzie passwd --help" for the options\./);
  }
  assert.equal(existsSync(file), false, 'nothing was written');
  const help = await passwd(t, ['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Usage: mozzie passwd/);
  assert.match(help.stdout, /USER:\$scram-sha-256\$ITERATIONS\$SALT\$STOREDKEY\$SERVERKEY/);
  const top = spawnTracked(t, process.execPath, [MAIN, '--help']);
  await top.exit();
  assert.match(top.stdout, /^ {2}passwd {5}add, change or remove users of a password file/m);
});

const PTY_SCRIPT = `
import os, pty, sys
node, main, file, user, first, second = sys.argv[1:7]
pid, fd = pty.fork()
if pid == 0:
    os.execv(node, [node, main, 'passwd', '-c', '-I', '4096', file, user])
out = b''
def until(marker):
    global out
    while marker not in out:
        out += os.read(fd, 1024)
until(b'Password: ')
os.write(fd, first.encode() + b'\\r')
until(b'Reenter password: ')
os.write(fd, second.encode() + b'\\r')
try:
    while True:
        chunk = os.read(fd, 1024)
        if not chunk:
            break
        out += chunk
except OSError:
    pass
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode('utf8', 'replace'))
sys.exit(os.waitstatus_to_exitcode(status))
`;

const noPython = existsSync('/usr/bin/python3') ? false : 'python3 not installed';

test('mozzie passwd on a terminal asks twice without echo; different answers change nothing', { skip: noPython }, async (t) => {
  const d = dir(t);
  const file = join(d, 'passwd');
  const run = async (first: string, second: string) => {
    const p = spawnTracked(t, '/usr/bin/python3', ['-c', PTY_SCRIPT, process.execPath, MAIN, file, 'tty-user', first, second]);
    const exit = await p.exit(8000);
    return { code: exit.code, output: p.stdout, stderr: p.stderr };
  };
  const same = await run('s3cret', 's3cret');
  assert.equal(same.code, 0, same.output + same.stderr);
  assert.match(same.output, /Password: \r?\nReenter password: \r?\n/);
  assert.ok(!same.output.includes('s3cret'), 'the password was not echoed');
  assert.equal(await holds(file, 'tty-user', 's3cret'), true);
  const before = readFileSync(file, 'utf8');
  const differ = await run('one', 'two');
  assert.equal(differ.code, 1);
  assert.match(differ.output, /the passwords do not match/);
  assert.equal(readFileSync(file, 'utf8'), before);
});

test('mozzie passwd then SIGHUP: the running broker accepts the new user, and SCRAM-free 3.1.1 clients log in with it', async (t) => {
  const d = dir(t);
  const file = join(d, 'passwd');
  await passwd(t, ['-c', '-b', '-I', '4096', file, 'alice', 'wonderland']);
  const config = join(d, 'mozzie.yaml');
  writeFileSync(config, `listeners:\n  - port: 0\nallowAnonymous: false\nauth:\n  passwordFile: ${file}\n`);
  const broker = spawnTracked(t, process.execPath, [MAIN, 'broker', '-c', config], { lifetimeMs: 15_000 });
  const m = await broker.waitFor(/listening on mqtt:\/\/127\.0\.0\.1:(\d+)/, 'stderr', 8000);
  const port = Number(m[1]);
  const login = async (user: string, password: string) => {
    const c = await PacketClient.tcp(port, 4);
    const code = (await c.connect({ clientId: `${user}-${Date.now()}`, username: user, password: Buffer.from(password) })).reasonCode;
    c.end();
    return code;
  };
  assert.equal(await login('alice', 'wonderland'), 0);
  assert.equal(await login('bob', 'builder'), 4);
  assert.equal((await passwd(t, ['-b', '-I', '4096', file, 'bob', 'builder'])).code, 0);
  broker.child.kill('SIGHUP');
  await broker.waitFor(/reloaded the password file/, 'stderr', 5000);
  assert.equal(await login('bob', 'builder'), 0);
  await broker.kill('SIGTERM');
});
