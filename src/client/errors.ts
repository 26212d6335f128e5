import { reasonCodeName } from '../protocol/index.js';

/** Stable codes a program can match on; messages may change, codes do not. */
export type ClientErrorCode =
  | 'CONNECTION_REFUSED'
  | 'CONNECT_TIMEOUT'
  | 'CONNECTION_LOST'
  | 'SERVER_DISCONNECT'
  | 'PROTOCOL_ERROR'
  | 'PUBLISH_FAILED'
  | 'SUBSCRIBE_FAILED'
  | 'UNSUBSCRIBE_FAILED'
  | 'PACKET_TOO_LARGE'
  | 'QOS_NOT_SUPPORTED'
  | 'RETAIN_NOT_SUPPORTED'
  | 'INVALID_TOPIC'
  | 'INVALID_ARGUMENT'
  | 'OFFLINE_QUEUE_FULL'
  | 'CLIENT_ENDED'
  | 'AUTH_FAILED'
  | 'DIAL_FAILED';

/**
 * The one error type the client raises. `reasonCode` is the MQTT 5.0 Reason Code (or 3.1.1 return code
 * for CONNECTION_REFUSED) when the server gave one.
 */
export class ClientError extends Error {
  override readonly name = 'ClientError';
  constructor(
    readonly code: ClientErrorCode,
    message: string,
    readonly reasonCode?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** An error for a failure Reason Code from the server. */
  static fromReason(
    code: ClientErrorCode,
    what: string,
    reasonCode: number,
    packetType?: number,
    version?: number,
    reasonString?: string,
  ): ClientError {
    const name = reasonCodeName(reasonCode, packetType as never, version);
    const hex = `0x${reasonCode.toString(16).padStart(2, '0')}`;
    return new ClientError(code, `${what}: ${name} (${hex})${reasonString === undefined ? '' : `: ${reasonString}`}`, reasonCode);
  }
}
