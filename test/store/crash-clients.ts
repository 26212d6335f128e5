import type { Buffer } from 'node:buffer';
import { connect as netConnect, type Socket } from 'node:net';
import {
  type ConnackPacket,
  encodePacket,
  Framer,
  type Packet,
  PacketType,
  type ProtocolVersion,
  type PublishPacket,
  type QoS,
} from '../../src/protocol/index.js';

/**
 * Clients for the crash tests: each keeps the session state MQTT asks of a client (what it sent and has
 * not had acknowledged, the QoS 2 identifiers it received and has not had released) across connections,
 * and resends per [MQTT-4.4.0-1] when its session is resumed. They run in the test process while the
 * broker is killed under them, and record what happened for the final accounting.
 */

/** One TCP connection speaking MQTT packets; nothing of the session. */
class Wire {
  open = true;
  private readonly framer: Framer;

  private constructor(
    private readonly socket: Socket,
    private readonly version: ProtocolVersion,
    onPacket: (p: Packet) => void,
    onClose: () => void,
  ) {
    this.framer = new Framer({ protocolVersion: version });
    socket.on('data', (chunk: Buffer) => {
      try {
        this.framer.push(chunk, onPacket);
      } catch {
        socket.destroy();
      }
    });
    const closed = () => {
      if (!this.open) return;
      this.open = false;
      onClose();
    };
    socket.on('close', closed);
    socket.on('error', closed);
  }

  static open(port: number, version: ProtocolVersion, onPacket: (p: Packet) => void, onClose: () => void): Promise<Wire> {
    return new Promise((resolve, reject) => {
      const socket = netConnect({ host: '127.0.0.1', port });
      socket.setNoDelay(true);
      socket.once('connect', () => resolve(new Wire(socket, version, onPacket, onClose)));
      socket.once('error', reject);
    });
  }

  send(p: Packet): void {
    if (this.open) this.socket.write(encodePacket(p, this.version));
  }

  end(): void {
    this.socket.destroy();
  }
}

/** A client with a session that outlives its connections (v5 Session Expiry 3600, v3.1.1 Clean Session 0). */
abstract class DurableClient {
  protected wire: Wire | undefined;
  private connack: ((p: ConnackPacket) => void) | undefined;
  /** CONNACKs received. */
  connects = 0;
  /** Problems seen (a session lost, a refused acknowledgement...): the test fails if any. */
  readonly anomalies: string[] = [];

  constructor(
    readonly clientId: string,
    readonly version: ProtocolVersion,
  ) {}

  get online(): boolean {
    return this.wire?.open === true;
  }

