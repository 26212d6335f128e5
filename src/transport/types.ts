import type { Duplex } from 'node:stream';

/** What a listener knows about a new stream. Transports know no MQTT: they hand over bytes. */
export interface StreamInfo {
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  readonly transport: string;
}

export type StreamHandler = (stream: Duplex, info: StreamInfo) => void;

export interface Listener {
  /** e.g. "tcp" */
  readonly kind: string;
  /** Where it listens, after binding (port 0 resolved). */
  readonly host: string;
  readonly port: number;
  /** mqtt://host:port and friends, for logs. */
  readonly url: string;
  /** Stops accepting; existing streams are left to their owner. */
  close(): Promise<void>;
}
