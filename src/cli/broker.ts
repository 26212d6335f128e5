import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfigFile, type MozzieConfigInput, settingsHelp, validateConfig } from '../config/index.js';
import { createServer, isLoopback } from '../server/server.js';
import { StoreError } from '../store/sqlite/store.js';
import { packageVersion } from './version.js';

const HELP = `Usage: mozzie broker [options]

Runs an MQTT 3.1 / 3.1.1 / 5.0 broker in the foreground until SIGINT or SIGTERM.

Options:
  -c, --config FILE      YAML (or JSON) configuration file; flags below override it
  -H, --host HOST        address to listen on                (default 127.0.0.1)
  -p, --port PORT        TCP port to listen on                (default 1883)
      --allow-anonymous  accept clients without credentials on non-loopback addresses
  -l, --log-level LEVEL  debug | info | warn | error          (default info)
      --log-json         log one JSON object per line
  -d, --data-dir DIR     keep sessions, queued and retained messages in DIR (default ./mozzie-data)
      --memory           keep nothing across restarts (no data directory)
      --sync LEVEL       full (fsync each commit) | normal (survives a process crash) | off
      --check-config     check the configuration and certificate files, explain what each
                         listener accepts, and exit (0: fine, 1: errors); starts nothing
  -h, --help             show this help

Examples:
  mozzie broker                                  # 127.0.0.1:1883, anonymous clients allowed
  mozzie broker --port 1884 --log-level debug
  mozzie broker --host 0.0.0.0 --allow-anonymous # every interface, no authentication (warns)
  mozzie broker --config mozzie.yaml
  mozzie broker --config mozzie.yaml --check-config

Configuration file settings (key, default, meaning):
`;

/** `mozzie broker`: parse flags and config, start the server, stop it on a signal. */
export async function runBroker(argv: readonly string[]): Promise<number> {
  let values: ReturnType<typeof parse>['values'];
  try {
    values = parse(argv).values;
  } catch (err) {
    process.stderr.write(`mozzie broker: ${(err as Error).message}\nRun "mozzie broker --help" for the options.\n`);
    return 2;
  }
  if (values.help === true) {
    process.stdout.write(`${HELP}${settingsHelp()}\n`);
    return 0;
  }

  let raw: Record<string, unknown> = {};
  try {
    if (values.config !== undefined) raw = (await loadConfigFile(values.config)).raw;
    const config = validateConfig(applyFlags(raw, values), values.config ?? 'command line');
    if (values['check-config'] === true) return (await import('./check-config.js')).checkConfig(config, values.config ?? '(defaults)');
    const server = createServer(config, { version: packageVersion() });
    const listeners = await server.start();
    const allowed = config.listeners.map((l) => server.anonymousAllowed(l));
    const anonymous = allowed.every((a) => a)
      ? 'anonymous access allowed'
      : allowed.every((a) => !a)
        ? 'anonymous access refused'
        : `anonymous access allowed on ${listeners
            .filter((_, i) => allowed[i])
            .map((l) => l.url)
            .join(', ')} only`;
    process.stderr.write(
      `mozzie ${packageVersion()} listening on ${listeners.map((l) => l.url).join(', ')} (MQTT 3.1, 3.1.1, 5.0; ${anonymous})\n`,
    );
    process.stderr.write(
      config.store.type === 'sqlite'
        ? `State is kept in ${resolve(config.store.dataDir)} (sync ${config.store.sync}); --memory keeps nothing.\n`
        : 'State is kept in memory only: sessions, queued and retained messages are lost when the broker stops.\n',
    );
    const exposed = listeners.filter((l, i) => allowed[i] && !isLoopback(config.listeners[i]?.host ?? l.host));
    if (exposed.length > 0) {
      process.stderr.write(
        `WARNING: anonymous clients are accepted on a non-loopback address (${exposed.map((l) => l.url).join(', ')}): anyone who can reach it can publish and subscribe.\n`,
      );
    }
    if (!allowed.some((a) => a) && config.auth.passwordFile === undefined) {
      process.stderr.write(
        'Note: no authentication is configured, so every client will be refused; use --allow-anonymous to accept them.\n',
      );
    }
    // SIGHUP re-reads certificate files (and, once configured, password and ACL files) without a restart.
    const onHangup = () => void server.reload();
    process.on('SIGHUP', onHangup);
    await waitForSignal();
    process.off('SIGHUP', onHangup);
    process.stderr.write('mozzie: shutting down\n');
    await server.stop();
    return 0;
  } catch (err) {
    if (err instanceof StoreError) {
      process.stderr.write(`mozzie broker: ${err.message}\n`);
      return 1;
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`mozzie broker: ${err.message}\n`);
      return values['check-config'] === true ? 1 : 2;
    }
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') {
      process.stderr.write(
        `mozzie broker: the address is already in use (${(err as Error).message}); is another broker running? Use --port to pick another.\n`,
      );
      return 1;
    }
    if (code === 'EACCES') {
      process.stderr.write(`mozzie broker: permission denied binding ${(err as Error).message}; ports below 1024 need privileges.\n`);
      return 1;
    }
    throw err;
  }
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      config: { type: 'string', short: 'c' },
      host: { type: 'string', short: 'H' },
      port: { type: 'string', short: 'p' },
      'allow-anonymous': { type: 'boolean' },
      'log-level': { type: 'string', short: 'l' },
      'log-json': { type: 'boolean' },
      'data-dir': { type: 'string', short: 'd' },
      memory: { type: 'boolean' },
      sync: { type: 'string' },
      'check-config': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

/** Flags override the file: --host/--port replace the first listener (or make one). */
function applyFlags(raw: Record<string, unknown>, v: ReturnType<typeof parse>['values']): MozzieConfigInput {
  const out: Record<string, unknown> = { ...raw };
  if (v.host !== undefined || v.port !== undefined) {
    const given = raw['listeners'];
    const listeners = Array.isArray(given) ? [...(given as unknown[])] : [];
    const first = (listeners[0] ?? {}) as Record<string, unknown>;
    const port = v.port === undefined ? first['port'] : /^\d+$/.test(v.port) ? Number(v.port) : v.port;
    listeners[0] = { type: 'tcp', ...first, ...(v.host === undefined ? {} : { host: v.host }), ...(port === undefined ? {} : { port }) };
    out['listeners'] = listeners;
  }
  if (v['allow-anonymous'] === true) out['allowAnonymous'] = true;
  // The broker command keeps its state on disk unless told otherwise (embedders default to memory).
  const store = { ...((raw['store'] as Record<string, unknown> | undefined) ?? {}) };
  if (v.memory === true) store['type'] = 'memory';
  else if (v['data-dir'] !== undefined) Object.assign(store, { type: 'sqlite', dataDir: v['data-dir'] });
  else if (store['type'] === undefined) store['type'] = 'sqlite';
  if (v.sync !== undefined) store['sync'] = v.sync;
  out['store'] = store;
  if (v['log-level'] !== undefined || v['log-json'] === true) {
    const log = { ...((raw['log'] as Record<string, unknown> | undefined) ?? {}) };
    if (v['log-level'] !== undefined) log['level'] = v['log-level'];
    if (v['log-json'] === true) log['format'] = 'json';
    out['log'] = log;
  }
  return out as MozzieConfigInput;
}

function waitForSignal(): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve();
    };
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
  });
}
