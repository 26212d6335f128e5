import { Buffer } from 'node:buffer';
import { connect as netConnect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import {
  type ConnackPacket,
  type ConnectPacket,
  encodePacket,
  Framer,
  type Packet,
  type PacketOf,
  PacketType,
  type ProtocolVersion,
  packetTypeNames,
} from '../../src/protocol/index.js';

/**
 * A packet-level MQTT client for tests: it sends exactly the packets (or raw bytes) a test gives it and
 * records every packet the server sends, so tests can assert the byte-level conversation. It does no
 * protocol work of its own (no automatic acks, no keep alive).
 */
export class PacketClient {
  readonly received: Packet[] = [];
  private readonly framer: Framer;
  private waiters: { match: (p: Packet) => boolean; resolve: (p: Packet) => void }[] = [];
  private closeWaiters: (() => void)[] = [];
  private _closed = false;
  /** A decode error from the server's bytes, if any (the server sent something malformed). */
  decodeError: unknown;

  constructor(
    readonly stream: Duplex,
    readonly version: ProtocolVersion = 5,
  ) {
    this.framer = new Framer({ protocolVersion: version });
    stream.on('data', (chunk: Buffer) => {
      try {
        this.framer.push(chunk, (p) => this.onPacket(p));
      } catch (err) {
        this.decodeError = err;
      }
    });
    const onEnd = () => {
      if (this._closed) return;
      this._closed = true;
      for (const w of this.closeWaiters) w();
      this.closeWaiters = [];
    };
    stream.on('close', onEnd);
    stream.on('end', onEnd);
    stream.on('error', () => onEnd());
  }

  /** Opens a TCP connection to 127.0.0.1:port. */
  static async tcp(port: number, version: ProtocolVersion = 5): Promise<PacketClient> {
    const socket: Socket = netConnect({ host: '127.0.0.1', port });
    socket.setNoDelay(true);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new PacketClient(socket, version);
  }

  get closed(): boolean {
    return this._closed;
  }

  private onPacket(p: Packet): void {
    this.received.push(p);
    const i = this.waiters.findIndex((w) => w.match(p));
    if (i >= 0) {
      const [w] = this.waiters.splice(i, 1);
      w?.resolve(p);
    }
  }

  send(packet: Packet): void {
    this.stream.write(encodePacket(packet, this.version));
  }

  sendRaw(bytes: Buffer | readonly number[]): void {
    this.stream.write(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes));
  }

  /**
   * Waits for the next packet of a type not yet consumed by an earlier `expect`. Packets received before
   * the call count. Rejects after `timeoutMs`.
   */
  expect<T extends PacketType>(type: T, timeoutMs = 2000, match: (p: PacketOf<T>) => boolean = () => true): Promise<PacketOf<T>> {
    const test = (p: Packet): boolean => p.type === type && match(p as PacketOf<T>);
    const index = this.received.findIndex((p) => test(p) && !this.consumed.has(p));
    if (index >= 0) {
      const p = this.received[index] as PacketOf<T>;
      this.consumed.add(p);
      return Promise.resolve(p);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        reject(
          new Error(
            `no ${packetTypeNames[type]} within ${timeoutMs} ms; received: ${this.received.map((p) => packetTypeNames[p.type]).join(', ') || 'nothing'}`,
          ),
        );
      }, timeoutMs);
      const done = (p: Packet) => {
        clearTimeout(timer);
        this.consumed.add(p);
        resolve(p as PacketOf<T>);
      };
      this.waiters.push({ match: test, resolve: done });
    });
  }

  private readonly consumed = new Set<Packet>();

  /** Resolves true if nothing of `type` (not yet consumed) arrives within `ms`. */
  async expectNone(type: PacketType, ms = 200): Promise<boolean> {
    await new Promise((r) => setTimeout(r, ms));
    return !this.received.some((p) => p.type === type && !this.consumed.has(p));
  }

  /** Waits until the server closes the connection. */
  waitClosed(timeoutMs = 2000): Promise<void> {
    if (this._closed) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`connection still open after ${timeoutMs} ms`)), timeoutMs);
      this.closeWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Sends CONNECT and waits for CONNACK. */
  async connect(fields: Partial<Omit<ConnectPacket, 'type'>> = {}, timeoutMs = 2000): Promise<ConnackPacket> {
    this.send({ type: PacketType.Connect, protocolVersion: this.version, clientId: '', clean: true, keepAlive: 0, ...fields });
    return this.expect(PacketType.Connack, timeoutMs);
  }

  end(): void {
    this.stream.end();
    this.stream.destroy();
  }
}
