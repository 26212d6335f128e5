import { Buffer } from 'node:buffer';
import { decodeBase64, MIN_SCRAM_ITERATIONS, type ScramCredentials } from './scram.js';

/**
 * The password file: one `user:hash` line per user, blank lines and `#` comments ignored.
 *
 *   alice:$scram-sha-256$10000$<salt>$<StoredKey>$<ServerKey>     written by `mozzie passwd`
 *   bob:$7$101$<salt>$<hash>                                       Mosquitto 2.x (PBKDF2-SHA-512), read only
 *   carol:$6$<salt>$<hash>                                         Mosquitto 1.x (salted SHA-512), read only
 *
 * Fields are standard base64. The user name is everything before the first ':' (so it cannot contain one)
 * and is compared exactly. A `$scram-sha-256$` entry verifies both a plain CONNECT password and SCRAM-SHA-256;
 * Mosquitto's formats verify plain passwords only, until `mozzie passwd` sets the password again.
 */

export type PasswordEntry =
  | ({ readonly kind: 'scram-sha-256' } & ScramCredentials)
  /** Mosquitto `$7$`: PBKDF2-HMAC-SHA-512(password, salt, iterations), 64 bytes. */
  | { readonly kind: 'pbkdf2-sha512'; readonly iterations: number; readonly salt: Buffer; readonly hash: Buffer }
  /** Mosquitto `$6$`: SHA-512(password || salt). */
  | { readonly kind: 'sha512'; readonly salt: Buffer; readonly hash: Buffer };

/** A parsed file: entries by user name, or the problems found, each naming its line. */
export type ParsedPasswordFile =
  | { readonly ok: true; readonly users: ReadonlyMap<string, PasswordEntry> }
  | { readonly ok: false; readonly problems: readonly string[] };

const MAX_ITERATIONS = 10_000_000;

export function parsePasswordFile(text: string): ParsedPasswordFile {
  const users = new Map<string, PasswordEntry>();
  const problems: string[] = [];
  const lines = text.split('\n');
  lines.forEach((raw, i) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '' || line.trimStart().startsWith('#')) return;
    const where = `line ${i + 1}`;
    const colon = line.indexOf(':');
    if (colon <= 0) {
      problems.push(`${where}: expected user:hash`);
      return;
    }
    const user = line.slice(0, colon);
    const parsed = parseHash(line.slice(colon + 1).trimEnd());
    if (typeof parsed === 'string') {
      problems.push(`${where}: ${parsed} (user ${JSON.stringify(user)})`);
      return;
    }
    if (users.has(user)) {
      problems.push(`${where}: user ${JSON.stringify(user)} appears twice`);
      return;
    }
    users.set(user, parsed);
  });
  return problems.length > 0 ? { ok: false, problems } : { ok: true, users };
}

/** Parses the part after `user:`; a string is the problem. */
export function parseHash(hash: string): PasswordEntry | string {
  const parts = hash.split('$');
  // A leading '$' makes parts[0] empty.
  if (parts[0] !== '' || parts.length < 3) return 'not a password hash (expected $scram-sha-256$..., $7$... or $6$...)';
  const kind = parts[1];
  if (kind === 'scram-sha-256') {
    if (parts.length !== 6) return '$scram-sha-256$ needs iterations$salt$StoredKey$ServerKey';
    const iterations = parseIterations(parts[2], MIN_SCRAM_ITERATIONS);
    if (typeof iterations === 'string') return iterations;
    const salt = bytes(parts[3], 'salt');
    const storedKey = bytes(parts[4], 'StoredKey', 32);
    const serverKey = bytes(parts[5], 'ServerKey', 32);
    for (const x of [salt, storedKey, serverKey]) if (typeof x === 'string') return x;
    return { kind, iterations, salt: salt as Buffer, storedKey: storedKey as Buffer, serverKey: serverKey as Buffer };
  }
  if (kind === '7') {
    if (parts.length !== 5) return '$7$ needs iterations$salt$hash';
    const iterations = parseIterations(parts[2], 1);
    if (typeof iterations === 'string') return iterations;
    const salt = bytes(parts[3], 'salt');
    const digest = bytes(parts[4], 'hash', 64);
    for (const x of [salt, digest]) if (typeof x === 'string') return x;
    return { kind: 'pbkdf2-sha512', iterations, salt: salt as Buffer, hash: digest as Buffer };
  }
  if (kind === '6') {
    if (parts.length !== 4) return '$6$ needs salt$hash';
    const salt = bytes(parts[2], 'salt');
    const digest = bytes(parts[3], 'hash', 64);
    for (const x of [salt, digest]) if (typeof x === 'string') return x;
    return { kind: 'sha512', salt: salt as Buffer, hash: digest as Buffer };
  }
  if (kind === 'argon2id') return 'Mosquitto $argon2id$ hashes are not supported; set the password again with mozzie passwd';
  return `unknown hash type $${kind ?? ''}$`;
}

function parseIterations(text: string | undefined, min: number): number | string {
  if (text === undefined || !/^\d{1,8}$/.test(text)) return 'iterations must be a number';
  const n = Number(text);
  if (n < min || n > MAX_ITERATIONS) return `iterations must be between ${min} and ${MAX_ITERATIONS}`;
  return n;
}

function bytes(text: string | undefined, name: string, length?: number): Buffer | string {
  const b = text === undefined ? undefined : decodeBase64(text);
  if (b === undefined || b.length === 0) return `${name} is not base64`;
  if (length !== undefined && b.length !== length) return `${name} must be ${length} bytes, not ${b.length}`;
  return b;
}

/** The line `mozzie passwd` writes (without the newline). */
export function formatScramEntry(user: string, c: ScramCredentials): string {
  return `${user}:$scram-sha-256$${c.iterations}$${c.salt.toString('base64')}$${c.storedKey.toString('base64')}$${c.serverKey.toString('base64')}`;
}

/** Why a user name cannot go in the file, or undefined when it can. */
export function userNameProblem(user: string): string | undefined {
  if (user.length === 0) return 'the user name is empty';
  if (user.includes(':')) return "a user name cannot contain ':'";
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this rejects
  if (/[\u0000-\u001F\u007F]/.test(user)) return 'a user name cannot contain control characters';
  if (user.trim() !== user) return 'a user name cannot start or end with white space';
  if (user.startsWith('#')) return "a user name cannot start with '#' (it would be a comment)";
  if (Buffer.byteLength(user, 'utf8') > 65_535) return 'a user name is at most 65535 bytes';
  return undefined;
}
