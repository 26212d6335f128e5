import { ReasonCode } from '../protocol/index.js';

/**
 * Why a connection closed. Every close has one; metrics count them and logs name them.
 */
export type CloseReason =
  | 'client-disconnect'
  | 'client-disconnect-with-will'
  | 'socket-closed'
  | 'socket-error'
  | 'malformed-packet'
  | 'protocol-error'
  | 'packet-too-large'
  | 'keep-alive-timeout'
  | 'connect-timeout'
  | 'connect-refused'
  | 'session-taken-over'
  | 'server-shutting-down'
  | 'receive-maximum-exceeded'
  | 'topic-alias-invalid'
  | 'topic-name-invalid'
  | 'payload-format-invalid'
  | 'qos-not-supported'
  | 'retain-not-supported'
  | 'slow-consumer'
  | 'quota-exceeded'
  | 'message-rate-too-high'
  | 'not-authorized'
  | 'administrative-action'
  | 'implementation-error';

/** The close reason for an error sent with a reason code. */
export function closeReasonFor(reasonCode: number): CloseReason {
  switch (reasonCode) {
    case ReasonCode.MalformedPacket:
      return 'malformed-packet';
    case ReasonCode.PacketTooLarge:
      return 'packet-too-large';
    case ReasonCode.ReceiveMaximumExceeded:
      return 'receive-maximum-exceeded';
    case ReasonCode.TopicAliasInvalid:
      return 'topic-alias-invalid';
    case ReasonCode.TopicNameInvalid:
      return 'topic-name-invalid';
    case ReasonCode.PayloadFormatInvalid:
      return 'payload-format-invalid';
    case ReasonCode.QoSNotSupported:
      return 'qos-not-supported';
    case ReasonCode.RetainNotSupported:
      return 'retain-not-supported';
    case ReasonCode.KeepAliveTimeout:
      return 'keep-alive-timeout';
    case ReasonCode.SessionTakenOver:
      return 'session-taken-over';
    case ReasonCode.ServerShuttingDown:
      return 'server-shutting-down';
    case ReasonCode.QuotaExceeded:
      return 'quota-exceeded';
    case ReasonCode.MessageRateTooHigh:
      return 'message-rate-too-high';
    case ReasonCode.NotAuthorized:
      return 'not-authorized';
    case ReasonCode.AdministrativeAction:
      return 'administrative-action';
    case ReasonCode.ImplementationSpecificError:
    case ReasonCode.UnspecifiedError:
      return 'implementation-error';
    default:
      return 'protocol-error';
  }
}
