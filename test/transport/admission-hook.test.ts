/**
 * The listeners' admission check runs on the raw TCP connection, before a TLS handshake or an HTTP
 * upgrade costs anything, for every listener kind; a refused connection never reaches the stream handler.
 */
import assert from 'node:assert/strict';
import { connect as netConnect } from 'node:net';
import { after, before, test } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { listenTcp } from '../../src/transport/tcp.js';
import { listenTls, type TlsSettings } from '../../src/transport/tls.js';
import type { Listener, StreamHandler } from '../../src/transport/types.js';
import { listenWebSocket } from '../../src/transport/ws.js';
import { makePki, type Pki } from './helpers.js';

let pki: Pki;
before(() => {
  pki = makePki();
});
after(() => pki.remove());

const KINDS = ['tcp', 'tls', 'ws', 'wss'] as const;

for (const kind of KINDS) {
  test(`${kind}: a connection the admission check refuses is closed before ${kind === 'tls' || kind === 'wss' ? 'the TLS handshake' : 'any byte is read'}`, async () => {
    const asked: (string | undefined)[] = [];
    let handed = 0;
    const admit = (address: string | undefined) => {
      asked.push(address);
      return false;
    };
    const onStream: StreamHandler = (stream) => {
      handed++;
      stream.destroy();
    };
    const tls: TlsSettings = { cert: pki.server.cert, key: pki.server.key, requireCertificate: false, minVersion: 'TLSv1.2' };
    const common = { host: '127.0.0.1', port: 0, admit };
    const listener: Listener =
      kind === 'tcp'
        ? await listenTcp(common, onStream)
        : kind === 'tls'
          ? await listenTls({ ...common, ...tls }, onStream)
          : await listenWebSocket({ ...common, path: '/mqtt', maxPayload: 1 << 20, ...(kind === 'wss' ? { tls } : {}) }, onStream);
    try {
      const secure = kind === 'tls' || kind === 'wss';
      const outcome = await new Promise<string>((resolve) => {
        const socket = secure
          ? tlsConnect({ host: '127.0.0.1', port: listener.port, rejectUnauthorized: false })
          : netConnect({ host: '127.0.0.1', port: listener.port });
        socket.once('secureConnect', () => resolve('handshake completed'));
        socket.once('error', (err) => resolve(`error: ${err.message}`));
        socket.once('close', () => resolve('closed'));
        if (!secure) socket.write('GET /mqtt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
      });
      assert.notEqual(outcome, 'handshake completed');
      assert.deepEqual(asked, ['127.0.0.1']);
      assert.equal(handed, 0);
    } finally {
      await listener.close();
    }
  });
}
