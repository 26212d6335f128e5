import { Buffer } from 'node:buffer';
import { parseArgs } from 'node:util';
import { ClientError, type MqttClient, type SubscribeOptions } from '../client/index.js';
import {
  type DisconnectPacket,
  PacketType,
  type ProtocolVersion,
  type PublishPacket,
  type QoS,
  ReasonCode,
  type RetainHandling,
  reasonCodeName,
  topicMatches,
  validateTopicFilter,
} from '../protocol/index.js';
import { CliFailure, connackText, openClient, report } from './connect.js';
import {
  buildProperties,
  CONNECTION_OPTIONS,
  type Connection,
  connectionHelp,
  connectionOptions,
  EXIT_ERROR,
  EXIT_OK,
  EXIT_TIMEOUT,
  integer,
  type OptionConfig,
  type PropertySets,
  parseQos,
  preparse,
  propertyWarnings,
  UsageError,
} from './mqtt-options.js';
import { compileFormat, now, type OutputMode, renderMessage } from './output.js';

const HELP = `Usage: mozzie sub {-t topic ... | -L URL} [options]

Subscribes and prints each message as it arrives (payload only by default), until Ctrl-C, -C or -W.
The flags are mosquitto_sub's; MQTT 5 is the default protocol (mosquitto_sub's is 3.1.1).

Subscribing:
  -t FILTER             topic filter to subscribe to; repeat for more ($share/group/filter works)
  -q QOS                maximum QoS to receive (default 0)
  -T FILTER             do not print messages whose topic matches FILTER; may repeat
  -U FILTER             unsubscribe from FILTER (e.g. from a persistent session); may repeat
  -C COUNT              exit after COUNT messages
  -W SECONDS            exit after SECONDS with code 27 ("Timed out") unless done sooner
  -E                    exit once the subscriptions are acknowledged
  -R                    do not print retained (stale) messages
  --retained-only       print only retained messages; exit at the first live one
  --remove-retained     clear each retained message received (use -T to spare some)
  --no-local            MQTT 5: not messages this client published
  --retain-as-published MQTT 5: keep the publisher's retain flag on live messages
  --retain-handling N   MQTT 5: 0 send retained messages (default), 1 only for a new subscription, 2 never
  -D subscribe NAME VALUE  MQTT 5 property: subscription-identifier N, user-property NAME VALUE

Output:
  -v                    print "topic payload" ("topic (null)" for an empty payload)
  -N                    no newline after each message
  -F FORMAT             mosquitto_sub format: %t topic, %p payload, %q QoS, %r retain, %m message id,
                        %l length, %x/%X hex payload, %I ISO-8601 time, %U Unix time, %j/%J JSON,
                        %C content type, %E expiry, %F format indicator, %R response topic,
                        %D correlation data, %P user properties, %S subscription id, %A topic alias,
                        %%; widths as in %10t, %-10t, %05l, %.5t; @Y @m @d @H @M @S @z ... (strftime),
                        @N nanoseconds; \\n \\t \\e \\0 \\\\ escapes
  --json                one JSON object per message: topic, payload (UTF-8, or base64 with
                        "encoding":"base64"), qos, retain, properties (named as in -D)
  --pretty              indent JSON (--json, %j, %J)
${connectionHelp('sub')}
Exit status:
  0        done: -C count reached, -E, --retained-only saw a live message, or Ctrl-C / SIGTERM
  1        bad arguments, network failure, every subscription refused, or the broker disconnected us
  27       -W time ran out ("Timed out", as mosquitto_sub)
  1-5      MQTT 3.1.x: the CONNACK return code when the broker refused the connection
  128-162  MQTT 5: the CONNACK reason code when the broker refused the connection (135 = not authorized)

Examples:
  mozzie sub -t 'sensors/#' -v
  mozzie sub -t sensors/temp -C 1 -W 5                 # one reading, or exit 27 after 5 s
  mozzie sub -t '#' -F '%I %t %p'                      # timestamped
  mozzie sub -t '#' --json | jq .payload
  mozzie sub -t '#' --remove-retained --retained-only  # clear every retained message
  mozzie sub -t jobs -q 1 -c -i worker-1 -x 3600       # persistent session for an hour
`;

