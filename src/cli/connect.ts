import { ClientError, MqttClient, nodeDialer } from '../client/index.js';
import { type ConnackPacket, PacketType, type ProtocolVersion, ReasonCode, reasonCodeName } from '../protocol/index.js';
import { type Connection, EXIT_ERROR, UsageError } from './mqtt-options.js';
import { describePacket } from './output.js';

/**
 * Connecting for `mozzie pub` and `mozzie sub`, and turning every failure into a message and an exit
 * code in one place: a refused CONNECT exits with its CONNACK code (as mosquitto_pub/sub), bad flags
 * and everything else with 1.
 */

/** A failure to report: the line(s) for stderr and the exit code. */
export class CliFailure extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

/** mosquitto_connack_string() for MQTT 3.1 / 3.1.1 return codes, so scripts grepping for them still match. */
const V3_CONNACK_TEXT = [
  'Connection Accepted.',
  'Connection Refused: unacceptable protocol version.',
  'Connection Refused: identifier rejected.',
  'Connection Refused: broker unavailable.',
  'Connection Refused: bad user name or password.',
  'Connection Refused: not authorised.',
];

/** The text after "Connection error: " for a refused CONNECT. */
export function connackText(code: number, version: ProtocolVersion, reasonString?: string): string {
  if (version !== 5) return V3_CONNACK_TEXT[code] ?? 'Connection Refused: unknown reason.';
  const name = reasonCodeName(code, PacketType.Connack, 5);
  const hint =
    code === ReasonCode.UnsupportedProtocolVersion ? '. Try connecting to an MQTT v5 broker, or use MQTT v3.x mode (-V mqttv311)' : '';
  return `${name}${hint}${reasonString === undefined ? '' : ` (${reasonString})`}`;
}

/** Maps a connection failure to its message and exit code: the CONNACK code when refused, else 1. */
export function connectFailure(err: unknown, conn: Connection, connack: ConnackPacket | undefined): CliFailure {
  if (err instanceof ClientError) {
    if (err.code === 'CONNECTION_REFUSED' && err.reasonCode !== undefined) {
      return new CliFailure(
        `Connection error: ${connackText(err.reasonCode, conn.version, connack?.properties?.reasonString)}`,
        err.reasonCode,
      );
    }
    if (err.code === 'DIAL_FAILED') {
      const code = (err.cause as NodeJS.ErrnoException | undefined)?.code;
      if (code === 'ECONNREFUSED') return new CliFailure(`Error: Connection refused: is a broker listening on ${conn.target}?`, EXIT_ERROR);
      if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
        return new CliFailure(`Error: Unable to connect (lookup error): host "${conn.options.host ?? ''}" not found`, EXIT_ERROR);
      }
    }
    return new CliFailure(`Error: ${err.message}`, EXIT_ERROR);
  }
  return new CliFailure(`Error: ${err instanceof Error ? err.message : String(err)}`, EXIT_ERROR);
}

/**
 * Creates the client, hooks debug tracing before the first packet goes out, and connects. Resolves at
 * CONNACK; a refusal or network failure becomes a CliFailure with the exit code to use.
 */
export async function openClient(
  conn: Connection,
  trace: ((line: string) => void) | undefined,
  setup?: (client: MqttClient) => void,
): Promise<MqttClient> {
  const client = new MqttClient(undefined, conn.options, nodeDialer);
  // Listeners go on before CONNECT: a resumed session's messages can arrive in CONNACK's own read.
  setup?.(client);
  let connack: ConnackPacket | undefined;
  client.on('packetreceive', (p) => {
    if (p.type === PacketType.Connack) connack = p;
  });
  if (trace !== undefined) {
    const id = () => (client.clientId === '' ? '(null)' : client.clientId);
    client.on('packetsend', (p) => {
      for (const line of describePacket('sending', p)) trace(`Client ${id()} ${line}`);
    });
    client.on('packetreceive', (p) => {
      for (const line of describePacket('received', p)) trace(`Client ${id()} ${line}`);
    });
  }
  try {
    await client.start();
  } catch (err) {
    await client.end({ force: true });
    throw connectFailure(err, conn, connack);
  }
  return client;
}

/** Prints a failure (unless --quiet) and gives the exit code; never throws. */
export function report(err: unknown, tool: string, quiet: boolean): number {
  const write = (s: string) => {
    if (!quiet) process.stderr.write(s);
  };
  if (err instanceof UsageError) {
    write(`Error: ${err.message}\nUse 'mozzie ${tool} --help' to see usage.\n`);
    return EXIT_ERROR;
  }
  if (err instanceof CliFailure) {
    write(`${err.message}\n`);
    return err.exitCode;
  }
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const message = err instanceof Error ? err.message : String(err);
  if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) {
    // node:util parseArgs: keep its first sentence ("Unknown option '--bogus'").
    write(`Error: ${message.split(/\.\s|\n/)[0] ?? ''}.\nUse 'mozzie ${tool} --help' to see usage.\n`);
    return EXIT_ERROR;
  }
  write(`Error: ${message}\n`);
  return EXIT_ERROR;
}
