import { createServer, type Server, type Socket } from 'node:net';
import { readProxyHeader } from './proxy-protocol.js';
import { type AdmissionCheck, type Listener, type StreamHandler, urlHost } from './types.js';

export interface TcpListenOptions {
  readonly name?: string;
  readonly host: string;
  readonly port: number;
  /** Expect a PROXY protocol v1/v2 header first and report the address in it. */
  readonly proxyProtocol?: boolean;
  readonly admit?: AdmissionCheck;
}

/** Plain TCP: each accepted socket is handed over as the stream it is. */
export async function listenTcp(options: TcpListenOptions, onStream: StreamHandler): Promise<Listener> {
  let name = options.name ?? 'tcp';
  const server = createServer({ noDelay: true }, (socket: Socket) => {
    if (options.admit !== undefined && !options.admit(socket.remoteAddress)) {
      socket.destroy();
      return;
    }
    // MQTT packets are written in whole batches already; Nagle would only add latency.
    socket.setNoDelay(true);
    if (options.proxyProtocol === true) {
      readProxyHeader(socket, 5000).then(
        (address) => {
          socket.resume();
          onStream(socket, {
            remoteAddress: address.remoteAddress ?? socket.remoteAddress,
            remotePort: address.remotePort ?? socket.remotePort,
            transport: 'tcp',
            listener: name,
          });
        },
        () => socket.destroy(),
      );
      return;
    }
    onStream(socket, { remoteAddress: socket.remoteAddress, remotePort: socket.remotePort, transport: 'tcp', listener: name });
  });
  const port = await listen(server, options.host, options.port);
  if (options.name === undefined) name = `tcp:${port}`;
  return {
    kind: 'tcp',
    name,
    host: options.host,
    port,
    url: `mqtt://${urlHost(options.host)}:${port}`,
    close: () => closeServer(server),
  };
}

/** Binds a server; resolves with the port it got. */
export function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      const address = server.address();
      resolve(typeof address === 'object' && address !== null ? address.port : port);
    });
  });
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}