const SUB_OPTIONS = {
  ...CONNECTION_OPTIONS,
  topic: { type: 'string', short: 't', multiple: true },
  qos: { type: 'string', short: 'q' },
  'filter-out': { type: 'string', short: 'T', multiple: true },
  unsubscribe: { type: 'string', short: 'U', multiple: true },
  count: { type: 'string', short: 'C' },
  timeout: { type: 'string', short: 'W' },
  'exit-after-subscribe': { type: 'boolean', short: 'E' },
  'no-retained': { type: 'boolean', short: 'R' },
  'retained-only': { type: 'boolean' },
  'remove-retained': { type: 'boolean' },
  'no-local': { type: 'boolean' },
  'retain-as-published': { type: 'boolean' },
  'retain-handling': { type: 'string' },
  verbose: { type: 'boolean', short: 'v' },
  'no-eol': { type: 'boolean', short: 'N' },
  format: { type: 'string', short: 'F' },
  json: { type: 'boolean' },
  pretty: { type: 'boolean' },
} as const satisfies Record<string, OptionConfig>;

interface Plan {
  readonly conn: Connection;
  readonly props: PropertySets;
  readonly topics: readonly string[];
  readonly subscribe: SubscribeOptions;
  readonly filterOut: readonly string[];
  readonly unsubscribe: readonly string[];
  readonly count: number;
  readonly timeoutMs: number;
  readonly exitAfterSubscribe: boolean;
  readonly noRetained: boolean;
  readonly retainedOnly: boolean;
  readonly removeRetained: boolean;
  readonly mode: OutputMode;
  readonly eol: boolean;
  readonly debug: boolean;
  readonly quiet: boolean;
}

/** `mozzie sub`: mosquitto_sub's flags over the mozzie client. */
export async function runSub(argv: readonly string[]): Promise<number> {
  const quiet = argv.includes('--quiet');
  let plan: Plan;
  try {
    const pre = preparse(argv, SUB_OPTIONS);
    const { values, positionals } = parseArgs({ args: pre.args, options: SUB_OPTIONS, strict: true, allowPositionals: true });
    if (values.help === true) {
      process.stdout.write(HELP);
      return EXIT_OK;
    }
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    const props = buildProperties(pre.properties);
    const timeoutMs = values.timeout === undefined ? 0 : integer('-W', values.timeout, 1, 2_147_483) * 1000;
    // Connecting counts against -W, so a connect that hangs cannot outlive it.
    const conn = connectionOptions(values, props, timeoutMs > 0 ? { connectTimeout: timeoutMs } : {});
    for (const w of propertyWarnings(props, ['connect', 'subscribe', 'unsubscribe', 'disconnect', 'will'], conn.version, 'mozzie sub')) {
      if (!quiet) process.stderr.write(`${w}\n`);
    }
    plan = makePlan(values, props, conn, timeoutMs, quiet);
  } catch (err) {
    return report(err, 'sub', quiet);
  }
  return new Subscriber(plan).run();
}

type SubValues = ReturnType<typeof parseArgs<{ options: typeof SUB_OPTIONS; strict: true; allowPositionals: true }>>['values'];

