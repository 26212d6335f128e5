import { Buffer } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import { chmod, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { formatScramEntry, parsePasswordFile, userNameProblem } from '../auth/password-file.js';
import { DEFAULT_SCRAM_ITERATIONS, deriveCredentials, MIN_SCRAM_ITERATIONS, SCRAM_SALT_BYTES, saslPrep } from '../auth/scram.js';

const MAX_ITERATIONS = 10_000_000;

const HELP = `Usage: mozzie passwd [-c] [--iterations N] FILE USER            ask for the password
       mozzie passwd -b [-c] [--iterations N] FILE USER PASSWORD  password on the command line
       mozzie passwd -D FILE USER                                 remove USER

Adds USER to the password file FILE, or sets a new password, as SCRAM-SHA-256 credentials
(salt, iteration count, StoredKey, ServerKey: never the password). The broker reads FILE with
auth.passwordFile and checks both plain CONNECT passwords and SCRAM-SHA-256 against it.
On a terminal the password is asked twice without echo; otherwise it is the first line of
standard input. Other lines of FILE, Mosquitto hashes included, are kept as they are.
FILE is replaced atomically; a new FILE is readable by its owner only (0600).

Options:
  -b, --batch            take the password from the command line (visible in ps and shell history)
  -c, --create           create FILE, replacing any that exists
  -D, --delete           remove USER from FILE
  -I, --iterations N     PBKDF2 iterations (default ${DEFAULT_SCRAM_ITERATIONS}, at least ${MIN_SCRAM_ITERATIONS})
  -h, --help             show this help

Line format:
  USER:$scram-sha-256$ITERATIONS$SALT$STOREDKEY$SERVERKEY   (base64 fields)

Examples:
  mozzie passwd -c /etc/mozzie/passwd alice
  mozzie passwd -b /etc/mozzie/passwd bob 'correct horse'
  mozzie passwd -D /etc/mozzie/passwd bob
  kill -HUP <broker pid>      # the broker re-reads the file
`;

class UsageError extends Error {}

/** `mozzie passwd`: manage a password file. Exit 0 done, 1 failed, 2 bad usage. */
export async function runPasswd(argv: readonly string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    return usage((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help === true) {
    process.stdout.write(HELP);
    return 0;
  }
  try {
    const batch = values.batch === true;
    const remove = values.delete === true;
    if (remove && (batch || values.create === true || values.iterations !== undefined))
      throw new UsageError('-D cannot be combined with -b, -c or --iterations');
    const want = batch ? 3 : 2;
    if (positionals.length !== want) throw new UsageError(batch ? '-b needs FILE USER PASSWORD' : 'expected FILE USER');
    const [file = '', user = '', given] = positionals;
    const problem = userNameProblem(user);
    if (problem !== undefined) throw new UsageError(problem);
    const iterations = parseIterations(values.iterations);
    if (remove) return await removeUser(file, user);
    const password = given ?? (await askPassword());
    if (password === undefined) return 1;
    return await setUser(file, user, password, iterations, values.create === true);
  } catch (err) {
    if (err instanceof UsageError) return usage(err.message);
    process.stderr.write(`mozzie passwd: ${(err as Error).message}\n`);
    return 1;
  }
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: true,
    options: {
      batch: { type: 'boolean', short: 'b' },
      create: { type: 'boolean', short: 'c' },
      delete: { type: 'boolean', short: 'D' },
      iterations: { type: 'string', short: 'I' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

function usage(message: string): number {
  process.stderr.write(`mozzie passwd: ${message}\nRun "mozzie passwd --help" for the options.\n`);
  return 2;
}

function parseIterations(text: string | undefined): number {
  if (text === undefined) return DEFAULT_SCRAM_ITERATIONS;
  const n = /^\d{1,8}$/.test(text) ? Number(text) : Number.NaN;
  if (!(n >= MIN_SCRAM_ITERATIONS && n <= MAX_ITERATIONS)) {
    throw new UsageError(`--iterations must be a whole number from ${MIN_SCRAM_ITERATIONS} to ${MAX_ITERATIONS}`);
  }
  return n;
}

async function setUser(file: string, user: string, password: string, iterations: number, create: boolean): Promise<number> {
  if (password.length === 0) throw new Error('the password is empty');
  const prepared = saslPrep(password);
  if (prepared === undefined) throw new Error('the password contains control or other characters SCRAM does not allow');
  const existing = create ? undefined : await readExisting(file);
  const credentials = await deriveCredentials(Buffer.from(prepared, 'utf8'), randomBytes(SCRAM_SALT_BYTES), iterations);
  const entry = formatScramEntry(user, credentials);
  const lines = existing === undefined ? [] : existing.lines;
  // The first line of the user gets the new entry, in place; any others (a duplicate the broker would refuse) go.
  const at = findUser(lines, user);
  if (at >= 0) lines[at] = entry;
  else lines.push(entry);
  for (let i = lines.length - 1; i > at && at >= 0; i--) if (isUserLine(lines[i] ?? '', user)) lines.splice(i, 1);
  await writeAtomically(file, lines, existing?.mode ?? 0o600);
  return 0;
}

async function removeUser(file: string, user: string): Promise<number> {
  const existing = await readExisting(file);
  const kept = existing.lines.filter((l) => !isUserLine(l, user));
  if (kept.length === existing.lines.length) {
    process.stderr.write(`mozzie passwd: user ${JSON.stringify(user)} is not in ${file}\n`);
    return 1;
  }
  await writeAtomically(file, kept, existing.mode);
  return 0;
}

/** The file's lines (without the final newline's empty line) and permission bits; warns about bad lines. */
async function readExisting(file: string): Promise<{ lines: string[]; mode: number }> {
  let text: string;
  let mode: number;
  try {
    text = await readFile(file, 'utf8');
    mode = (await stat(file)).mode & 0o777;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error(`${file} does not exist; use -c to create it`);
    throw new Error(`cannot read ${file} (${code ?? String(err)})`);
  }
  const parsed = parsePasswordFile(text);
  if (!parsed.ok) {
    process.stderr.write(`mozzie passwd: warning: ${file} has lines the broker will refuse (kept as they are):\n`);
    for (const p of parsed.problems) process.stderr.write(`  - ${p}\n`);
  }
  const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  if (lines.at(-1) === '') lines.pop();
  return { lines, mode };
}

function findUser(lines: readonly string[], user: string): number {
  return lines.findIndex((l) => isUserLine(l, user));
}

function isUserLine(line: string, user: string): boolean {
  return !line.trimStart().startsWith('#') && line.startsWith(`${user}:`);
}

/** Writes a temporary file beside `file` with `mode`, then renames it over: readers never see half a file. */
async function writeAtomically(file: string, lines: readonly string[], mode: number): Promise<void> {
  const temp = join(dirname(file), `.${basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const handle = await open(temp, 'wx', mode);
  try {
    await handle.writeFile(lines.length === 0 ? '' : `${lines.join('\n')}\n`, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await chmod(temp, mode);
    await rename(temp, file);
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw err;
  }
}

/** Asks twice on a terminal; reads the first line of standard input otherwise. Undefined: told the user why. */
async function askPassword(): Promise<string | undefined> {
  if (process.stdin.isTTY !== true) {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
    const line = Buffer.concat(chunks).toString('utf8').split('\n')[0] ?? '';
    return line.endsWith('\r') ? line.slice(0, -1) : line;
  }
  const first = await readHidden('Password: ');
  const second = await readHidden('Reenter password: ');
  if (first !== second) {
    process.stderr.write('mozzie passwd: the passwords do not match\n');
    return undefined;
  }
  return first;
}

/** Reads one line from the terminal without echoing it. Ctrl-C and Ctrl-D abort. */
function readHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  // Echo off before the prompt shows: what is typed from the moment it shows is never echoed.
  stdin.setRawMode(true);
  process.stderr.write(prompt);
  stdin.setEncoding('utf8');
  stdin.resume();
  return new Promise((resolve, reject) => {
    let text = '';
    const finish = (error?: Error) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      if (error === undefined) resolve(text);
      else reject(error);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return finish();
        if (ch === '\u0003' || (ch === '\u0004' && text === '')) return finish(new Error('cancelled'));
        if (ch === '\u007f' || ch === '\b') text = [...text].slice(0, -1).join('');
        else text += ch;
      }
    };
    stdin.on('data', onData);
  });
}
