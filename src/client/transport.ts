/**
 * A byte pipe to the server, whatever carries it (TCP, TLS, WebSocket in Node or a browser). The client
 * speaks MQTT over this and nothing else, so the same client runs everywhere a dialer exists.
 */
export interface Transport {
  /** Writes bytes; false means the transport is buffering and 'drain' will follow. */
  write(bytes: Uint8Array): boolean;
  /** Closes gracefully after pending writes. */
  end(): void;
  /** Closes at once. */
  destroy(): void;
  onData(handler: (bytes: Uint8Array) => void): void;
  onClose(handler: (error?: Error) => void): void;
  onDrain(handler: () => void): void;
}

export interface DialOptions {
  readonly protocol: 'mqtt' | 'mqtts' | 'ws' | 'wss';
  readonly host: string;
  readonly port: number;
  /** WebSocket path (default /mqtt). */
  readonly path: string;
  /** Milliseconds to establish the connection (TCP/TLS handshake or WebSocket upgrade). */
  readonly timeout: number;
  readonly tls: TlsOptions;
  /** WebSocket subprotocol; "mqtt" for 3.1.1 and 5.0, "mqttv3.1" for 3.1. */
  readonly wsProtocol: string;
}

export interface TlsOptions {
  /** PEM CA certificates to trust (default: the system's). */
  readonly ca?: string | Uint8Array | readonly (string | Uint8Array)[];
  /** PEM client certificate and key, for mutual TLS. */
  readonly cert?: string | Uint8Array;
  readonly key?: string | Uint8Array;
  readonly passphrase?: string;
  /** Server name for SNI and certificate checks (default: the host). */
  readonly servername?: string;
  /** Verify the server certificate (default true). */
  readonly rejectUnauthorized?: boolean;
  readonly alpnProtocols?: readonly string[];
}

export type Dialer = (options: DialOptions) => Promise<Transport>;