  /** Connects and resumes the session; returns Session Present. */
  async connect(port: number, timeoutMs = 5000): Promise<boolean> {
    const wire = await Wire.open(
      port,
      this.version,
      (p) => this.packet(p),
      () => {
        if (this.wire === wire) this.wire = undefined;
        this.closed();
      },
    );
    this.wire = wire;
    const ack = await new Promise<ConnackPacket>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.clientId}: no CONNACK within ${timeoutMs} ms`)), timeoutMs);
      this.connack = (p) => {
        clearTimeout(timer);
        resolve(p);
      };
      wire.send({
        type: PacketType.Connect,
        protocolVersion: this.version,
        clientId: this.clientId,
        clean: false,
        keepAlive: 0,
        ...(this.version === 5 ? { properties: { sessionExpiryInterval: 3600, ...this.connectProperties() } } : {}),
      });
    });
    if (ack.reasonCode !== 0) throw new Error(`${this.clientId}: CONNACK ${ack.reasonCode}`);
    if (this.connects > 0 && !ack.sessionPresent) this.anomalies.push(`session lost at connect ${this.connects + 1}`);
    this.connects++;
    this.resumed(ack.sessionPresent);
    return ack.sessionPresent;
  }

  /** Closes the connection with DISCONNECT (the session stays). */
  leave(): void {
    this.wire?.send({ type: PacketType.Disconnect, reasonCode: 0 });
    this.wire?.end();
    this.wire = undefined;
  }

  protected connectProperties(): Record<string, number> {
    return {};
  }

  private packet(p: Packet): void {
    if (p.type === PacketType.Connack) {
      this.connack?.(p);
      this.connack = undefined;
      return;
    }
    if (p.type === PacketType.Disconnect && p.reasonCode !== 0x8b) this.anomalies.push(`DISCONNECT 0x${p.reasonCode.toString(16)}`);
    this.handle(p);
  }

  protected abstract handle(p: Packet): void;
  protected abstract resumed(present: boolean): void;
  protected closed(): void {
    // Nothing by default.
  }
}

interface Outgoing {
  readonly n: number;
  state: 'publish' | 'pubrel';
}

/**
 * Publishes numbered messages (`id:n`, n = 1, 2, ...) to its own topic at one QoS, a window of them in
 * flight at a time, and records which numbers the broker acknowledged (PUBACK for QoS 1, PUBREC for QoS 2).
 */
export class Publisher extends DurableClient {
  readonly topic: string;
  /** The last number handed out. */
  last = 0;
  readonly acked = new Set<number>();
  /** Numbers that were unacknowledged when the broker was killed: a QoS 1 resend may deliver them twice. */
  readonly uncertain = new Set<number>();
  private readonly inflight = new Map<number, Outgoing>();
  /** PUBREL packets sent again after a reconnect: the broker may have completed them just before it died. */
  private readonly releasedAgain = new Set<number>();
  private nextPacketId = 1;
  private running = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    clientId: string,
    version: ProtocolVersion,
    readonly qos: 1 | 2,
    private readonly window: number,
    private readonly random: () => number,
  ) {
    super(clientId, version);
    this.topic = `crash/${clientId}`;
  }

  get pending(): number {
    return this.inflight.size;
  }

  /** Sends new numbers, a few at a time, until `stop` (or the connection goes). */
  start(): void {
    this.running = true;
    this.tick();
  }

  /** No new numbers; what is in flight is still completed. */
  stop(): void {
    this.running = false;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** The broker is about to die: what is unacknowledged now may reach subscribers twice (QoS 1). */
  markUncertain(): void {
    for (const o of this.inflight.values()) this.uncertain.add(o.n);
  }

  private readonly tick = (): void => {
    this.timer = undefined;
    if (!this.running) return;
    const wire = this.wire;
    if (wire !== undefined) {
      const burst = 1 + Math.floor(this.random() * 2);
      for (let i = 0; i < burst && this.inflight.size < this.window; i++) {
        const n = ++this.last;
        const id = this.allocate();
        this.inflight.set(id, { n, state: 'publish' });
        wire.send(this.publishPacket(id, n, false));
      }
    }
    this.timer = setTimeout(this.tick, 2 + Math.floor(this.random() * 5));
  };

  private allocate(): number {
    let id = this.nextPacketId;
    while (this.inflight.has(id)) id = id === 65_535 ? 1 : id + 1;
    this.nextPacketId = id === 65_535 ? 1 : id + 1;
    return id;
  }

  private publishPacket(packetId: number, n: number, dup: boolean): PublishPacket {
    return {
      type: PacketType.Publish,
      topic: this.topic,
      payload: globalThis.Buffer.from(`${this.clientId}:${n}`),
      qos: this.qos,
      retain: false,
      dup,
      packetId,
    };
  }

  protected resumed(present: boolean): void {
    if (!present && this.connects > 1) {
      // The session is gone (an anomaly, already recorded): what was unacknowledged is sent as new.
      for (const [id, o] of this.inflight) if (o.state === 'publish') this.wire?.send(this.publishPacket(id, o.n, false));
      return;
    }
    // [MQTT-4.4.0-1] Unacknowledged PUBLISH packets again with DUP 1, PUBREL packets again, in order.
    for (const [id, o] of this.inflight) {
      if (o.state === 'publish') {
        this.wire?.send(this.publishPacket(id, o.n, true));
      } else {
        this.releasedAgain.add(id);
        this.wire?.send({ type: PacketType.Pubrel, packetId: id, reasonCode: 0 });
      }
    }
  }

  protected handle(p: Packet): void {
    switch (p.type) {
      case PacketType.Puback: {
        const o = this.inflight.get(p.packetId);
        if (o === undefined || this.qos !== 1) return;
        if (p.reasonCode >= 0x80) this.anomalies.push(`PUBACK 0x${p.reasonCode.toString(16)} for ${o.n}`);
        this.acked.add(o.n);
        this.inflight.delete(p.packetId);
        return;
      }
      case PacketType.Pubrec: {
        const o = this.inflight.get(p.packetId);
        if (o === undefined || this.qos !== 2) return;
        if (p.reasonCode >= 0x80) this.anomalies.push(`PUBREC 0x${p.reasonCode.toString(16)} for ${o.n}`);
        this.acked.add(o.n);
        o.state = 'pubrel';
        this.wire?.send({ type: PacketType.Pubrel, packetId: p.packetId, reasonCode: 0 });
        return;
      }
      case PacketType.Pubcomp: {
        const o = this.inflight.get(p.packetId);
        if (o === undefined || o.state !== 'pubrel') return;
        // 0x92: the broker completed the flow before it died and forgot the identifier, as it should.
        const forgotten = p.reasonCode === 0x92 && this.releasedAgain.has(p.packetId);
        if (p.reasonCode !== 0 && !forgotten) this.anomalies.push(`PUBCOMP 0x${p.reasonCode.toString(16)} for ${o.n}`);
        this.releasedAgain.delete(p.packetId);
        this.inflight.delete(p.packetId);
        return;
      }
      default:
        return;
    }
  }
}

/** One message as a subscriber's application saw it. */
export interface Received {
  readonly publisher: string;
  readonly n: number;
  readonly qos: QoS;
  readonly dup: boolean;
  /** How many times the broker had been started when it arrived (1 = first run). */
  readonly epoch: number;
}

/**
 * Subscribes to `crash/#` at QoS 2 and hands each message to its "application" (the `received` list)
 * once per delivery: QoS 1 every time it comes, QoS 2 once per Packet Identifier until PUBREL (the
 * receiver's side of [MQTT-4.3.3-10], kept across reconnects as the session is). It may hold its
 * acknowledgements back for a while (`ackDelay`), so that messages are in flight when the broker dies.
 */
export class Subscriber extends DurableClient {
  readonly received: Received[] = [];
  /** Inbound QoS 2 identifiers awaiting PUBREL. */
  private readonly awaiting = new Set<number>();
  private held: Packet[] = [];
  private ackTimer: NodeJS.Timeout | undefined;
  subscribed = false;

  constructor(
    clientId: string,
    version: ProtocolVersion,
    private readonly epoch: () => number,
    private readonly ackDelay = 0,
    private readonly receiveMaximum?: number,
  ) {
    super(clientId, version);
  }

  protected override connectProperties(): Record<string, number> {
    return this.receiveMaximum === undefined ? {} : { receiveMaximum: this.receiveMaximum };
  }

  async subscribe(filter: string, timeoutMs = 5000): Promise<void> {
    const wire = this.wire;
    if (wire === undefined) throw new Error(`${this.clientId} is not connected`);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.clientId}: no SUBACK within ${timeoutMs} ms`)), timeoutMs);
      this.suback = (codes) => {
        clearTimeout(timer);
        if (codes.some((c) => c >= 0x80)) reject(new Error(`${this.clientId}: SUBACK ${codes.join(',')}`));
        else resolve();
      };
      wire.send({
        type: PacketType.Subscribe,
        packetId: 1,
        subscriptions: [{ topicFilter: filter, qos: 2, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
      });
    });
    this.subscribed = true;
  }

  private suback: ((codes: readonly number[]) => void) | undefined;

  /** Numbers received from one publisher, in order of arrival (duplicates included). */
  from(publisher: string): number[] {
    return this.received.filter((r) => r.publisher === publisher).map((r) => r.n);
  }

  protected override resumed(present: boolean): void {
    // Without a session there is nothing awaiting PUBREL any more.
    if (!present) this.awaiting.clear();
  }

  protected override closed(): void {
    // Acknowledgements not sent are lost with the connection: the broker sends those messages again.
    this.held = [];
    if (this.ackTimer !== undefined) clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
  }

  protected handle(p: Packet): void {
    switch (p.type) {
      case PacketType.Suback:
        this.suback?.(p.reasonCodes);
        this.suback = undefined;
        return;
      case PacketType.Publish:
        this.onPublish(p);
        return;
      case PacketType.Pubrel:
        this.awaiting.delete(p.packetId);
        this.ack({ type: PacketType.Pubcomp, packetId: p.packetId, reasonCode: 0 });
        return;
      default:
        return;
    }
  }

  private onPublish(p: PublishPacket): void {
    const id = p.packetId ?? 0;
    if (p.qos === 2 && this.awaiting.has(id)) {
      // Still awaiting PUBREL for this identifier: the same message again, not a new one.
      if (!p.dup) this.anomalies.push(`PUBLISH with identifier ${id} awaiting PUBREL but DUP 0`);
      this.ack({ type: PacketType.Pubrec, packetId: id, reasonCode: 0 });
      return;
    }
    const text = p.payload.toString();
    const colon = text.lastIndexOf(':');
    this.received.push({ publisher: text.slice(0, colon), n: Number(text.slice(colon + 1)), qos: p.qos, dup: p.dup, epoch: this.epoch() });
    if (p.qos === 1) this.ack({ type: PacketType.Puback, packetId: id, reasonCode: 0 });
    if (p.qos === 2) {
      this.awaiting.add(id);
      this.ack({ type: PacketType.Pubrec, packetId: id, reasonCode: 0 });
    }
  }

  /** Acknowledgements go in the order the messages came ([MQTT-4.6.0-2], [MQTT-4.6.0-3]), maybe a little later. */
  private ack(p: Packet): void {
    if (this.ackDelay === 0) {
      this.wire?.send(p);
      return;
    }
    this.held.push(p);
    if (this.ackTimer === undefined) {
      this.ackTimer = setTimeout(() => {
        this.ackTimer = undefined;
        const held = this.held;
        this.held = [];
        for (const q of held) this.wire?.send(q);
      }, this.ackDelay);
    }
  }
}

/** A small seeded generator (mulberry32): the same seed gives the same run of numbers. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
