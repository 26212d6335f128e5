import { Buffer } from 'node:buffer';
import { createHash, createHmac, pbkdf2, timingSafeEqual } from 'node:crypto';

/**
 * SCRAM-SHA-256 (RFC 5802 with RFC 7677): the primitives the password file, the broker's AUTH exchange
 * and the client helper share. Nothing here knows MQTT; SCRAM messages are ASCII attribute lists.
 */

export const SCRAM_SHA_256 = 'SCRAM-SHA-256';
/** RFC 7677 section 4: at least 4096 iterations. */
export const MIN_SCRAM_ITERATIONS = 4096;
export const DEFAULT_SCRAM_ITERATIONS = 10_000;
/** Bytes of salt `mozzie passwd` draws. */
export const SCRAM_SALT_BYTES = 16;

/** What the server keeps for one user: never the password, nor anything that logs in as the user. */
export interface ScramCredentials {
  readonly salt: Buffer;
  readonly iterations: number;
  /** H(ClientKey): checks a client's proof. */
  readonly storedKey: Buffer;
  /** HMAC(SaltedPassword, "Server Key"): proves the server to the client. */
  readonly serverKey: Buffer;
}

export function hmac(key: Buffer, text: string | Buffer): Buffer {
  return createHmac('sha256', key).update(text).digest();
}

export function sha256(data: Buffer): Buffer {
  return createHash('sha256').update(data).digest();
}

export function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(a.length);
  for (let i = 0; i < a.length; i++) out[i] = (a[i] ?? 0) ^ (b[i] ?? 0);
  return out;
}

/** Constant-time comparison of two secrets; different lengths are unequal (the length is not secret). */
export function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Hi(password, salt, i) of RFC 5802: PBKDF2-HMAC-SHA-256, in libuv's thread pool (off the event loop). */
export function saltedPassword(password: Buffer, salt: Buffer, iterations: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    pbkdf2(password, salt, iterations, 32, 'sha256', (err, key) => (err === null ? resolve(key) : reject(err)));
  });
}

export function clientKeyOf(salted: Buffer): Buffer {
  return hmac(salted, 'Client Key');
}

export function serverKeyOf(salted: Buffer): Buffer {
  return hmac(salted, 'Server Key');
}

/** StoredKey and ServerKey of a password (already normalised by saslPrep). */
export async function deriveCredentials(password: Buffer, salt: Buffer, iterations: number): Promise<ScramCredentials> {
  const salted = await saltedPassword(password, salt, iterations);
  return { salt, iterations, storedKey: sha256(clientKeyOf(salted)), serverKey: serverKeyOf(salted) };
}

// ---- SASLprep (RFC 4013) --------------------------------------------------------------------------

/** Code point ranges, inclusive. */
type Ranges = readonly (readonly [number, number])[];

/** RFC 3454 C.1.2: non-ASCII spaces, mapped to U+0020. */
const NON_ASCII_SPACE: Ranges = [
  [0x00a0, 0x00a0],
  [0x1680, 0x1680],
  [0x2000, 0x200b],
  [0x202f, 0x202f],
  [0x205f, 0x205f],
  [0x3000, 0x3000],
];
/** RFC 3454 B.1: commonly mapped to nothing (soft hyphen, joiners, variation selectors...). */
const MAPPED_TO_NOTHING: Ranges = [
  [0x00ad, 0x00ad],
  [0x034f, 0x034f],
  [0x1806, 0x1806],
  [0x180b, 0x180d],
  [0x200c, 0x200d],
  [0x2060, 0x2060],
  [0xfe00, 0xfe0f],
  [0xfeff, 0xfeff],
];
/** RFC 3454 C.2 (controls), C.3 (private use), C.4 (non-characters), C.5 (surrogates), C.6, C.8, C.9. */
const PROHIBITED: Ranges = [
  [0x0000, 0x001f],
  [0x007f, 0x009f],
  [0x0340, 0x0341],
  [0x06dd, 0x06dd],
  [0x070f, 0x070f],
  [0x180e, 0x180e],
  [0x200e, 0x200f],
  [0x2028, 0x202e],
  [0x2060, 0x2063],
  [0x206a, 0x206f],
  [0xd800, 0xdfff],
  [0xe000, 0xf8ff],
  [0xfdd0, 0xfdef],
  [0xfff9, 0xffff],
  [0xe0001, 0xe0001],
  [0xe0020, 0xe007f],
  [0xf0000, 0x10ffff],
];

function within(ranges: Ranges, cp: number): boolean {
  for (const [lo, hi] of ranges) if (cp >= lo && cp <= hi) return true;
  return false;
}

/**
 * Prepares a password as SCRAM requires (RFC 4013 SASLprep): non-ASCII spaces become spaces, invisible
 * characters are dropped, the result is NFKC-normalised, and control, private-use and direction-changing
 * characters are refused. (The bidirectional-text rule of RFC 3454 section 6 is not applied; it only
 * refuses strings that mix right-to-left and left-to-right letters.) ASCII passwords pass unchanged.
 * Returns undefined for a password with prohibited characters.
 */
export function saslPrep(password: string): string | undefined {
  let mapped = '';
  for (const ch of password) {
    const cp = ch.codePointAt(0) ?? 0;
    if (within(NON_ASCII_SPACE, cp)) mapped += ' ';
    else if (!within(MAPPED_TO_NOTHING, cp)) mapped += ch;
  }
  const prepared = mapped.normalize('NFKC');
  for (const ch of prepared) if (within(PROHIBITED, ch.codePointAt(0) ?? 0)) return undefined;
  return prepared;
}

// ---- messages -------------------------------------------------------------------------------------

/** `saslname` of RFC 5802: ',' and '=' escaped as =2C and =3D. */
export function escapeSaslName(name: string): string {
  return name.replace(/=/g, '=3D').replace(/,/g, '=2C');
}

/** Undoes escapeSaslName; undefined for an '=' not followed by 2C or 3D (RFC 5802: fail). */
export function unescapeSaslName(name: string): string | undefined {
  if (/=(?!2C|3D)/.test(name)) return undefined;
  return name.replace(/=2C/g, ',').replace(/=3D/g, '=');
}

/** A nonce: printable ASCII without ',' (RFC 5802 `printable`). */
export function isValidNonce(nonce: string): boolean {
  return nonce.length > 0 && /^[\x21-\x2B\x2D-\x7E]+$/.test(nonce);
}

/**
 * Splits `a=1,b=2` into attributes in order. Undefined when a part is not `letter=value`.
 * Values may contain '=' (base64); they never contain ','.
 */
export function parseAttributes(text: string): { readonly name: string; readonly value: string }[] | undefined {
  const out: { name: string; value: string }[] = [];
  for (const part of text.split(',')) {
    if (part.length < 2 || part[1] !== '=' || !/^[A-Za-z]$/.test(part[0] ?? '')) return undefined;
    out.push({ name: part[0] as string, value: part.slice(2) });
  }
  return out;
}

/** Strict base64 (standard alphabet, padded) to bytes; undefined for anything else. */
export function decodeBase64(text: string): Buffer | undefined {
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return undefined;
  return Buffer.from(text, 'base64');
}
