import { Buffer } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import type { AuthExchange, AuthMethod, AuthStep } from '../broker/auth-method.js';
import type { ClientInfo } from '../broker/hooks.js';
import type { Logger } from '../broker/logger.js';
import { ReasonCode } from '../protocol/index.js';
import type { PasswordStore } from './passwords.js';
import {
  decodeBase64,
  hmac,
  isValidNonce,
  parseAttributes,
  SCRAM_SHA_256,
  type ScramCredentials,
  sameBytes,
  sha256,
  unescapeSaslName,
  xor,
} from './scram.js';

/**
 * SCRAM-SHA-256 as an MQTT 5.0 enhanced authentication method (section 4.12, RFC 5802 / RFC 7677):
 *
 *   CONNECT  Authentication Data  client-first   n,,n=alice,r=<client nonce>
 *   AUTH 0x18                     server-first   r=<client nonce><server nonce>,s=<salt>,i=<iterations>
 *   AUTH 0x18                     client-final   c=biws,r=<nonce>,p=<proof>
 *   CONNACK 0x00                  server-final   v=<server signature>
 *
 * Re-authentication (AUTH 0x19 carrying a new client-first) runs the same exchange and ends with AUTH 0x00.
 * The server needs only StoredKey and ServerKey from the password file, so checking a proof is two HMACs
 * and a hash: no key stretching on the broker. A wrong proof and an unknown user end alike, after the
 * full exchange, with 0x87 Not authorized (CONNACK, or DISCONNECT when re-authenticating: 0x86 is not a
 * DISCONNECT reason code): an unknown user is sent a stable fake salt and the usual iteration count, so
 * the exchange does not tell which names exist. Re-authentication must be as the same user.
 */
export function scramSha256Method(store: () => PasswordStore | undefined, logger: Logger): AuthMethod {
  return { name: SCRAM_SHA_256, begin: () => new ScramExchange(store, logger) };
}

const fail = (reasonCode: number, reasonString: string): AuthStep => ({ type: 'failure', reasonCode, reasonString });
const malformed = (what: string): AuthStep => fail(ReasonCode.NotAuthorized, `malformed SCRAM ${what}`);

class ScramExchange implements AuthExchange {
  private state:
    | { readonly step: 'start' }
    | {
        readonly step: 'challenged';
        readonly user: string;
        readonly gs2Header: string;
        readonly clientFirstBare: string;
        readonly serverFirst: string;
        readonly nonce: string;
        readonly credentials: ScramCredentials;
        readonly real: boolean;
      }
    | { readonly step: 'done' } = { step: 'start' };

  constructor(
    private readonly store: () => PasswordStore | undefined,
    private readonly logger: Logger,
  ) {}

  start(data: Buffer | undefined, client: ClientInfo): AuthStep {
    if (this.state.step !== 'start') return this.finish(malformed('exchange: started twice'));
    this.state = { step: 'done' };
    const store = this.store();
    if (store === undefined) return fail(ReasonCode.NotAuthorized, 'no password file');
    const text = data?.toString('utf8') ?? '';
    // gs2-header: "n" (no channel binding) or "y" (client could, thinks we cannot), no authzid.
    const m = /^([ny]),,(.*)$/s.exec(text);
    if (m === null) {
      if (/^p=/.test(text)) return fail(ReasonCode.NotAuthorized, 'SCRAM channel binding is not supported');
      if (/^[ny],a=/.test(text)) return fail(ReasonCode.NotAuthorized, 'SCRAM authorization identities are not supported');
      return malformed('client-first-message');
    }
    const clientFirstBare = m[2] ?? '';
    const attrs = parseAttributes(clientFirstBare);
    if (attrs === undefined || attrs.length < 2) return malformed('client-first-message');
    const [n, r] = attrs;
    if (n?.name === 'm') return fail(ReasonCode.NotAuthorized, 'SCRAM mandatory extensions are not supported');
    if (n?.name !== 'n' || r?.name !== 'r' || !isValidNonce(r.value)) return malformed('client-first-message');
    const user = unescapeSaslName(n.value);
    if (user === undefined || user.length === 0) return malformed('user name');
    if (client.username !== undefined && client.username !== user) {
      // CONNECT's User Name, a certificate's identity or the user of the first authentication.
      return fail(ReasonCode.NotAuthorized, 'the SCRAM user differs from the user of this connection');
    }
    const { credentials, real } = store.scramCredentials(user);
    const nonce = r.value + randomBytes(18).toString('base64');
    const serverFirst = `r=${nonce},s=${credentials.salt.toString('base64')},i=${credentials.iterations}`;
    this.state = { step: 'challenged', user, gs2Header: `${m[1]},,`, clientFirstBare, serverFirst, nonce, credentials, real };
    return { type: 'continue', data: Buffer.from(serverFirst, 'utf8') };
  }

  next(data: Buffer | undefined): AuthStep {
    const s = this.state;
    this.state = { step: 'done' };
    if (s.step !== 'challenged') return malformed('exchange: unexpected message');
    const text = data?.toString('utf8') ?? '';
    const proofAt = text.lastIndexOf(',p=');
    if (proofAt < 0) return malformed('client-final-message');
    const withoutProof = text.slice(0, proofAt);
    const attrs = parseAttributes(withoutProof);
    const proof = decodeBase64(text.slice(proofAt + 3));
    if (attrs === undefined || proof === undefined) return malformed('client-final-message');
    const [c, r] = attrs;
    if (c?.name !== 'c' || r?.name !== 'r') return malformed('client-final-message');
    if (c.value !== Buffer.from(s.gs2Header, 'utf8').toString('base64'))
      return fail(ReasonCode.NotAuthorized, 'SCRAM channel binding mismatch');
    if (r.value !== s.nonce) return fail(ReasonCode.NotAuthorized, 'SCRAM nonce mismatch');
    const authMessage = `${s.clientFirstBare},${s.serverFirst},${withoutProof}`;
    const clientSignature = hmac(s.credentials.storedKey, authMessage);
    const proven = proof.length === clientSignature.length && sameBytes(sha256(xor(proof, clientSignature)), s.credentials.storedKey);
    if (!proven || !s.real) {
      this.logger.debug('SCRAM authentication failed', { user: s.user });
      // 0x87, not 0x86: the same step ends a re-authentication, whose DISCONNECT cannot carry 0x86.
      return fail(ReasonCode.NotAuthorized, 'bad user name or password');
    }
    const serverSignature = hmac(s.credentials.serverKey, authMessage);
    return { type: 'success', data: Buffer.from(`v=${serverSignature.toString('base64')}`, 'utf8'), username: s.user };
  }

  private finish(step: AuthStep): AuthStep {
    this.state = { step: 'done' };
    return step;
  }
}
