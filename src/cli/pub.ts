import { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ClientError, type MqttClient, type PublishOptions } from '../client/index.js';
import { validateTopicName } from '../protocol/index.js';
import { CliFailure, openClient, report } from './connect.js';
import {
  buildProperties,
  CONNECTION_OPTIONS,
  type Connection,
  connectionHelp,
  connectionOptions,
  EXIT_ERROR,
  EXIT_OK,
  integer,
  type OptionConfig,
  type PropertyArg,
  type PropertySets,
  parseQos,
  preparse,
  propertyWarnings,
  UsageError,
} from './mqtt-options.js';

const HELP = `Usage: mozzie pub {-t topic | -L URL} {-m message | -f file | -l | -s | -n} [options]

Publishes a message (or each line of stdin) and exits once every message is acknowledged.
The flags are mosquitto_pub's; MQTT 5 is the default protocol (mosquitto_pub's is 3.1.1).

Message:
  -t TOPIC              topic to publish to
  -m MESSAGE            the payload
  -f FILE               send the contents of a file as the payload
  -l                    read stdin and send each line as a message (without its newline)
  -s                    read stdin and send all of it as one message
  -n                    send a zero-length (null) message
  -q QOS                0, 1 or 2 (default 0)
  -r                    retain the message
  --repeat N            send the message N times (with -m, -f, -s, -n)
  --repeat-delay SECS   wait between repeats (decimals allowed)
  -D publish NAME VALUE MQTT 5 property: content-type, correlation-data, message-expiry-interval,
                        payload-format-indicator, response-topic, topic-alias, user-property NAME VALUE
${connectionHelp('pub')}
Exit status:
  0        every message was sent and acknowledged (QoS 1 and 2)
  1        bad arguments, unreadable input, network failure, or a message the broker refused
           (mosquitto_pub only warns about a refused message and exits 0)
  1-5      MQTT 3.1.x: the CONNACK return code when the broker refused the connection
  128-162  MQTT 5: the CONNACK reason code when the broker refused the connection (135 = not authorized)

Examples:
  mozzie pub -t sensors/temp -m 21.5
  mozzie pub -h broker.local -p 1884 -u alice -P secret -t cmd/lamp -m on -q 1 -r
  mozzie pub -t logs -l < app.log                       # one message per line
  mozzie pub -t firmware -f image.bin -q 2
  mozzie pub -t greetings -m hi -D publish user-property lang en -D publish message-expiry-interval 60
  mozzie pub -L mqtts://alice:secret@broker.example.com/sensors/temp -m 22 --cafile ca.pem
  mozzie pub -t sensors/temp -r -n                      # clear the retained message
`;

const PUB_OPTIONS = {
  ...CONNECTION_OPTIONS,
  topic: { type: 'string', short: 't' },
  message: { type: 'string', short: 'm' },
  file: { type: 'string', short: 'f' },
  'stdin-line': { type: 'boolean', short: 'l' },
  'stdin-file': { type: 'boolean', short: 's' },
  'null-message': { type: 'boolean', short: 'n' },
  qos: { type: 'string', short: 'q' },
  retain: { type: 'boolean', short: 'r' },
  repeat: { type: 'string' },
  'repeat-delay': { type: 'string' },
} as const satisfies Record<string, OptionConfig>;

type Source = { readonly kind: 'payload'; readonly payload: Buffer } | { readonly kind: 'lines' };

interface Plan {
  readonly conn: Connection;
  readonly props: PropertySets;
  readonly topic: string;
  readonly source: Source;
  readonly publish: PublishOptions;
  readonly repeat: number;
  readonly repeatDelayMs: number;
  readonly debug: boolean;
  readonly quiet: boolean;
}

/** `mozzie pub`: mosquitto_pub's flags over the mozzie client. */
export async function runPub(argv: readonly string[]): Promise<number> {
  const quiet = argv.includes('--quiet');
  let plan: Plan;
  try {
    const pre = preparse(argv, PUB_OPTIONS);
    const { values, positionals } = parseArgs({ args: pre.args, options: PUB_OPTIONS, strict: true, allowPositionals: true });
    if (values.help === true) {
      process.stdout.write(HELP);
      return EXIT_OK;
    }
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    plan = await makePlan(values, pre.properties, quiet);
  } catch (err) {
    return report(err, 'pub', quiet);
  }
  try {
    return await publishAll(plan);
  } catch (err) {
    return report(err, 'pub', quiet);
  }
}

