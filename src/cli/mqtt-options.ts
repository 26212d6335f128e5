import { Buffer } from 'node:buffer';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import type { ClientOptions, TlsOptions, WillOptions } from '../client/index.js';
import type {
  ConnectProperties,
  DisconnectProperties,
  ProtocolVersion,
  PublishProperties,
  QoS,
  SubscribeProperties,
  UnsubscribeProperties,
  UserProperty,
  WillProperties,
} from '../protocol/index.js';

/**
 * What `mozzie pub` and `mozzie sub` share: the connection flags (mosquitto_pub/sub's letters), the
 * `-D command identifier value` property parser, and the one mapping from flags to ClientOptions.
 */

/** Bad flags: printed with a usage hint, exit code 1 (as mosquitto_pub/sub). */
export class UsageError extends Error {}

/** Exit codes a script can rely on; a refused connection exits with the CONNACK code instead. */
export const EXIT_OK = 0;
export const EXIT_ERROR = 1;
/** `mosquitto_sub -W` exits with 27 (MOSQ_ERR_TIMEOUT) when the time runs out; so does `mozzie sub -W`. */
export const EXIT_TIMEOUT = 27;

export interface OptionConfig {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  readonly multiple?: boolean;
}

/** The flags both commands take (node:util parseArgs table). -h is the host, as in mosquitto; help is --help. */
export const CONNECTION_OPTIONS = {
  host: { type: 'string', short: 'h' },
  port: { type: 'string', short: 'p' },
  url: { type: 'string', short: 'L' },
  id: { type: 'string', short: 'i' },
  'id-prefix': { type: 'string', short: 'I' },
  username: { type: 'string', short: 'u' },
  password: { type: 'string', short: 'P' },
  keepalive: { type: 'string', short: 'k' },
  'protocol-version': { type: 'string', short: 'V' },
  'disable-clean-session': { type: 'boolean', short: 'c' },
  'session-expiry': { type: 'string', short: 'x' },
  'will-topic': { type: 'string' },
  'will-payload': { type: 'string' },
  'will-qos': { type: 'string' },
  'will-retain': { type: 'boolean' },
  cafile: { type: 'string' },
  capath: { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  insecure: { type: 'boolean' },
  'tls-use-os-certs': { type: 'boolean' },
  'tls-alpn': { type: 'string' },
  debug: { type: 'boolean', short: 'd' },
  quiet: { type: 'boolean' },
  nodelay: { type: 'boolean' },
  help: { type: 'boolean' },
} as const satisfies Record<string, OptionConfig>;

/** The connection flags' part of both --help texts. */
export function connectionHelp(tool: 'pub' | 'sub'): string {
  return `
Connection:
  -h HOST               broker host (default localhost)
  -p PORT               broker port (default 1883, 8883 with TLS)
  -L URL                mqtt(s)://[user[:password]@]host[:port]/topic (also ws://, wss://)
  -i ID                 client id (default: assigned by the broker)
  -I PREFIX             client id of PREFIX followed by the process id
  -u USER, -P PASSWORD  credentials
  -k SECONDS            keep alive (default 60; 0 disables)
  -V VERSION            mqttv5 (5, default), mqttv311 (311) or mqttv31 (31)
  -c                    persistent session (clean start off; needs -i)
  -x SECONDS            MQTT 5 session expiry interval (-1 for never; default -1 with -c, else 0)
  -D CMD NAME VALUE     MQTT 5 property for a packet: connect, ${tool === 'pub' ? 'publish' : 'subscribe, unsubscribe'}, disconnect or will
                        (e.g. -D connect session-expiry-interval 60, -D will will-delay-interval 5)
  --will-topic TOPIC    Will message, published by the broker if this client vanishes
  --will-payload TEXT   Will payload (default empty)
  --will-qos QOS        Will QoS
  --will-retain         retain the Will
  --cafile FILE         trust this CA (PEM); turns TLS on
  --capath DIR          trust the .pem/.crt files in DIR; turns TLS on
  --cert FILE --key FILE  client certificate and key (PEM)
  --tls-use-os-certs    trust the system CAs (with --cafile: both); turns TLS on
  --tls-alpn PROTOCOL   TLS ALPN protocol
  --insecure            do not verify the server certificate at all (mosquitto only skips the host name check)
  -d                    debug: print each packet sent and received (to stderr, not stdout as mosquitto)
  --quiet               print no error messages
  --nodelay             accepted for mosquitto compatibility (Nagle's algorithm is always off)
  --help                show this help
`;
}

/** The parsed values of CONNECTION_OPTIONS, as parseArgs gives them. */
export type ConnectionValues = {
  readonly [K in keyof typeof CONNECTION_OPTIONS]?: (typeof CONNECTION_OPTIONS)[K]['type'] extends 'string'
    ? string | undefined
    : boolean | undefined;
};

// ---- the -D / --property pre-pass ------------------------------------------------------------------

export type PropertyCommand = 'connect' | 'publish' | 'subscribe' | 'unsubscribe' | 'disconnect' | 'will';
const COMMANDS: readonly PropertyCommand[] = ['connect', 'publish', 'subscribe', 'unsubscribe', 'disconnect', 'will'];

type PropertyType = 'byte' | 'bool' | 'uint16' | 'uint32' | 'varint' | 'utf8' | 'binary' | 'pair';

interface PropertySpec {
  /** The key in the protocol's property objects. */
  readonly key: string;
  readonly type: PropertyType;
  readonly commands: readonly PropertyCommand[];
  readonly min?: number;
  readonly max?: number;
}

/** mosquitto's property names (man mosquitto_pub, PROPERTIES) and where each may go. */
const PROPERTY_SPECS: ReadonlyMap<string, PropertySpec> = new Map<string, PropertySpec>([
  ['payload-format-indicator', { key: 'payloadFormatIndicator', type: 'byte', commands: ['publish', 'will'], max: 1 }],
  ['message-expiry-interval', { key: 'messageExpiryInterval', type: 'uint32', commands: ['publish', 'will'] }],
  ['content-type', { key: 'contentType', type: 'utf8', commands: ['publish', 'will'] }],
  ['response-topic', { key: 'responseTopic', type: 'utf8', commands: ['publish', 'will'] }],
  ['correlation-data', { key: 'correlationData', type: 'binary', commands: ['publish', 'will'] }],
  ['topic-alias', { key: 'topicAlias', type: 'uint16', commands: ['publish'], min: 1 }],
  ['subscription-identifier', { key: 'subscriptionIdentifier', type: 'varint', commands: ['subscribe'], min: 1 }],
  ['session-expiry-interval', { key: 'sessionExpiryInterval', type: 'uint32', commands: ['connect', 'disconnect'] }],
  ['authentication-method', { key: 'authenticationMethod', type: 'utf8', commands: ['connect'] }],
  ['authentication-data', { key: 'authenticationData', type: 'binary', commands: ['connect'] }],
  ['request-problem-information', { key: 'requestProblemInformation', type: 'bool', commands: ['connect'] }],
  ['request-response-information', { key: 'requestResponseInformation', type: 'bool', commands: ['connect'] }],
  ['receive-maximum', { key: 'receiveMaximum', type: 'uint16', commands: ['connect'], min: 1 }],
  ['topic-alias-maximum', { key: 'topicAliasMaximum', type: 'uint16', commands: ['connect'] }],
  ['maximum-packet-size', { key: 'maximumPacketSize', type: 'uint32', commands: ['connect'], min: 1 }],
  ['will-delay-interval', { key: 'willDelayInterval', type: 'uint32', commands: ['will'] }],
  ['user-property', { key: 'userProperties', type: 'pair', commands: COMMANDS }],
]);

/** The kebab-case name of a property key (`contentType` -> `content-type`), as -D and --json spell it. */
export function propertyName(key: string): string {
  if (key === 'userProperties') return 'user-property';
  if (key === 'subscriptionIdentifiers') return 'subscription-identifier';
  for (const [name, spec] of PROPERTY_SPECS) if (spec.key === key) return name;
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

export interface PropertyArg {
  readonly command: string;
  readonly identifier: string;
  readonly values: readonly string[];
}

/**
 * parseArgs cannot take `-D publish user-property key value` (three or four words), nor a value that
 * starts with a dash (`-x -1`, `-m -hot`). This pass lifts every -D/--property out of `argv` and rewrites
 * each string flag with its value as `--name=value`, so parseArgs sees nothing ambiguous.
 */
export function preparse(
  argv: readonly string[],
  options: Readonly<Record<string, OptionConfig>>,
): { args: string[]; properties: PropertyArg[] } {
  const stringFlags = new Map<string, string>();
  for (const [name, o] of Object.entries(options)) {
    if (o.type !== 'string') continue;
    stringFlags.set(`--${name}`, name);
    if (o.short !== undefined) stringFlags.set(`-${o.short}`, name);
  }
  const args: string[] = [];
  const properties: PropertyArg[] = [];
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i] as string;
    if (token === '--') {
      args.push(...argv.slice(i));
      break;
    }
    if (token === '-D' || token === '--property') {
      const command = argv[i + 1];
      const identifier = argv[i + 2];
      if (command === undefined || identifier === undefined) {
        throw new UsageError(`${token} needs a command, a property name and a value, e.g. "${token} publish content-type text/plain"`);
      }
      const count = identifier === 'user-property' ? 2 : 1;
      const values = argv.slice(i + 3, i + 3 + count);
      if (values.length < count) {
        throw new UsageError(
          identifier === 'user-property'
            ? `${token} ${command} user-property needs a name and a value, e.g. "${token} ${command} user-property key value"`
            : `${token} ${command} ${identifier} needs a value`,
        );
      }
      properties.push({ command, identifier, values });
      i += 2 + count;
      continue;
    }
    const name = stringFlags.get(token);
    const value = argv[i + 1];
    if (name !== undefined && value !== undefined) {
      args.push(`--${name}=${value}`);
      i++;
      continue;
    }
    args.push(token);
  }
  return { args, properties };
}

