import type { Duplex } from 'node:stream';

/** What a TLS listener learned from the client certificate, if one was presented and verified. */
export interface PeerCertificate {
  /** Subject as an RFC 4514-style string, e.g. "CN=device-42,O=Acme". */
  readonly subject: string;
  readonly commonName: string | undefined;
  /** SHA-256 fingerprint, colon-separated hex. */
  readonly fingerprint256: string;
  readonly validTo: string;
}

/** What a listener knows about a new stream. Transports know no MQTT: they hand over bytes. */
export interface StreamInfo {
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  /** tcp, tls, ws or wss. */
  readonly transport: string;
  /** The listener's name (from the config, or kind:port). */
  readonly listener: string;
  /** The verified client certificate (mutual TLS). */
  readonly certificate?: PeerCertificate;
}

export type StreamHandler = (stream: Duplex, info: StreamInfo) => void;

/**
 * Asked before a connection costs anything (before the TLS handshake or WebSocket upgrade): false
 * closes it at once. Used for per-address connection limits and rate limits.
 */
export type AdmissionCheck = (remoteAddress: string | undefined) => boolean;

export interface Listener {
  /** tcp, tls, ws or wss */
  readonly kind: string;
  readonly name: string;
  /** Where it listens, after binding (port 0 resolved). */
  readonly host: string;
  readonly port: number;
  /** mqtt://host:port, mqtts://, ws://host:port/path, wss://... for logs. */
  readonly url: string;
  /** Reloads certificates (TLS listeners) without dropping connections. */
  reload?(): Promise<void>;
  /** Stops accepting; existing streams are left to their owner. */
  close(): Promise<void>;
}

/** Formats host:port for a URL, bracketing IPv6 addresses. */
export function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
