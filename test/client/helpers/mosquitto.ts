import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Spawned } from '../../helpers/child.js';

export const MOSQUITTO = '/usr/sbin/mosquitto';
/** A reason to skip mosquitto tests, or false. */
export const noMosquitto = existsSync(MOSQUITTO) ? false : `${MOSQUITTO} not installed`;

/** Eclipse Mosquitto on 127.0.0.1 with a port picked by the OS, started from a temporary config file. */
export class Mosquitto {
  private process: Spawned | undefined;
  private readonly dir: string;
  private readonly config: string;

  private constructor(
    readonly port: number,
    extra: readonly string[],
    files: Readonly<Record<string, string>>,
  ) {
    this.dir = mkdtempSync(join(tmpdir(), 'mozzie-client-mosquitto-'));
    // Started as root, mosquitto reads ACL and password files after dropping to its own user.
    chmodSync(this.dir, 0o755);
    for (const [name, text] of Object.entries(files)) writeFileSync(join(this.dir, name), text, { mode: 0o644 });
    this.config = join(this.dir, 'mosquitto.conf');
    const lines = [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'persistence false',
      'set_tcp_nodelay true',
      'log_dest stderr',
      'log_type error',
      ...extra,
    ];
    writeFileSync(this.config, `${lines.map((l) => l.replaceAll('{dir}', this.dir)).join('\n')}\n`);
  }

  /**
   * `extra` lines are appended to the configuration (e.g. "max_keepalive 10"; later lines win), with
   * `{dir}` standing for the folder where `files` (name -> text, e.g. an ACL file) are written.
   */
  static async start(extra: readonly string[] = [], files: Readonly<Record<string, string>> = {}): Promise<Mosquitto> {
    const m = new Mosquitto(await freePort(), extra, files);
    await m.restart();
    return m;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  /** Starts the broker (again, on the same port) and waits until it accepts connections. */
  async restart(): Promise<void> {
    if (this.process?.running === true) throw new Error('mosquitto is running');
    const p = new Spawned(MOSQUITTO, ['-c', this.config], { lifetimeMs: 60_000 });
    this.process = p;
    const deadline = Date.now() + 5000;
    while (!(await accepts(this.port))) {
      if (!p.running) throw new Error(`mosquitto exited at start\n${p.output()}`);
      if (Date.now() > deadline) throw new Error(`mosquitto not listening on ${this.port} after 5 s\n${p.output()}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Stops the broker (SIGKILL: like a crash, no goodbyes to clients). */
  async kill(): Promise<void> {
    await this.process?.kill('SIGKILL');
  }

  async stop(): Promise<void> {
    await this.process?.kill('SIGTERM', 2000);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** A port the OS just gave out and took back (free, barring a race with another process). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = address !== null && typeof address !== 'string' ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
