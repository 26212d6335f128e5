import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { type PeerCertificate, type SecureContextOptions, connect as tlsConnect } from 'node:tls';
import { type IClientOptions, connect as mqttjsConnect } from 'mqtt';
import type { BrokerHooks, ClientInfo } from '../../src/broker/hooks.js';
import { createCa, type Issued, issueClientCertificate, issueServerCertificate } from '../../src/certs/index.js';
import { type MqttClient, connectAsync as ourConnect } from '../../src/client/index.js';
import type { ClientOptions } from '../../src/client/options.js';
import type { MozzieConfigInput } from '../../src/config/index.js';
import { createServer, type MozzieServer } from '../../src/server/server.js';
import type { Listener } from '../../src/transport/types.js';

/** Files of one certificate and its key. */
export interface PairFiles {
  readonly cert: string;
  readonly key: string;
  readonly issued: Issued;
}

/**
 * Certificates made in-process for one test file: a CA, a server certificate for localhost / 127.0.0.1
 * / ::1, client certificates (good, expired, from another CA) and a server certificate from another CA.
 */
export interface Pki {
  readonly dir: string;
  readonly ca: PairFiles;
  readonly otherCa: PairFiles;
  readonly server: PairFiles;
  readonly client: PairFiles;
  readonly expiredClient: PairFiles;
  readonly wrongCaClient: PairFiles;
  readonly wrongCaServer: PairFiles;
  /** Writes another certificate into the folder (e.g. for a reload). */
  write(name: string, issued: Issued): PairFiles;
  remove(): void;
}

const DAY = 86_400_000;
export const HOSTS = ['localhost', '127.0.0.1', '::1'];
export const CLIENT_CN = 'device-42';

export function makePki(): Pki {
  const dir = mkdtempSync(join(tmpdir(), 'mozzie-tls-test-'));
  const write = (name: string, issued: Issued): PairFiles => {
    const cert = join(dir, `${name}.crt`);
    const key = join(dir, `${name}.key`);
    writeFileSync(cert, issued.certificatePem);
    writeFileSync(key, issued.keyPem, { mode: 0o600 });
    return { cert, key, issued };
  };
  const ca = createCa({ commonName: 'Test CA' });
  const otherCa = createCa({ commonName: 'Other CA' });
  const now = Date.now();
  return {
    dir,
    ca: write('ca', ca),
    otherCa: write('other-ca', otherCa),
    server: write('server', issueServerCertificate(ca, { hosts: HOSTS })),
    client: write('client', issueClientCertificate(ca, { commonName: CLIENT_CN, organization: 'Acme' })),
    expiredClient: write(
      'expired-client',
      issueClientCertificate(ca, { commonName: 'old-device', notBefore: new Date(now - 30 * DAY), notAfter: new Date(now - DAY) }),
    ),
    wrongCaClient: write('wrong-ca-client', issueClientCertificate(otherCa, { commonName: 'intruder' })),
    wrongCaServer: write('wrong-ca-server', issueServerCertificate(otherCa, { hosts: HOSTS })),
    write,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A running server with a hook that records who connected (username, address) as the broker saw them. */
export interface Running {
  readonly server: MozzieServer;
  readonly listeners: readonly Listener[];
  readonly connected: ClientInfo[];
  readonly disconnected: ClientInfo[];
  /** What the server logged: "level message {fields}". */
  readonly logs: string[];
  port(i?: number): number;
}

export async function startServer(t: TestContext, config: Record<string, unknown>, hooks: readonly BrokerHooks[] = []): Promise<Running> {
  const connected: ClientInfo[] = [];
  const disconnected: ClientInfo[] = [];
  const logs: string[] = [];
  const log =
    (level: string) =>
    (message: string, fields?: Readonly<Record<string, unknown>>): void => {
      logs.push(`${level} ${message}${fields === undefined ? '' : ` ${JSON.stringify(fields)}`}`);
    };
  const server = createServer({ sys: { interval: 0 }, log: { level: 'error' }, ...config } as MozzieConfigInput, {
    logger: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
    hooks: [
      {
        name: 'recorder',
        onConnect: (e) => {
          connected.push(e.client);
        },
        onDisconnect: (e) => {
          disconnected.push(e.client);
        },
      },
      ...hooks,
    ],
  });
  const listeners = await server.start();
  t.after(() => server.stop());
  return {
    server,
    listeners,
    connected,
    disconnected,
    logs,
    port: (i = 0) => listeners[i]?.port ?? 0,
  };
}

/** Our client, without reconnecting, ended in the test's cleanup. */
export async function ourClient(t: TestContext, url: string, options: ClientOptions = {}): Promise<MqttClient> {
  const client = await ourConnect(url, { reconnect: false, connectTimeout: 3000, ...options });
  t.after(() => client.end({ force: true }));
  return client;
}

/** The error our client's connectAsync rejects with (fails the test if it connects). */
export async function ourClientError(url: string, options: ClientOptions = {}): Promise<Error & { code?: string }> {
  try {
    const client = await ourConnect(url, { reconnect: false, connectTimeout: 3000, ...options });
    await client.end({ force: true });
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error(`expected ${url} to refuse the connection`);
}

/** Resolves with the first message on `topic` the client receives. */
export function nextMessage(client: MqttClient, topic: string, timeoutMs = 3000): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no message on ${topic} within ${timeoutMs} ms`)), timeoutMs);
    client.on('message', (tp, payload) => {
      if (tp !== topic) return;
      clearTimeout(timer);
      resolve(payload.toString());
    });
  });
}

/** The certificate a fresh TLS connection is shown (for checking which certificate is served). */
export function servedCertificate(port: number, options: SecureContextOptions & { servername?: string } = {}): Promise<PeerCertificate> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...options }, () => {
      const cert = socket.getPeerCertificate();
      socket.destroy();
      resolve(cert);
    });
    socket.once('error', reject);
  });
}

/** A TLS listener config for the PKI's server certificate. */
export function tlsListener(pki: Pki, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { type: 'tls', host: '127.0.0.1', port: 0, cert: pki.server.cert, key: pki.server.key, ...extra };
}

/**
 * Connects MQTT.js expecting a refusal; resolves with how it failed: its error, or "closed" when the
 * connection just closed (MQTT.js's connectAsync waits forever then). Rejects if it connects.
 */
export function mqttjsRefusal(url: string, options: IClientOptions): Promise<Error | 'closed'> {
  return new Promise((resolve, reject) => {
    const client = mqttjsConnect(url, { reconnectPeriod: 0, connectTimeout: 3000, ...options });
    const done = (outcome: Error | 'closed') => {
      client.end(true);
      resolve(outcome);
    };
    client.once('connect', () => {
      client.end(true);
      reject(new Error(`MQTT.js connected to ${url}; a refusal was expected`));
    });
    client.once('error', done);
    client.once('close', () => done('closed'));
  });
}