type PubValues = ReturnType<typeof parseArgs<{ options: typeof PUB_OPTIONS; strict: true; allowPositionals: true }>>['values'];

/** Checks the flags and reads -f / -s input; every problem is a UsageError or CliFailure. */
async function makePlan(values: PubValues, properties: readonly PropertyArg[], quiet: boolean): Promise<Plan> {
  const props = buildProperties(properties);
  const conn = connectionOptions(values, props, { reconnect: false });
  for (const w of propertyWarnings(props, ['connect', 'publish', 'disconnect', 'will'], conn.version, 'mozzie pub')) {
    if (!quiet) process.stderr.write(`${w}\n`);
  }
  const topic = values.topic ?? conn.urlTopic;
  const sources = [values.message, values.file, values['stdin-line'], values['stdin-file'], values['null-message']];
  const given = sources.filter((s) => s !== undefined && s !== false).length;
  if (given > 1) throw new UsageError('Only one type of message can be sent at once (-m, -f, -l, -s or -n).');
  if (topic === undefined || given === 0) throw new UsageError('Both topic and message must be supplied.');
  try {
    validateTopicName(topic, '-t', conn.version);
  } catch {
    throw new UsageError(`Invalid publish topic '${topic}', does it contain '+' or '#'?`);
  }
  const delay = values['repeat-delay'] === undefined ? 0 : Number(values['repeat-delay']);
  if (!Number.isFinite(delay) || delay < 0) throw new UsageError(`--repeat-delay: "${values['repeat-delay']}" is not a number of seconds`);
  return {
    conn,
    props,
    topic,
    source: values['stdin-line'] === true ? { kind: 'lines' } : { kind: 'payload', payload: await payloadOf(values) },
    publish: {
      qos: parseQos('-q', values.qos),
      retain: values.retain === true,
      ...(props.publish === undefined || conn.version !== 5 ? {} : { properties: props.publish }),
    },
    repeat: values.repeat === undefined ? 1 : integer('--repeat', values.repeat, 1, 2_147_483_647),
    repeatDelayMs: delay * 1000,
    debug: values.debug === true,
    quiet,
  };
}

async function payloadOf(v: {
  message?: string | undefined;
  file?: string | undefined;
  'stdin-file'?: boolean | undefined;
}): Promise<Buffer> {
  if (v.message !== undefined) return Buffer.from(v.message, 'utf8');
  if (v.file !== undefined) {
    try {
      return readFileSync(v.file);
    } catch (err) {
      throw new CliFailure(`Error loading input file "${v.file}": ${(err as NodeJS.ErrnoException).code ?? String(err)}`, EXIT_ERROR);
    }
  }
  if (v['stdin-file'] === true) {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }
  return Buffer.alloc(0);
}

/** Connects, publishes, waits for every acknowledgement, disconnects. */
async function publishAll(plan: Plan): Promise<number> {
  const trace = plan.debug ? (line: string) => process.stderr.write(`${line}\n`) : undefined;
  const client = await openClient(plan.conn, trace);
  const publisher = new Publisher(client, plan);
  const stop = () => publisher.interrupt();
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  try {
    if (plan.source.kind === 'lines') await publisher.lines();
    else await publisher.repeat(plan.source.payload);
    await publisher.settled();
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    const d = plan.conn.version === 5 ? plan.props.disconnect : undefined;
    await client.end({
      force: publisher.forced,
      timeout: 5000,
      ...(d?.sessionExpiryInterval === undefined ? {} : { sessionExpiryInterval: d.sessionExpiryInterval }),
      ...(d?.userProperties === undefined ? {} : { userProperties: d.userProperties }),
    });
  }
  return publisher.failed ? EXIT_ERROR : EXIT_OK;
}

