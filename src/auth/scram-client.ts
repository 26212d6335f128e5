import { Buffer } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import {
  clientKeyOf,
  decodeBase64,
  escapeSaslName,
  hmac,
  isValidNonce,
  MIN_SCRAM_ITERATIONS,
  parseAttributes,
  SCRAM_SHA_256,
  saltedPassword,
  sameBytes,
  saslPrep,
  serverKeyOf,
  sha256,
  xor,
} from './scram.js';

export interface ScramClientOptions {
  readonly username: string;
  readonly password: string;
  /** Refuse a server asking for fewer iterations (default 4096, RFC 7677's minimum). */
  readonly minIterations?: number;
}

/**
 * The client side of SCRAM-SHA-256 for MQTT 5.0 enhanced authentication, made to plug into
 * `mozzie`'s client (or any client that answers AUTH challenges):
 *
 *   const scram = scramClient({ username: 'alice', password: 's3cret' });
 *   const client = await connectAsync('mqtt://broker', {
 *     properties: { authenticationMethod: scram.method, authenticationData: scram.clientFirst() },
 *     auth: scram.auth,
 *   });
 *   scram.verifyServer(connack.properties?.authenticationData)   // optional: the server knows our key
 *   await client.reauthenticate(scram.clientFirst())              // re-authentication (AUTH 0x19)
 *
 * Every clientFirst() draws a new nonce; the answer to a server challenge is computed for the attempt
 * whose nonce the server echoed, so a reconnect that resends an earlier CONNECT still works.
 */
export interface ScramClient {
  readonly method: typeof SCRAM_SHA_256;
  /** A new client-first-message (`n,,n=user,r=nonce`). */
  clientFirst(): Buffer;
  /** Answers the server-first-message with the client-final-message. Rejects on a malformed or weak challenge. */
  readonly auth: (challenge: { readonly data: Uint8Array | undefined }) => Promise<Buffer>;
  /** Checks the server-final-message (`v=...`, in CONNACK or AUTH 0x00) of the latest exchange. */
  verifyServer(data: Uint8Array | undefined): boolean;
}

const GS2_HEADER = 'n,,';
/** Attempts remembered for a late challenge (a reconnect resending an earlier client-first). */
const REMEMBERED = 8;

export function scramClient(options: ScramClientOptions): ScramClient {
  const password = saslPrep(options.password);
  if (password === undefined) throw new Error('the password contains characters SCRAM does not allow (SASLprep)');
  const secret = Buffer.from(password, 'utf8');
  const minIterations = options.minIterations ?? MIN_SCRAM_ITERATIONS;
  const attempts = new Map<string, string>();
  /** SaltedPassword by salt and iterations: re-authentication against the same entry hashes once. */
  const salted = new Map<string, Promise<Buffer>>();
  let expectedServerSignature: Buffer | undefined;

  const clientFirst = (): Buffer => {
    const nonce = randomBytes(18).toString('base64');
    const bare = `n=${escapeSaslName(options.username)},r=${nonce}`;
    attempts.set(nonce, bare);
    if (attempts.size > REMEMBERED) {
      const oldest = attempts.keys().next();
      if (oldest.done !== true) attempts.delete(oldest.value);
    }
    return Buffer.from(GS2_HEADER + bare, 'utf8');
  };

  const auth = async (challenge: { readonly data: Uint8Array | undefined }): Promise<Buffer> => {
    const serverFirst = Buffer.from(challenge.data ?? new Uint8Array()).toString('utf8');
    const attrs = parseAttributes(serverFirst);
    const [r, s, i] = attrs ?? [];
    if (r?.name !== 'r' || s?.name !== 's' || i?.name !== 'i' || !isValidNonce(r.value)) {
      throw new Error('malformed SCRAM server-first-message');
    }
    let bare: string | undefined;
    for (const [nonce, b] of attempts) if (r.value.startsWith(nonce) && r.value.length > nonce.length) bare = b;
    if (bare === undefined) throw new Error('the SCRAM server nonce does not extend any nonce we sent');
    const salt = decodeBase64(s.value);
    const iterations = /^\d{1,8}$/.test(i.value) ? Number(i.value) : 0;
    if (salt === undefined || salt.length === 0) throw new Error('malformed SCRAM salt');
    if (iterations < minIterations) throw new Error(`the server asks for ${i.value} iterations, fewer than ${minIterations}`);
    const key = `${s.value}$${iterations}`;
    let pending = salted.get(key);
    if (pending === undefined) {
      pending = saltedPassword(secret, salt, iterations);
      salted.set(key, pending);
    }
    const saltedPw = await pending;
    const withoutProof = `c=${Buffer.from(GS2_HEADER, 'utf8').toString('base64')},r=${r.value}`;
    const authMessage = `${bare},${serverFirst},${withoutProof}`;
    const clientKey = clientKeyOf(saltedPw);
    const proof = xor(clientKey, hmac(sha256(clientKey), authMessage));
    expectedServerSignature = hmac(serverKeyOf(saltedPw), authMessage);
    return Buffer.from(`${withoutProof},p=${proof.toString('base64')}`, 'utf8');
  };

  const verifyServer = (data: Uint8Array | undefined): boolean => {
    if (data === undefined || expectedServerSignature === undefined) return false;
    const m = /^v=([A-Za-z0-9+/=]+)$/.exec(Buffer.from(data).toString('utf8'));
    const signature = m === null ? undefined : decodeBase64(m[1] ?? '');
    return signature !== undefined && sameBytes(signature, expectedServerSignature);
  };

  return { method: SCRAM_SHA_256, clientFirst, auth, verifyServer };
}
