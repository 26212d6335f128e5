#!/usr/bin/env node
import { packageVersion } from './version.js';

/**
 * `mozzie` entry point: picks a subcommand and hands it the rest of the arguments.
 * Subcommands own their flags, help text and exit codes.
 */

interface Command {
  readonly summary: string;
  run(argv: readonly string[]): Promise<number>;
}

const commands: ReadonlyMap<string, Command> = new Map<string, Command>([
  // Commands load their modules on demand: `mozzie --version` should not pay for the broker.
  [
    'broker',
    { summary: 'run the MQTT broker (default 127.0.0.1:1883)', run: async (argv) => (await import('./broker.js')).runBroker(argv) },
  ],
  [
    'certs',
    {
      summary: 'create a development CA, server and client certificates (TLS, mutual TLS)',
      run: async (argv) => (await import('./certs.js')).runCerts(argv),
    },
  ],
  ['pub', { summary: 'publish messages (mosquitto_pub flags)', run: async (argv) => (await import('./pub.js')).runPub(argv) }],
  ['sub', { summary: 'subscribe and print messages (mosquitto_sub flags)', run: async (argv) => (await import('./sub.js')).runSub(argv) }],
  [
    'passwd',
    {
      summary: 'add, change or remove users of a password file (SCRAM-SHA-256)',
      run: async (argv) => (await import('./passwd.js')).runPasswd(argv),
    },
  ],
  [
    'bench',
    {
      summary: 'load-test a broker: publish, subscribe and connection rates, latency',
      run: async (argv) => (await import('./bench.js')).runBenchCommand(argv),
    },
  ],
]);

function usage(): string {
  const names = [...commands.entries()].map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  return [
    `mozzie ${packageVersion()}: MQTT 3.1, 3.1.1 and 5.0 broker, client and tools`,
    '',
    'Usage: mozzie <command> [options]',
    '       mozzie <command> --help     options and examples for one command',
    '',
    'Commands:',
    ...(names.length > 0 ? names : ['  (none yet)']),
    '',
    'Options:',
    '  -h, --help       show this help',
    '  -v, --version    print the version',
    '',
  ].join('\n');
}

export async function main(argv: readonly string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    process.stdout.write(usage());
    return first === undefined ? 1 : 0;
  }
  if (first === '--version' || first === '-v' || first === 'version') {
    process.stdout.write(`${packageVersion()}\n`);
    return 0;
  }
  const command = commands.get(first);
  if (command === undefined) {
    process.stderr.write(`mozzie: unknown command "${first}". Run "mozzie --help" for the list.\n`);
    return 2;
  }
  return command.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`mozzie: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
