import { Buffer, isUtf8 } from 'node:buffer';
import { createHash, createHmac, pbkdf2, randomBytes } from 'node:crypto';
import { ConcurrencyLimiter } from './limiter.js';
import type { PasswordEntry } from './password-file.js';
import {
  clientKeyOf,
  DEFAULT_SCRAM_ITERATIONS,
  hmac,
  type ScramCredentials,
  saltedPassword,
  sameBytes,
  saslPrep,
  sha256,
} from './scram.js';

/** ok: the password is right; bad: wrong password or unknown user; busy: too many checks waiting. */
export type PasswordCheck = 'ok' | 'bad' | 'busy';

export interface PasswordStoreOptions {
  /** Password hashes computed at once (each in libuv's thread pool). Default 2. */
  readonly concurrency?: number;
  /** Checks waiting for a slot before further ones are refused as busy. Default 256. */
  readonly maxQueued?: number;
  /** Iterations SCRAM announces for unknown users. Default: the most common count in the file, else 10000. */
  readonly fakeIterations?: number;
  /** Successful logins remembered (user and a keyed digest of the password). Default 10000. */
  readonly cacheSize?: number;
}

/**
 * The users of one password file, with what checking them costs kept in bounds: hashing runs off the
 * event loop through a ConcurrencyLimiter, an unknown user costs the same hash as a known one (so timing
 * does not tell which names exist), and a successful login is remembered until the file is reloaded, so
 * a client that reconnects often with the right password pays for one hash, not one per connect.
 * A new PasswordStore is made on every reload; its cache dies with it.
 */
export class PasswordStore {
  private readonly cache = new Map<string, Buffer>();
  /** Keys the cache's digests and the fake SCRAM salts; it lives in memory only. */
  private readonly secret = randomBytes(32);
  private readonly cacheSize: number;
  readonly fakeIterations: number;
  private readonly decoyKind: { readonly kind: PasswordEntry['kind']; readonly iterations: number };

  constructor(
    readonly users: ReadonlyMap<string, PasswordEntry>,
    private readonly limiter: ConcurrencyLimiter,
    options: PasswordStoreOptions = {},
  ) {
    this.cacheSize = options.cacheSize ?? 10_000;
    this.fakeIterations = options.fakeIterations ?? commonIterations(users, 'scram-sha-256') ?? DEFAULT_SCRAM_ITERATIONS;
    this.decoyKind = decoyKind(users, this.fakeIterations);
  }

  static limiter(options: PasswordStoreOptions = {}): ConcurrencyLimiter {
    return new ConcurrencyLimiter(options.concurrency ?? 2, options.maxQueued ?? 256);
  }

  /** Checks a CONNECT password; busy when `signal` aborts before the check had a slot. Never throws. */
  async check(user: string, password: Buffer, signal?: AbortSignal): Promise<PasswordCheck> {
    const entry = this.users.get(user);
    const digest = this.digest(user, password);
    const cached = this.cache.get(user);
    if (entry !== undefined && cached !== undefined && sameBytes(cached, digest)) {
      // Refresh its place: the map's order is least recently used first.
      this.cache.delete(user);
      this.cache.set(user, digest);
      return 'ok';
    }
    const pending = this.limiter.run(() => verify(entry ?? this.decoy(user), password), signal);
    if (pending === undefined) return 'busy';
    let ok: boolean;
    try {
      ok = await pending;
    } catch {
      if (signal?.aborted === true) return 'busy';
      ok = false;
    }
    if (!ok || entry === undefined) return 'bad';
    this.remember(user, digest);
    return 'ok';
  }

  /**
   * SCRAM credentials of a user. An unknown user, or one whose entry is a Mosquitto hash (no StoredKey),
   * gets credentials derived from a secret: a stable salt and the usual iteration count, so the server's
   * first message looks the same as for a real user, and keys nobody can match.
   */
  scramCredentials(user: string): { readonly credentials: ScramCredentials; readonly real: boolean } {
    const entry = this.users.get(user);
    if (entry?.kind === 'scram-sha-256') return { credentials: entry, real: true };
    const salt = hmac(this.secret, `salt\0${user}`).subarray(0, 16);
    return {
      credentials: { salt, iterations: this.fakeIterations, storedKey: randomBytes(32), serverKey: randomBytes(32) },
      real: false,
    };
  }

