import { parseArgs } from 'node:util';
import {
  BenchError,
  type BenchOptions,
  type BenchResult,
  DEFAULTS,
  formatJson,
  formatProgress,
  formatSummary,
  type Progress,
  resolveOptions,
  runBench,
} from '../loadgen/index.js';

const HELP = `Usage: mozzie bench <pub|sub|pubsub|conn> [options]

An MQTT load generator: many connections on raw sockets, pre-encoded packets, latency from a timestamp
in each payload. Progress goes to stderr (one live line on a terminal), the summary to stdout.

Modes:
  pub      -c publishers send to the topic as fast as possible or at -r msg/s in total
  sub      -c subscribers count what arrives on the topic filter (start publishers elsewhere)
  pubsub   -c publishers and -c subscribers on the same topics: end-to-end latency, loss
  conn     open -c connections (at -r per second) and hold them; --churn reconnects continuously

Options:
  -h, --host HOST            broker host                                (default ${DEFAULTS.host})
  -p, --port PORT            broker port                                (default ${DEFAULTS.port})
  -L, --url URL              mqtt://[user:password@]host[:port] instead of -h/-p
  -u, --username NAME        user name for CONNECT
  -P, --password SECRET      password for CONNECT
  -V, --protocol-version V   3 (3.1), 4 (3.1.1) or 5                    (default ${DEFAULTS.version})
  -c, --clients N            publishers, subscribers, pairs or connections (default ${DEFAULTS.clients})
  -r, --rate N               messages/s over all publishers (conn: connections/s); 0 = as fast as
                             possible                                   (default ${DEFAULTS.rate})
  -q, --qos Q                0, 1 or 2, for publishing and subscribing  (default ${DEFAULTS.qos})
  -s, --size BYTES           payload size; 12 or more carries a timestamp (default ${DEFAULTS.size})
  -t, --topic PATTERN        %i = client index, %n = message number     (default ${DEFAULTS.topic})
                             sub: a topic filter (wildcards allowed); %n levels become +
  -d, --duration SECONDS     measured time                              (default ${DEFAULTS.duration})
      --warmup SECONDS       load before measuring, not counted         (default ${DEFAULTS.warmup})
      --window N             QoS 1/2 messages in flight per publisher (capped by the broker's Receive
                             Maximum); conn: handshakes in flight       (default ${DEFAULTS.window})
      --churn                conn: disconnect after each CONNACK and connect again
      --keepalive SECONDS    Keep Alive in CONNECT; PINGREQ every half of it (default ${DEFAULTS.keepalive})
      --id-prefix TEXT       Client Identifier prefix                   (default mzb<pid>)
      --json                 print the final summary as JSON
      --quiet                no progress output
      --help                 show this help

Latency: publish to delivery in sub and pubsub (payload timestamp; across processes it needs publishers
on the same machine, e.g. "mozzie bench pub"); publish to PUBACK/PUBCOMP in pub at QoS 1/2; CONNECT to
CONNACK in conn. A topic with %n is encoded per message and costs the generator more.

Examples:
  mozzie bench pub -c 10 -d 10                         # 10 publishers, QoS 0, as fast as possible
  mozzie bench pubsub -c 50 -r 50000 -q 1              # 50 pairs, 50,000 msg/s in total, QoS 1
  mozzie bench sub -t 'sensors/#' -q 1 -d 60           # count what other publishers send
  mozzie bench pub -L mqtt://user:secret@broker:1883 -t 'bench/%i/%n' -s 256
  mozzie bench conn -c 10000 -r 1000 -d 30             # open 10,000 connections at 1,000/s, hold them
  mozzie bench conn -c 100 --churn -d 10               # connect/disconnect as fast as possible
  mozzie bench pubsub -q 1 -d 5 --json > result.json
`;

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: true,
    options: {
      host: { type: 'string', short: 'h' },
      port: { type: 'string', short: 'p' },
      url: { type: 'string', short: 'L' },
      username: { type: 'string', short: 'u' },
      password: { type: 'string', short: 'P' },
      'protocol-version': { type: 'string', short: 'V' },
      clients: { type: 'string', short: 'c' },
      rate: { type: 'string', short: 'r' },
      qos: { type: 'string', short: 'q' },
      size: { type: 'string', short: 's' },
      topic: { type: 'string', short: 't' },
      duration: { type: 'string', short: 'd' },
      warmup: { type: 'string' },
      window: { type: 'string' },
      churn: { type: 'boolean' },
      keepalive: { type: 'string' },
      'id-prefix': { type: 'string' },
      json: { type: 'boolean' },
      quiet: { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
}

/** Prints progress on stderr: a line rewritten in place on a terminal, plain lines otherwise. */
class ProgressPrinter {
  private live = false;
  constructor(
    private readonly mode: BenchOptions['mode'],
    private readonly tty: boolean,
  ) {}

  print(p: Progress): void {
    const line = formatProgress(p, this.mode);
    if (this.tty) {
      process.stderr.write(`\r${line}\x1b[K`);
      this.live = true;
    } else {
      process.stderr.write(`${line}\n`);
    }
  }

  /** Ends the live line so what follows starts on a fresh one. */
  end(): void {
    if (this.live) process.stderr.write('\n');
    this.live = false;
  }
}

/** `mozzie bench`: validate flags, run the load, print the summary. */
export async function runBenchCommand(argv: readonly string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    process.stderr.write(`mozzie bench: ${(err as Error).message}\nRun "mozzie bench --help" for the options.\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help === true) {
    process.stdout.write(HELP);
    return 0;
  }
  if (positionals.length > 1) {
    process.stderr.write(`mozzie bench: one mode expected, got "${positionals.join(' ')}"\nRun "mozzie bench --help" for the options.\n`);
    return 2;
  }

  let options: BenchOptions;
  try {
    options = resolveOptions(positionals[0], values);
  } catch (err) {
    if (!(err instanceof BenchError)) throw err;
    const lines = err.message.split('\n').map((l) => `mozzie bench: ${l}`);
    process.stderr.write(`${lines.join('\n')}\nRun "mozzie bench --help" for the options.\n`);
    return 2;
  }

  const printer = new ProgressPrinter(options.mode, process.stderr.isTTY === true);
  const abort = new AbortController();
  let interrupts = 0;
  const onSignal = (): void => {
    interrupts++;
    if (interrupts > 1) process.exit(130);
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let result: BenchResult;
  try {
    result = await runBench(options, {
      onProgress: values.quiet === true ? () => undefined : (p) => printer.print(p),
      signal: abort.signal,
    });
  } catch (err) {
    printer.end();
    if (err instanceof BenchError) {
      process.stderr.write(`mozzie bench: ${err.message}\n`);
      return 1;
    }
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  printer.end();
  process.stdout.write(values.json === true ? formatJson(result) : formatSummary(result));
  if (result.stoppedEarly !== null && result.stoppedEarly !== 'interrupted') {
    process.stderr.write(`mozzie bench: ${result.stoppedEarly}\n`);
    return 1;
  }
  return 0;
}
