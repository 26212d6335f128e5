import { Buffer } from 'node:buffer';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { formatScramEntry } from '../../src/auth/password-file.js';
import { deriveCredentials } from '../../src/auth/scram.js';
import type { Logger } from '../../src/broker/logger.js';
import type { MozzieConfigInput } from '../../src/config/index.js';
import { PacketType, type ProtocolVersion, type PublishPacket, type QoS, type Subscription } from '../../src/protocol/index.js';
import { createServer, type MozzieServer, type ServerOptions } from '../../src/server/server.js';
import { PacketClient } from '../helpers/packet-client.js';

/** A temporary directory removed in the test's cleanup. */
export function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'mozzie-auth-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A password file line, with the fewest iterations SCRAM allows so tests stay quick. */
export async function userLine(user: string, password: string, iterations = 4096): Promise<string> {
  return formatScramEntry(user, await deriveCredentials(Buffer.from(password, 'utf8'), Buffer.from(`salt-of-${user}`), iterations));
}

export async function passwordFile(dir: string, users: Readonly<Record<string, string>>, name = 'passwd'): Promise<string> {
  const lines = await Promise.all(Object.entries(users).map(([u, p]) => userLine(u, p)));
  const file = join(dir, name);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

export function textFile(dir: string, name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

/** Log lines a server wrote, as "level message {fields}". */
export class LogCollector implements Logger {
  readonly lines: string[] = [];
  private add(level: string, message: string, fields?: Readonly<Record<string, unknown>>): void {
    this.lines.push(`${level} ${message}${fields === undefined ? '' : ` ${JSON.stringify(fields)}`}`);
  }
  debug(message: string, fields?: Readonly<Record<string, unknown>>): void {
    this.add('debug', message, fields);
  }
  info(message: string, fields?: Readonly<Record<string, unknown>>): void {
    this.add('info', message, fields);
  }
  warn(message: string, fields?: Readonly<Record<string, unknown>>): void {
    this.add('warn', message, fields);
  }
  error(message: string, fields?: Readonly<Record<string, unknown>>): void {
    this.add('error', message, fields);
  }
}

export interface AuthServer {
  readonly server: MozzieServer;
  readonly port: number;
  readonly url: string;
  readonly log: LogCollector;
  client(version?: ProtocolVersion): Promise<PacketClient>;
}

/** createServer on 127.0.0.1:0 with `auth` settings; stopped (with its clients) in the test's cleanup. */
export async function startAuthServer(
  t: TestContext,
  auth: NonNullable<MozzieConfigInput['auth']>,
  extra: MozzieConfigInput = {},
  options: ServerOptions = {},
): Promise<AuthServer> {
  const log = new LogCollector();
  const server = createServer({ listeners: [{ port: 0 }], sys: { interval: 0 }, ...extra, auth }, { logger: log, ...options });
  const [listener] = await server.start();
  const clients: PacketClient[] = [];
  t.after(async () => {
    for (const c of clients) c.end();
    await server.stop();
  });
  const port = listener?.port ?? 0;
  return {
    server,
    port,
    url: `mqtt://127.0.0.1:${port}`,
    log,
    async client(version: ProtocolVersion = 5) {
      const c = await PacketClient.tcp(port, version);
      clients.push(c);
      return c;
    },
  };
}

export function sub(topicFilter: string, qos: QoS = 0): Subscription {
  return { topicFilter, qos, noLocal: false, retainAsPublished: false, retainHandling: 0 };
}

/** SUBSCRIBE one packet of filters; resolves with the SUBACK reason codes. */
export async function subscribe(c: PacketClient, filters: readonly string[], packetId = 1, qos: QoS = 1): Promise<readonly number[]> {
  c.send({ type: PacketType.Subscribe, packetId, subscriptions: filters.map((f) => sub(f, qos)) });
  return (await c.expect(PacketType.Suback, 2000, (p) => p.packetId === packetId)).reasonCodes;
}

export function publishPacket(topic: string, payload: string, qos: QoS = 0, packetId = 1): PublishPacket {
  return {
    type: PacketType.Publish,
    topic,
    payload: Buffer.from(payload),
    qos,
    retain: false,
    dup: false,
    ...(qos > 0 ? { packetId } : {}),
  };
}