/** Properties by the packet they go in. */
export interface PropertySets {
  readonly connect?: ConnectProperties;
  readonly publish?: PublishProperties;
  readonly subscribe?: SubscribeProperties;
  readonly unsubscribe?: UnsubscribeProperties;
  readonly disconnect?: DisconnectProperties;
  readonly will?: WillProperties;
  /** The commands that were given, to warn about ones a tool does not use. */
  readonly commands: ReadonlySet<PropertyCommand>;
}

/** Checks each -D triple (command, name, type, range) and groups the values by packet. */
export function buildProperties(list: readonly PropertyArg[]): PropertySets {
  const sets = new Map<PropertyCommand, Record<string, unknown>>();
  for (const p of list) {
    const where = `-D ${p.command} ${p.identifier}`;
    const command = COMMANDS.find((c) => c === p.command);
    if (command === undefined) throw new UsageError(`${where}: unknown command "${p.command}"; use one of ${COMMANDS.join(', ')}`);
    const spec = PROPERTY_SPECS.get(p.identifier);
    if (spec === undefined) {
      throw new UsageError(`${where}: unknown property "${p.identifier}"; known: ${[...PROPERTY_SPECS.keys()].join(', ')}`);
    }
    if (!spec.commands.includes(command)) {
      throw new UsageError(`${where}: ${p.identifier} is not allowed in ${command}; it goes in ${spec.commands.join(', ')}`);
    }
    const target = sets.get(command) ?? {};
    sets.set(command, target);
    const [first = '', second = ''] = p.values;
    if (spec.type === 'pair') {
      const pairs = (target[spec.key] as UserProperty[] | undefined) ?? [];
      pairs.push([first, second]);
      target[spec.key] = pairs;
    } else if (target[spec.key] !== undefined) {
      throw new UsageError(`${where}: given twice; only user-property may repeat`);
    } else {
      target[spec.key] = propertyValue(where, spec, first);
    }
  }
  const get = (c: PropertyCommand) => sets.get(c);
  return {
    ...optional('connect', get('connect') as ConnectProperties | undefined),
    ...optional('publish', get('publish') as PublishProperties | undefined),
    ...optional('subscribe', get('subscribe') as SubscribeProperties | undefined),
    ...optional('unsubscribe', get('unsubscribe') as UnsubscribeProperties | undefined),
    ...optional('disconnect', get('disconnect') as DisconnectProperties | undefined),
    ...optional('will', get('will') as WillProperties | undefined),
    commands: new Set(sets.keys()),
  };
}