/** Most messages in flight at once in -l mode before stdin is paused. */
const MAX_PENDING = 256;

class Publisher {
  failed = false;
  private fatal = false;
  private interrupted = false;
  /** A second interrupt: end without waiting for acknowledgements. */
  forced = false;
  private readonly pending = new Set<Promise<void>>();
  private wake: (() => void) | undefined;

  constructor(
    private readonly client: MqttClient,
    private readonly plan: Plan,
  ) {}

  /** Ctrl-C / SIGTERM: stop sending and wait for what is in flight; a second one stops waiting. */
  interrupt(): void {
    if (this.interrupted) this.forced = true;
    this.interrupted = true;
    this.wake?.();
  }

  private get stopped(): boolean {
    return this.fatal || this.interrupted;
  }

  /** Sends one message; a refusal is a warning, a lost connection ends the run. */
  send(payload: Buffer): Promise<void> {
    const p = this.client.publish(this.plan.topic, payload, this.plan.publish).then(
      () => undefined,
      (err: unknown) => this.onFailure(err),
    );
    const tracked = p.finally(() => {
      this.pending.delete(tracked);
      this.wake?.();
    });
    this.pending.add(tracked);
    return tracked;
  }

  private onFailure(err: unknown): void {
    this.failed = true;
    const message = err instanceof Error ? err.message : String(err);
    if (err instanceof ClientError && err.code === 'PUBLISH_FAILED') {
      this.warn(`Warning: ${message}`);
      return;
    }
    if (!this.fatal) this.warn(`Error: ${message}`);
    this.fatal = true;
    this.wake?.();
  }

  private warn(line: string): void {
    if (!this.plan.quiet) process.stderr.write(`${line}\n`);
  }

  /** -m/-f/-s/-n, --repeat times: like mosquitto_pub, each repeat waits for the previous acknowledgement. */
  async repeat(payload: Buffer): Promise<void> {
    for (let n = 0; n < this.plan.repeat && !this.stopped; n++) {
      if (n > 0 && this.plan.repeatDelayMs > 0) await this.sleep(this.plan.repeatDelayMs);
      if (this.stopped) break;
      await this.send(payload);
    }
  }

  /** -l: each line of stdin (split at \n, which is dropped) as it arrives; a last unterminated line too. */
  async lines(): Promise<void> {
    const stdin = process.stdin;
    let rest = Buffer.alloc(0);
    const iterator = stdin[Symbol.asyncIterator]();
    let read: Promise<IteratorResult<unknown>> | undefined;
    try {
      while (!this.stopped) {
        // A read outlives a nudge that wins the race: it is kept and awaited again, never repeated.
        read ??= iterator.next();
        const next = await Promise.race([read, this.nudge()]);
        if (next === 'nudge') continue;
        read = undefined;
        if (next.done === true) break;
        let data = Buffer.concat([rest, next.value as Buffer]);
        for (let nl = data.indexOf(10); nl >= 0 && !this.stopped; nl = data.indexOf(10)) {
          void this.send(data.subarray(0, nl));
          data = data.subarray(nl + 1);
          while (this.pending.size >= MAX_PENDING && !this.stopped) await this.nudge();
        }
        rest = Buffer.from(data);
      }
      if (rest.length > 0 && !this.stopped) void this.send(rest);
    } finally {
      // Stop reading: a paused, destroyed stdin does not keep the process alive.
      stdin.pause();
      if (this.stopped) stdin.destroy();
    }
  }

  /** Resolves when something changes: a message settles, a failure, or an interrupt. */
  private nudge(): Promise<'nudge'> {
    return new Promise((resolve) => {
      this.wake = () => {
        this.wake = undefined;
        resolve('nudge');
      };
    });
  }

  private async sleep(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([new Promise<void>((r) => (timer = setTimeout(r, ms))), this.nudge()]);
    clearTimeout(timer);
  }

  /** Waits for every message in flight (unless forced to stop). */
  async settled(): Promise<void> {
    while (this.pending.size > 0 && !this.forced) await Promise.race([Promise.allSettled([...this.pending]), this.nudge()]);
  }
}
