import type { Buffer } from 'node:buffer';
import type { ClientError } from '../../../src/client/errors.js';
import {
  ClientState,
  type PublishResult,
  type StateOptions,
  type StateOutput,
  type StoredPublish,
  type SubscribeResult,
  type Token,
  type UnsubscribeResult,
} from '../../../src/client/state.js';
import {
  type ConnackPacket,
  type ConnackProperties,
  type Packet,
  type PacketOf,
  PacketType,
  type ProtocolVersion,
  type PublishPacket,
  packetTypeNames,
} from '../../../src/protocol/index.js';

type Result = PublishResult | SubscribeResult | UnsubscribeResult | undefined;

/**
 * A StateOutput that records everything ClientState decides, for tests without sockets or timers.
 * `sent` keeps each packet with the bytes it was encoded to, so tests can check flags on the wire.
 */
export class Recorder implements StateOutput {
  readonly sent: { readonly packet: Packet; readonly bytes: Buffer }[] = [];
  readonly received: PublishPacket[] = [];
  readonly results = new Map<Token, Result>();
  readonly errors = new Map<Token, ClientError>();
  readonly persisted = new Map<number, StoredPublish>();
  readonly forgotten: number[] = [];

  send(bytes: Buffer, packet: Packet): void {
    this.sent.push({ packet, bytes });
  }

  receive(message: PublishPacket): void {
    this.received.push(message);
  }

  settle(token: Token, result: Result, error?: ClientError): void {
    if (this.results.has(token) || this.errors.has(token)) throw new Error(`token ${token} settled twice`);
    if (error !== undefined) this.errors.set(token, error);
    else this.results.set(token, result);
  }

  persist(message: StoredPublish): void {
    this.persisted.set(message.key, message);
  }

  forget(key: number): void {
    this.forgotten.push(key);
    this.persisted.delete(key);
  }

  /** Packets sent since the last take(), which are then cleared. */
  take(): Packet[] {
    const packets = this.sent.map((s) => s.packet);
    this.sent.length = 0;
    return packets;
  }

  /** Packets of one type sent since the last take() (without clearing). */
  ofType<T extends PacketType>(type: T): PacketOf<T>[] {
    return this.sent.flatMap((s) => (s.packet.type === type ? [s.packet as PacketOf<T>] : []));
  }

  /** Names of the packets sent since the last take(), e.g. "PUBLISH 1, PUBREL 2". */
  names(): string {
    return this.sent.map((s) => `${packetTypeNames[s.packet.type]}${'packetId' in s.packet ? ` ${s.packet.packetId}` : ''}`).join(', ');
  }

  settled(token: Token): boolean {
    return this.results.has(token) || this.errors.has(token);
  }

  result(token: Token): Result {
    if (!this.results.has(token))
      throw new Error(`token ${token} not resolved${this.errors.has(token) ? `: ${this.errors.get(token)?.message}` : ''}`);
    return this.results.get(token);
  }

  error(token: Token): ClientError {
    const e = this.errors.get(token);
    if (e === undefined) throw new Error(`token ${token} not rejected`);
    return e;
  }
}

export function makeState(
  version: ProtocolVersion = 5,
  options: Partial<Omit<StateOptions, 'version'>> = {},
): { state: ClientState; out: Recorder } {
  const out = new Recorder();
  const state = new ClientState(
    {
      version,
      maxQueued: 1000,
      queueQos0: true,
      autoTopicAlias: false,
      resubscribe: true,
      receiveMaximum: 65_535,
      topicAliasMaximum: 0,
      ...options,
    },
    out,
  );
  return { state, out };
}

export function connack(properties?: ConnackProperties, sessionPresent = false): ConnackPacket {
  return { type: PacketType.Connack, sessionPresent, reasonCode: 0, ...(properties === undefined ? {} : { properties }) };
}