function propertyValue(where: string, spec: PropertySpec, text: string): unknown {
  switch (spec.type) {
    case 'utf8':
      return text;
    case 'binary':
      // As mosquitto: binary properties are given as text.
      return Buffer.from(text, 'utf8');
    case 'bool':
      if (text !== '0' && text !== '1') throw new UsageError(`${where}: expected 0 or 1, got "${text}"`);
      return text === '1';
    case 'byte':
      return integer(where, text, spec.min ?? 0, spec.max ?? 255);
    case 'uint16':
      return integer(where, text, spec.min ?? 0, spec.max ?? 65_535);
    case 'uint32':
      return integer(where, text, spec.min ?? 0, spec.max ?? 4_294_967_295);
    case 'varint':
      return integer(where, text, spec.min ?? 0, spec.max ?? 268_435_455);
    case 'pair':
      return text;
  }
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

// ---- small value parsers ---------------------------------------------------------------------------

/** A whole number in [min, max], or a UsageError naming the flag. */
export function integer(flag: string, text: string, min: number, max: number): number {
  if (!/^\d+$/.test(text.trim())) throw new UsageError(`${flag}: "${text}" is not a whole number`);
  const n = Number(text);
  if (n < min || n > max) throw new UsageError(`${flag}: ${text} is out of range (${min}..${max})`);
  return n;
}

export function parseQos(flag: string, text: string | undefined): QoS {
  if (text === undefined) return 0;
  if (text !== '0' && text !== '1' && text !== '2') throw new UsageError(`${flag}: invalid QoS "${text}"; use 0, 1 or 2`);
  return Number(text) as QoS;
}

export function parseVersion(text: string | undefined): ProtocolVersion {
  switch (text) {
    case undefined:
    case '5':
    case '5.0':
    case 'mqttv5':
      return 5;
    case '311':
    case '3.1.1':
    case 'mqttv311':
      return 4;
    case '31':
    case '3.1':
    case 'mqttv31':
      return 3;
    default:
      throw new UsageError(`-V: unknown protocol version "${text}"; use mqttv5 (5), mqttv311 (311) or mqttv31 (31)`);
  }
}

/** -x: seconds, or -1 / 4294967295 / ∞ for a session that never expires. */
function parseSessionExpiry(text: string): number {
  if (text === '-1' || text === '∞') return 4_294_967_295;
  return integer('-x', text, 0, 4_294_967_295);
}

// ---- -L URL -----------------------------------------------------------------------------------------

export interface UrlParts {
  readonly protocol: 'mqtt' | 'mqtts' | 'ws' | 'wss';
  readonly host: string;
  readonly port?: number;
  readonly username?: string;
  readonly password?: string;
  readonly topic?: string;
}

/**
 * `mqtt(s)://[username[:password]@]host[:port]/topic` (and ws/wss). Parsed by hand, not with URL: a
 * topic holds `#` and `+`, which a URL would take for a fragment.
 */
export function parseMqttUrl(text: string): UrlParts {
  const m = /^(mqtts?|wss?):\/\/(?:([^:@/]*)(?::([^@/]*))?@)?(\[[^\]]+\]|[^:/[\]]+)(?::(\d+))?(?:\/(.*))?$/.exec(text);
  if (m === null) throw new UsageError(`-L: "${text}" is not of the form mqtt(s)://[username[:password]@]host[:port]/topic`);
  const [, scheme, user, pass, host = '', port, topic] = m;
  return {
    protocol: scheme as UrlParts['protocol'],
    host: host.replace(/^\[|\]$/g, ''),
    ...(port === undefined ? {} : { port: integer('-L port', port, 1, 65_535) }),
    ...(user === undefined || user === '' ? {} : { username: decodeURIComponent(user) }),
    ...(pass === undefined ? {} : { password: decodeURIComponent(pass) }),
    ...(topic === undefined || topic === '' ? {} : { topic }),
  };
}

