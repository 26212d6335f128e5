import { createServer, type Server, type Socket } from 'node:net';
import type { Listener, StreamHandler } from './types.js';

export interface TcpListenOptions {
  readonly host: string;
  readonly port: number;
}

/** Plain TCP: each accepted socket is handed over as the stream it is. */
export async function listenTcp(options: TcpListenOptions, onStream: StreamHandler): Promise<Listener> {
  const server = createServer({ noDelay: true }, (socket: Socket) => {
    // MQTT packets are written in whole batches already; Nagle would only add latency.
    socket.setNoDelay(true);
    onStream(socket, { remoteAddress: socket.remoteAddress, remotePort: socket.remotePort, transport: 'tcp' });
  });
  await listen(server, options.host, options.port);
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : options.port;
  const host = options.host;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    kind: 'tcp',
    host,
    port,
    url: `mqtt://${urlHost}:${port}`,
    close: () => closeServer(server),
  };
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}
