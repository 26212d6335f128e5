import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type WebSocket from 'ws';
import { ClientError } from '../errors.js';
import type { DialOptions, Transport } from '../transport.js';

/** Opens TCP, TLS or WebSocket connections in Node, by the URL scheme. */
export async function nodeDialer(options: DialOptions): Promise<Transport> {
  switch (options.protocol) {
    case 'mqtt':
      return socketTransport(await openSocket(options, false));
    case 'mqtts':
      return socketTransport(await openSocket(options, true));
    case 'ws':
    case 'wss':
      return webSocketTransport(await openWebSocket(options));
  }
}

function openSocket(o: DialOptions, secure: boolean): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const tls = o.tls;
    const socket: Socket = secure
      ? tlsConnect({
          host: o.host,
          port: o.port,
          servername: tls.servername ?? (isIp(o.host) ? '' : o.host),
          rejectUnauthorized: tls.rejectUnauthorized ?? true,
          ...(tls.ca === undefined ? {} : { ca: tls.ca as string | Buffer | (string | Buffer)[] }),
          ...(tls.cert === undefined ? {} : { cert: tls.cert as string | Buffer }),
          ...(tls.key === undefined ? {} : { key: tls.key as string | Buffer }),
          ...(tls.passphrase === undefined ? {} : { passphrase: tls.passphrase }),
          ...(tls.alpnProtocols === undefined ? {} : { ALPNProtocols: [...tls.alpnProtocols] }),
        })
      : netConnect({ host: o.host, port: o.port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new ClientError('DIAL_FAILED', `no connection to ${o.host}:${o.port} within ${o.timeout} ms`));
    }, o.timeout);
    const onError = (err: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(
        new ClientError('DIAL_FAILED', `cannot connect to ${o.protocol}://${o.host}:${o.port}: ${err.message}`, undefined, { cause: err }),
      );
    };
    socket.once('error', onError);
    socket.once(secure ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      socket.off('error', onError);
      socket.setNoDelay(true);
      resolve(socket);
    });
  });
}

function isIp(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(':');
}

function socketTransport(socket: Socket): Transport {
  return {
    write: (bytes) => socket.write(bytes),
    end: () => socket.end(),
    destroy: () => socket.destroy(),
    onData: (handler) => socket.on('data', handler),
    onClose: (handler) => {
      let error: Error | undefined;
      socket.on('error', (err) => {
        error = err;
      });
      socket.on('close', () => handler(error));
    },
    onDrain: (handler) => socket.on('drain', handler),
  };
}

async function openWebSocket(o: DialOptions): Promise<WebSocket> {
  // Loaded on first use: importing ws costs tens of milliseconds at every start of a CLI that dials TCP.
  const { default: WebSocketClass } = await import('ws');
  const scheme = o.protocol;
  const host = o.host.includes(':') ? `[${o.host}]` : o.host;
  const url = `${scheme}://${host}:${o.port}${o.path}`;
  return new Promise((resolve, reject) => {
    const tls = o.tls;
    const ws = new WebSocketClass(url, o.wsProtocol, {
      handshakeTimeout: o.timeout,
      perMessageDeflate: false,
      rejectUnauthorized: tls.rejectUnauthorized ?? true,
      ...(tls.ca === undefined ? {} : { ca: tls.ca as string | Buffer | (string | Buffer)[] }),
      ...(tls.cert === undefined ? {} : { cert: tls.cert as string | Buffer }),
      ...(tls.key === undefined ? {} : { key: tls.key as string | Buffer }),
      ...(tls.servername === undefined ? {} : { servername: tls.servername }),
    });
    ws.binaryType = 'nodebuffer';
    const onError = (err: Error) => {
      ws.terminate();
      reject(new ClientError('DIAL_FAILED', `cannot connect to ${url}: ${err.message}`, undefined, { cause: err }));
    };
    ws.once('error', onError);
    ws.once('open', () => {
      ws.off('error', onError);
      resolve(ws);
    });
  });
}

/** WebSocket messages carry MQTT bytes; writes report buffering like a socket would. */
function webSocketTransport(ws: WebSocket): Transport {
  const drainHandlers: (() => void)[] = [];
  const HIGH_WATER = 64 * 1024;
  return {
    write(bytes) {
      ws.send(bytes, { binary: true }, () => {
        if (ws.bufferedAmount < HIGH_WATER) for (const h of drainHandlers) h();
      });
      return ws.bufferedAmount < HIGH_WATER;
    },
    end: () => ws.close(1000),
    destroy: () => ws.terminate(),
    onData: (handler) =>
      ws.on('message', (data: Buffer | ArrayBuffer | Buffer[]) => {
        handler(Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data));
      }),
    onClose: (handler) => {
      let error: Error | undefined;
      ws.on('error', (err) => {
        error = err;
      });
      ws.on('close', () => handler(error));
    },
    onDrain: (handler) => {
      drainHandlers.push(handler);
    },
  };
}
