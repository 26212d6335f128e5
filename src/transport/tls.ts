import { readFile } from 'node:fs/promises';
import { createServer, type SecureContextOptions, type Server, type TLSSocket } from 'node:tls';
import { closeServer, listen } from './tcp.js';
import { type AdmissionCheck, type Listener, type PeerCertificate, type StreamHandler, urlHost } from './types.js';

/** Certificate files and TLS policy of a listener. */
export interface TlsSettings {
  /** PEM certificate (chain) file. */
  readonly cert: string;
  /** PEM private key file. */
  readonly key: string;
  readonly passphrase?: string | undefined;
  /** PEM CA file for client certificates: setting it asks clients for a certificate (mutual TLS). */
  readonly ca?: string | undefined;
  /** Refuse clients without a certificate signed by `ca`. */
  readonly requireCertificate: boolean;
  readonly minVersion: 'TLSv1.2' | 'TLSv1.3';
  /** OpenSSL cipher list for TLS 1.2 (TLS 1.3 suites are not affected). */
  readonly ciphers?: string | undefined;
}

export interface TlsListenOptions extends TlsSettings {
  readonly name?: string;
  readonly host: string;
  readonly port: number;
  readonly admit?: AdmissionCheck;
  /** Called on handshake failures (wrong CA, expired certificate...), for logs and metrics. */
  readonly onHandshakeError?: (error: Error, remoteAddress: string | undefined) => void;
}

/** Reads the files a TLS context needs; errors name the file. */
export async function secureContextOptions(s: TlsSettings): Promise<SecureContextOptions> {
  const read = async (what: string, path: string) => {
    try {
      return await readFile(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      throw new Error(`cannot read the TLS ${what} file ${path} (${code})`);
    }
  };
  const [cert, key, ca] = await Promise.all([
    read('certificate', s.cert),
    read('key', s.key),
    s.ca === undefined ? undefined : read('CA', s.ca),
  ]);
  return {
    cert,
    key,
    ...(s.passphrase === undefined ? {} : { passphrase: s.passphrase }),
    ...(ca === undefined ? {} : { ca }),
    minVersion: s.minVersion,
    ...(s.ciphers === undefined ? {} : { ciphers: s.ciphers }),
  };
}

/** What the verified client certificate says, or undefined without one. */
export function peerCertificate(socket: TLSSocket): PeerCertificate | undefined {
  if (!socket.authorized) return undefined;
  const cert = socket.getPeerCertificate();
  if (cert === null || cert.subject === undefined) return undefined;
  const subject = Object.entries(cert.subject)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : String(v)}`)
    .join(',');
  const cn = cert.subject.CN;
  return { subject, commonName: Array.isArray(cn) ? cn[0] : cn, fingerprint256: cert.fingerprint256, validTo: cert.valid_to };
}

/**
 * TLS over TCP. The admission check runs on the raw connection, before the handshake costs anything;
 * `reload` re-reads the certificate files and applies them to new connections.
 */
export async function listenTls(options: TlsListenOptions, onStream: StreamHandler): Promise<Listener> {
  let name = options.name ?? 'tls';
  const context = await secureContextOptions(options);
  const server: Server = createServer(
    {
      ...context,
      requestCert: options.ca !== undefined,
      rejectUnauthorized: options.requireCertificate,
      handshakeTimeout: 10_000,
    },
    (socket: TLSSocket) => {
      socket.setNoDelay(true);
      const certificate = peerCertificate(socket);
      onStream(socket, {
        remoteAddress: socket.remoteAddress,
        remotePort: socket.remotePort,
        transport: 'tls',
        listener: name,
        ...(certificate === undefined ? {} : { certificate }),
      });
    },
  );
  if (options.admit !== undefined) {
    const admit = options.admit;
    server.on('connection', (raw) => {
      if (!admit(raw.remoteAddress)) raw.destroy();
    });
  }
  server.on('tlsClientError', (err, socket) => {
    options.onHandshakeError?.(err, socket.remoteAddress);
    socket.destroy();
  });
  const port = await listen(server, options.host, options.port);
  if (options.name === undefined) name = `tls:${port}`;
  return {
    kind: 'tls',
    name,
    host: options.host,
    port,
    url: `mqtts://${urlHost(options.host)}:${port}`,
    reload: async () => server.setSecureContext(await secureContextOptions(options)),
    close: () => closeServer(server),
  };
}