function makePlan(v: SubValues, props: PropertySets, conn: Connection, timeoutMs: number, quiet: boolean): Plan {
  const version = conn.version;
  const topics = [...(conn.urlTopic === undefined ? [] : [conn.urlTopic]), ...(v.topic ?? [])];
  const unsubscribe = v.unsubscribe ?? [];
  if (topics.length === 0 && unsubscribe.length === 0) throw new UsageError('You must specify a topic to subscribe to (-t).');
  checkFilters(topics, 'subscription', version);
  checkFilters(v['filter-out'] ?? [], 'filter', version);
  checkFilters(unsubscribe, 'unsubscribe', version);
  if (v['no-retained'] === true && v['retained-only'] === true)
    throw new UsageError("Combining '-R' and '--retained-only' makes no sense.");
  if (v.json === true && v.format !== undefined) throw new UsageError('--json and -F are two output formats; use one.');
  const v5only = (['no-local', 'retain-as-published', 'retain-handling'] as const).filter((f) => v[f] !== undefined);
  if (v5only.length > 0 && version !== 5) throw new UsageError(`--${v5only[0]} needs MQTT 5 (-V mqttv5)`);
  const retainHandling =
    v['retain-handling'] === undefined ? 0 : (integer('--retain-handling', v['retain-handling'], 0, 2) as RetainHandling);
  const qos: QoS = parseQos('-q', v.qos);
  const pretty = v.pretty === true;
  const mode: OutputMode =
    v.json === true
      ? { kind: 'json', pretty }
      : v.format !== undefined
        ? { kind: 'format', parts: compileFormat(v.format), pretty }
        : v.verbose === true
          ? { kind: 'verbose' }
          : { kind: 'payload' };
  return {
    conn,
    props,
    topics,
    subscribe: {
      qos,
      noLocal: v['no-local'] === true,
      retainAsPublished: v['retain-as-published'] === true,
      retainHandling,
      ...(props.subscribe === undefined || version !== 5 ? {} : { properties: props.subscribe }),
    },
    filterOut: v['filter-out'] ?? [],
    unsubscribe,
    count: v.count === undefined ? 0 : integer('-C', v.count, 1, 2_147_483_647),
    timeoutMs,
    exitAfterSubscribe: v['exit-after-subscribe'] === true,
    noRetained: v['no-retained'] === true,
    retainedOnly: v['retained-only'] === true,
    removeRetained: v['remove-retained'] === true,
    mode,
    eol: v['no-eol'] !== true,
    debug: v.debug === true,
    quiet,
  };
}

function checkFilters(filters: readonly string[], what: string, version: ProtocolVersion): void {
  for (const f of filters) {
    try {
      validateTopicFilter(f, '-t', version);
    } catch {
      throw new UsageError(`Invalid ${what} topic '${f}', are all '+' and '#' wildcards correct?`);
    }
  }
}

/** Server DISCONNECT reasons after which reconnecting would only repeat the problem. */
const FINAL_DISCONNECTS = new Set<number>([
  ReasonCode.MalformedPacket,
  ReasonCode.ProtocolError,
  ReasonCode.NotAuthorized,
  ReasonCode.Banned,
  ReasonCode.SessionTakenOver,
  ReasonCode.AdministrativeAction,
  ReasonCode.UseAnotherServer,
  ReasonCode.ServerMoved,
]);

/** One run of `mozzie sub`: connect, subscribe, print, and end exactly once with an exit code. */
class Subscriber {
  private client: MqttClient | undefined;
  private stopping = false;
  private received = 0;
  private readonly removals: Promise<unknown>[] = [];
  private timer: NodeJS.Timeout | undefined;
  private resolveExit: (code: number) => void = () => undefined;
  private readonly exit = new Promise<number>((resolve) => {
    this.resolveExit = resolve;
  });
  private readonly onSignal = () => void this.finish(EXIT_OK);
  private readonly onStdoutError = () => void this.finish(EXIT_OK);

  constructor(private readonly plan: Plan) {}

  async run(): Promise<number> {
    const plan = this.plan;
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
    // A closed pipe (`mozzie sub ... | head -1`) ends the run quietly.
    process.stdout.on('error', this.onStdoutError);
    if (plan.timeoutMs > 0) this.timer = setTimeout(() => void this.finish(EXIT_TIMEOUT, 'Timed out'), plan.timeoutMs);
    const trace = plan.debug ? (line: string) => this.stderr(line) : undefined;
    try {
      const client = await openClient(plan.conn, trace, (c) => this.listen(c));
      this.client = client;
      if (this.stopping) {
        await client.end({ force: true });
        return this.exit;
      }
      await this.subscribe(client);
    } catch (err) {
      if (!this.stopping) void this.finish(report(err, 'sub', plan.quiet));
    }
    return this.exit;
  }

