import type { Buffer } from 'node:buffer';
import type { ClientInfo } from './hooks.js';

/**
 * MQTT 5.0 enhanced authentication (section 4.12): a named method (e.g. SCRAM-SHA-256) runs a
 * challenge/response exchange over AUTH packets, during CONNECT and again on re-authentication.
 */
export type AuthStep =
  /** Send AUTH 0x18 (Continue authentication) with this data and wait for the client's next AUTH. */
  | { readonly type: 'continue'; readonly data?: Buffer }
  /** Authenticated: CONNACK 0x00 (or AUTH 0x00 on re-authentication) carries this data. */
  | { readonly type: 'success'; readonly data?: Buffer; readonly username?: string }
  /** Refused: CONNACK (or DISCONNECT on re-authentication) with this reason code. */
  | { readonly type: 'failure'; readonly reasonCode?: number; readonly reasonString?: string };

/** One exchange with one client. */
export interface AuthExchange {
  /** The client's first Authentication Data (CONNECT, or AUTH 0x19 to re-authenticate). */
  start(data: Buffer | undefined, client: ClientInfo): AuthStep | Promise<AuthStep>;
  /** The client's answer in AUTH 0x18. */
  next(data: Buffer | undefined): AuthStep | Promise<AuthStep>;
}

export interface AuthMethod {
  /** The Authentication Method name clients send, e.g. "SCRAM-SHA-256". */
  readonly name: string;
  begin(): AuthExchange;
}