// ---- flags -> ClientOptions ------------------------------------------------------------------------

export interface Connection {
  readonly options: ClientOptions;
  readonly version: ProtocolVersion;
  /** The topic of -L, if it named one. */
  readonly urlTopic?: string;
  /** host:port, for messages. */
  readonly target: string;
}

/** Turns the shared flags and -D properties into ClientOptions; every problem is a UsageError. */
export function connectionOptions(v: ConnectionValues, props: PropertySets, extra: Partial<ClientOptions> = {}): Connection {
  const version = parseVersion(v['protocol-version']);
  const url = v.url === undefined ? undefined : parseMqttUrl(v.url);
  if ((v.cert === undefined) !== (v.key === undefined)) throw new UsageError('--cert and --key must be given together');
  // As mosquitto: a CA or client certificate turns TLS on; --insecure alone does not.
  const wantsTls = v.cafile !== undefined || v.capath !== undefined || v.cert !== undefined || v['tls-use-os-certs'] === true;
  const protocol = url?.protocol ?? (wantsTls ? 'mqtts' : 'mqtt');
  const secure = protocol === 'mqtts' || protocol === 'wss';
  const host = v.host ?? url?.host ?? 'localhost';
  const port = v.port === undefined ? url?.port : integer('-p', v.port, 1, 65_535);
  const username = v.username ?? url?.username;
  const password = v.password ?? url?.password;
  if (password !== undefined && username === undefined && version !== 5) {
    throw new UsageError('-P needs -u as well: MQTT 3.1.x does not allow a password without a user name');
  }
  const persistent = v['disable-clean-session'] === true;
  let clientId = v.id;
  if (clientId === undefined && v['id-prefix'] !== undefined) clientId = `${v['id-prefix']}${process.pid}`;
  if (clientId !== undefined && clientId.length > 65_535) throw new UsageError('-i: the client id is longer than 65535 bytes');
  if (persistent && clientId === undefined) throw new UsageError('You must provide a client id (-i) if you are using the -c option.');
  const keepAlive = v.keepalive === undefined ? 60 : integer('-k', v.keepalive, 0, 65_535);

  let connect: ConnectProperties | undefined = props.connect;
  if (version === 5) {
    // -x, else -D connect session-expiry-interval, else "never" with -c (as mosquitto), else 0.
    const given = v['session-expiry'] === undefined ? connect?.sessionExpiryInterval : parseSessionExpiry(v['session-expiry']);
    const expiry = given ?? (persistent ? 4_294_967_295 : undefined);
    if (expiry === 4_294_967_295 && clientId === undefined) {
      throw new UsageError('You must provide a client id (-i) if you are using an infinite session expiry interval.');
    }
    if (expiry !== undefined) connect = { ...connect, sessionExpiryInterval: expiry };
  }

  const will = willOptions(v, version === 5 ? props.will : undefined);
  const options: ClientOptions = {
    protocolVersion: version,
    protocol,
    host,
    ...(port === undefined ? {} : { port }),
    ...(clientId === undefined ? {} : { clientId }),
    clean: !persistent,
    keepAlive,
    ...(username === undefined ? {} : { username }),
    ...(password === undefined ? {} : { password }),
    ...(will === undefined ? {} : { will }),
    ...(connect === undefined || version !== 5 ? {} : { properties: connect }),
    ...(secure ? { tls: tlsOptions(v) } : {}),
    ...extra,
  };
  const shownPort = port ?? (protocol === 'mqtts' ? 8883 : protocol === 'ws' ? 80 : protocol === 'wss' ? 443 : 1883);
  return {
    options,
    version,
    target: `${protocol}://${host.includes(':') ? `[${host}]` : host}:${shownPort}`,
    ...(url?.topic === undefined ? {} : { urlTopic: url.topic }),
  };
}