  private listen(client: MqttClient): void {
    client.on('message', (_topic, _payload, packet) => this.onMessage(packet));
    client.on('offline', () => {
      if (!this.stopping && this.plan.debug) this.stderr('Connection lost; reconnecting');
    });
    client.on('disconnect', (p) => this.onServerDisconnect(p));
    client.on('error', (err) => {
      // A refusal after the first connection (a reconnect): stop, as at the start.
      if (this.client !== undefined && err.code === 'CONNECTION_REFUSED' && err.reasonCode !== undefined) {
        void this.finish(err.reasonCode, `Connection error: ${connackText(err.reasonCode, this.plan.conn.version)}`);
      }
    });
  }

  private async subscribe(client: MqttClient): Promise<void> {
    const plan = this.plan;
    const filters: Record<string, SubscribeOptions> = {};
    for (const t of plan.topics) filters[t] = plan.subscribe;
    // Both go out before either answer, SUBSCRIBE first, as mosquitto_sub sends them.
    const sub = plan.topics.length === 0 ? undefined : client.subscribe(filters, plan.subscribe);
    const unsub = plan.unsubscribe.length === 0 ? undefined : client.unsubscribe(plan.unsubscribe, plan.props.unsubscribe);
    try {
      const codes = (await sub)?.reasonCodes ?? [];
      if (plan.debug && codes.length > 0) this.stderr(`Subscribed: ${codes.join(', ')}`);
      codes.forEach((code, i) => {
        if (code < 0x80) return;
        const name = reasonCodeName(code, PacketType.Suback, plan.conn.version);
        this.warn(`Warning: subscription to '${plan.topics[i] ?? ''}' refused: ${name}`);
      });
      await unsub;
    } catch (err) {
      throw err instanceof ClientError && err.code === 'SUBSCRIBE_FAILED' ? new CliFailure(`Error: ${err.message}`, EXIT_ERROR) : err;
    }
    if (plan.exitAfterSubscribe) await this.finish(EXIT_OK);
  }

  private onMessage(m: PublishPacket): void {
    const plan = this.plan;
    if (this.stopping) return;
    if (plan.retainedOnly && !m.retain) {
      void this.finish(EXIT_OK);
      return;
    }
    if (m.retain && plan.noRetained) return;
    for (const f of plan.filterOut) if (topicMatches(f, m.topic)) return;
    const client = this.client;
    if (plan.removeRetained && m.retain && m.payload.length > 0 && client !== undefined) {
      this.removals.push(
        client.publish(m.topic, EMPTY, { qos: 1, retain: true }).catch((err: unknown) => this.warn(`Warning: ${String(err)}`)),
      );
    }
    const out = renderMessage(m, plan.mode, plan.eol, now(), (line) => this.warn(line));
    if (out !== undefined && out.length > 0) process.stdout.write(out);
    if (plan.count > 0 && ++this.received >= plan.count) void this.finish(EXIT_OK);
  }

  private onServerDisconnect(p: DisconnectPacket): void {
    if (this.stopping) return;
    const name = reasonCodeName(p.reasonCode, PacketType.Disconnect, 5);
    const reason = p.properties?.reasonString;
    const why = reason === undefined || reason.toLowerCase() === name.toLowerCase() ? name : `${name} (${reason})`;
    if (FINAL_DISCONNECTS.has(p.reasonCode)) void this.finish(EXIT_ERROR, `Error: the broker disconnected: ${why}`);
    else this.warn(`Warning: the broker disconnected: ${why}; reconnecting`);
  }

  /** Ends the run once: waits for --remove-retained clears, disconnects, resolves the exit code. */
  private async finish(code: number, message?: string): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (message !== undefined) this.warn(message);
    clearTimeout(this.timer);
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
    await Promise.allSettled(this.removals);
    const d = this.plan.conn.version === 5 ? this.plan.props.disconnect : undefined;
    await this.client?.end({
      timeout: 2000,
      ...(d?.sessionExpiryInterval === undefined ? {} : { sessionExpiryInterval: d.sessionExpiryInterval }),
      ...(d?.userProperties === undefined ? {} : { userProperties: d.userProperties }),
    });
    process.stdout.off('error', this.onStdoutError);
    this.resolveExit(code);
  }

  private warn(line: string): void {
    if (!this.plan.quiet) this.stderr(line);
  }

  private stderr(line: string): void {
    process.stderr.write(`${line}\n`);
  }
}

const EMPTY = Buffer.alloc(0);