  /** Forgets every remembered login. */
  forget(): void {
    this.cache.clear();
  }

  private digest(user: string, password: Buffer): Buffer {
    return createHmac('sha256', this.secret).update(`${user}\0`).update(password).digest();
  }

  private remember(user: string, digest: Buffer): void {
    this.cache.delete(user);
    this.cache.set(user, digest);
    if (this.cache.size > this.cacheSize) {
      const oldest = this.cache.keys().next();
      if (oldest.done !== true) this.cache.delete(oldest.value);
    }
  }

  /** What an unknown user is checked against: the same work as the file's usual entry, and never a match. */
  private decoy(user: string): PasswordEntry {
    const credentials = this.scramCredentials(user).credentials;
    const kind = this.decoyKind;
    if (kind.kind === 'scram-sha-256') return { kind: 'scram-sha-256', ...credentials };
    const hash = randomBytes(64);
    if (kind.kind === 'pbkdf2-sha512') return { kind: 'pbkdf2-sha512', iterations: kind.iterations, salt: credentials.salt, hash };
    return { kind: 'sha512', salt: credentials.salt, hash };
  }
}

/** True when `password` matches `entry`; the PBKDF2 of SCRAM and `$7$` entries runs in the thread pool. */
export async function verify(entry: PasswordEntry, password: Buffer): Promise<boolean> {
  switch (entry.kind) {
    case 'scram-sha-256': {
      const prepared = scramPassword(password);
      if (prepared === undefined) return false;
      const salted = await saltedPassword(prepared, entry.salt, entry.iterations);
      return sameBytes(sha256(clientKeyOf(salted)), entry.storedKey);
    }
    case 'pbkdf2-sha512': {
      const hash = await new Promise<Buffer>((resolve, reject) => {
        pbkdf2(password, entry.salt, entry.iterations, 64, 'sha512', (err, key) => (err === null ? resolve(key) : reject(err)));
      });
      return sameBytes(hash, entry.hash);
    }
    case 'sha512': {
      const hash = createHash('sha512').update(password).update(entry.salt).digest();
      return sameBytes(hash, entry.hash);
    }
    default: {
      const never: never = entry;
      return never;
    }
  }
}

/** A CONNECT password as SCRAM hashes it: SASLprep when it is UTF-8 text, the bytes as they are otherwise. */
export function scramPassword(password: Buffer): Buffer | undefined {
  if (!isUtf8(password)) return password;
  const prepared = saslPrep(password.toString('utf8'));
  return prepared === undefined ? undefined : Buffer.from(prepared, 'utf8');
}

/** The iteration count most entries of a kind use, so fake credentials blend in. */
function commonIterations(users: ReadonlyMap<string, PasswordEntry>, kind: 'scram-sha-256' | 'pbkdf2-sha512'): number | undefined {
  const counts = new Map<number, number>();
  for (const e of users.values()) if (e.kind === kind) counts.set(e.iterations, (counts.get(e.iterations) ?? 0) + 1);
  return mostCommon(counts);
}

function mostCommon<K>(counts: ReadonlyMap<K, number>): K | undefined {
  let best: K | undefined;
  let bestCount = 0;
  for (const [key, n] of counts) {
    if (n > bestCount) {
      best = key;
      bestCount = n;
    }
  }
  return best;
}

/** The kind of entry most users have: an unknown user costs what they cost. */
function decoyKind(
  users: ReadonlyMap<string, PasswordEntry>,
  scramIterations: number,
): { kind: PasswordEntry['kind']; iterations: number } {
  const kinds = new Map<PasswordEntry['kind'], number>();
  for (const e of users.values()) kinds.set(e.kind, (kinds.get(e.kind) ?? 0) + 1);
  const kind = mostCommon(kinds) ?? 'scram-sha-256';
  if (kind === 'pbkdf2-sha512') return { kind, iterations: commonIterations(users, kind) ?? 101 };
  return { kind, iterations: scramIterations };
}