function willOptions(v: ConnectionValues, properties: WillProperties | undefined): WillOptions | undefined {
  const topic = v['will-topic'];
  if (topic === undefined) {
    if (v['will-payload'] !== undefined || v['will-qos'] !== undefined || v['will-retain'] === true) {
      throw new UsageError('--will-payload, --will-qos and --will-retain need --will-topic');
    }
    return undefined;
  }
  if (topic === '' || topic.includes('+') || topic.includes('#')) {
    throw new UsageError(`Invalid will topic '${topic}', does it contain '+' or '#'?`);
  }
  return {
    topic,
    payload: v['will-payload'] ?? '',
    qos: parseQos('--will-qos', v['will-qos']),
    retain: v['will-retain'] === true,
    ...(properties === undefined ? {} : { properties }),
  };
}

/** TLS settings from --cafile/--capath/--cert/--key/--insecure/--tls-alpn. */
function tlsOptions(v: ConnectionValues): TlsOptions {
  const ca: string[] = [];
  if (v.cafile !== undefined) ca.push(readText('--cafile', v.cafile));
  if (v.capath !== undefined) {
    let names: string[];
    try {
      names = readdirSync(v.capath).filter((n) => /\.(pem|crt)$/i.test(n));
    } catch (err) {
      throw new UsageError(`--capath: cannot read directory "${v.capath}": ${(err as Error).message}`);
    }
    for (const n of names) ca.push(readText('--capath', join(v.capath, n)));
  }
  // Node replaces the system CAs with `ca`; --tls-use-os-certs keeps them as well.
  if (ca.length > 0 && v['tls-use-os-certs'] === true) ca.push(...rootCertificates);
  return {
    ...(ca.length > 0 ? { ca } : {}),
    ...(v.cert === undefined ? {} : { cert: readText('--cert', v.cert) }),
    ...(v.key === undefined ? {} : { key: readText('--key', v.key) }),
    ...(v.insecure === true ? { rejectUnauthorized: false } : {}),
    ...(v['tls-alpn'] === undefined ? {} : { alpnProtocols: [v['tls-alpn']] }),
  };
}

function readText(flag: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`${flag}: cannot read "${path}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** Warns (stderr) about -D commands this tool never sends, and about properties under MQTT 3.1.x. */
export function propertyWarnings(props: PropertySets, used: readonly PropertyCommand[], version: ProtocolVersion, tool: string): string[] {
  const out: string[] = [];
  if (props.commands.size > 0 && version !== 5) {
    out.push(`Warning: -D properties need MQTT 5 (-V mqttv5); they are ignored with MQTT ${version === 4 ? '3.1.1' : '3.1'}.`);
    return out;
  }
  for (const c of props.commands) {
    if (!used.includes(c)) out.push(`Warning: ${tool} sends no ${c.toUpperCase()} packet, so "-D ${c} ..." has no effect.`);
  }
  return out;
}
