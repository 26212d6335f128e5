import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { type WebSocket, WebSocketServer } from 'ws';
import { closeServer, listen } from './tcp.js';
import { peerCertificate, secureContextOptions, type TlsSettings } from './tls.js';
import { type AdmissionCheck, type Listener, type StreamHandler, urlHost } from './types.js';

export interface WebSocketListenOptions {
  readonly name?: string;
  readonly host: string;
  readonly port: number;
  /** URL path that accepts MQTT (default /mqtt). */
  readonly path: string;
  /** For wss: the TLS settings. */
  readonly tls?: TlsSettings;
  /** Largest WebSocket message accepted (bytes). */
  readonly maxPayload: number;
  readonly admit?: AdmissionCheck;
}

/** Subprotocols MQTT defines: "mqtt" for 3.1.1 and 5.0, "mqttv3.1" for 3.1. */
const SUBPROTOCOLS = ['mqtt', 'mqttv3.1'];

/**
 * MQTT over WebSocket (MQTT 5.0 chapter 6): HTTP upgrade on `path`, subprotocol "mqtt" (or "mqttv3.1"),
 * binary frames carrying the MQTT byte stream in any split. Each accepted WebSocket is handed over as a
 * Duplex of bytes, like a TCP socket.
 */
export async function listenWebSocket(options: WebSocketListenOptions, onStream: StreamHandler): Promise<Listener> {
  const secure = options.tls !== undefined;
  let name = options.name ?? (secure ? 'wss' : 'ws');
  const server: Server = secure
    ? createHttpsServer({
        ...(await secureContextOptions(options.tls as TlsSettings)),
        requestCert: options.tls?.ca !== undefined,
        rejectUnauthorized: options.tls?.requireCertificate ?? false,
        // As for TLS listeners: a client that stalls its handshake does not hold a socket for 2 minutes.
        handshakeTimeout: 10_000,
      })
    : createHttpServer();
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: options.maxPayload,
    // [MQTT-6.0.0-3] [MQTT-6.0.0-4] The server selects one of the MQTT subprotocols the client offered.
    handleProtocols: (offered) => SUBPROTOCOLS.find((p) => offered.has(p)) ?? false,
  });
  server.on('request', (_req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket' });
    res.end(
      `This is an MQTT over WebSocket endpoint: connect with an MQTT client to ${secure ? 'wss' : 'ws'}://host:port${options.path}\n`,
    );
  });
  if (options.admit !== undefined) {
    // On the raw connection, before the TLS handshake (wss) or any HTTP parsing costs anything.
    const admit = options.admit;
    server.on('connection', (raw: Socket) => {
      if (!admit(raw.remoteAddress)) raw.destroy();
    });
  }
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== options.path) {
      socket.end(`HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n\r\nMQTT is served on ${options.path}\n`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const certificate = secure ? peerCertificate(socket as TLSSocket) : undefined;
      onStream(webSocketStream(ws), {
        remoteAddress: socket.remoteAddress,
        remotePort: socket.remotePort,
        transport: secure ? 'wss' : 'ws',
        listener: name,
        ...(certificate === undefined ? {} : { certificate }),
      });
    });
  });
  server.on('clientError', (_err, socket) => socket.destroy());
  const port = await listen(server, options.host, options.port);
  if (options.name === undefined) name = `${secure ? 'wss' : 'ws'}:${port}`;
  return {
    kind: secure ? 'wss' : 'ws',
    name,
    host: options.host,
    port,
    url: `${secure ? 'wss' : 'ws'}://${urlHost(options.host)}:${port}${options.path}`,
    ...(secure
      ? {
          reload: async () =>
            (server as import('node:https').Server).setSecureContext(await secureContextOptions(options.tls as TlsSettings)),
        }
      : {}),
    close: async () => {
      for (const client of wss.clients) client.terminate();
      wss.close();
      await closeServer(server);
    },
  };
}

/**
 * A WebSocket as a byte stream. MQTT packets travel in binary frames ([MQTT-6.0.0-1]) and may be split
 * or combined across frames in any way ([MQTT-6.0.0-2]); a text frame closes the connection.
 */
export function webSocketStream(ws: WebSocket): Duplex {
  const stream = new Duplex({
    read() {
      ws.resume?.();
    },
    write(chunk: Buffer, _encoding, callback) {
      ws.send(chunk, { binary: true }, callback);
    },
    final(callback) {
      ws.close(1000);
      callback();
    },
    destroy(err, callback) {
      if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.terminate();
      callback(err);
    },
  });
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (!isBinary) {
      // [MQTT-6.0.0-1] Data in a text frame: close the network connection.
      ws.close(1003, 'MQTT requires binary frames');
      stream.destroy();
      return;
    }
    if (!stream.push(data)) ws.pause?.();
  });
  ws.on('close', () => {
    stream.push(null);
    stream.destroy();
  });
  ws.on('error', (err) => stream.destroy(err));
  return stream;
}
