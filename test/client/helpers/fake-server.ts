import type { Buffer } from 'node:buffer';
import { createServer, type Server, type Socket } from 'node:net';
import type { TestContext } from 'node:test';
import {
  type ConnackPacket,
  type ConnackProperties,
  type ConnectPacket,
  encodePacket,
  Framer,
  type Packet,
  PacketType,
  type ProtocolVersion,
  type PublishPacket,
  ReasonCode,
  type SubscribePacket,
} from '../../../src/protocol/index.js';
import { waitUntil } from '../../helpers/child.js';

/**
 * Points in the server's side of a QoS 1 / QoS 2 flow where a fault can be injected. The server uses
 * Method B for QoS 2 (deliver at PUBLISH, keep the Packet Identifier until PUBREL), so "delivered" below
 * means handed to the server's application.
 */
export type Step =
  /** A QoS 1/2 PUBLISH arrived; nothing was done with it. */
  | 'publish-received'
  /** QoS 1 delivered; PUBACK not sent. */
  | 'before-puback'
  /** PUBACK sent. */
  | 'after-puback'
  /** QoS 2 delivered (or recognised as a duplicate); PUBREC not sent. */
  | 'before-pubrec'
  /** PUBREC sent. */
  | 'after-pubrec'
  /** PUBREL arrived; nothing was done with it. */
  | 'pubrel-received'
  /** The Packet Identifier was released; PUBCOMP not sent. */
  | 'before-pubcomp'
  /** PUBCOMP sent. */
  | 'after-pubcomp';

/**
 * What happens at a step: 'drop' closes the connection at once (a packet just sent is still flushed);
 * 'disconnect' sends DISCONNECT with `reasonCode` (5.0) and closes.
 */
export interface Fault {
  readonly step: Step;
  /** Only for the flow of this payload (default: the first flow that reaches the step). */
  readonly payload?: string;
  readonly action?: 'drop' | 'disconnect';
  readonly reasonCode?: number;
}

export interface ConnectContext {
  readonly connect: ConnectPacket;
  /** 1 for the first CONNECT this server receives, 2 for the next... */
  readonly attempt: number;
  /** Whether the server holds a session for this Client Identifier (and Clean Start is 0). */
  readonly sessionPresent: boolean;
}

export interface FakeServerOptions {
  /** Each fires once, at the first flow that matches. */
  readonly faults?: readonly Fault[];
  /** Decides the CONNACK: a packet, 'silent' (never answer) or 'drop' (close). Default: accept. */
  readonly connack?: (ctx: ConnectContext) => ConnackPacket | 'silent' | 'drop' | undefined;
  /** Properties of accepting CONNACKs (5.0). */
  readonly connackProperties?: ConnackProperties;
  /** Milliseconds to wait before each PUBACK, PUBREC and PUBCOMP ('before-...' faults fire after the wait). */
  readonly ackDelayMs?: number;
  /** Answer PINGREQ (default true). */
  readonly answerPings?: boolean;
  /** Called when a connection is accepted (after CONNACK), e.g. to send it packets. */
  readonly onConnected?: (c: FakeConnection) => void;
  /** Sees every packet first; returning true skips the server's own handling (for scripted exchanges). */
  readonly intercept?: (c: FakeConnection, p: Packet) => boolean;
}

export interface Delivery {
  readonly clientId: string;
  readonly topic: string;
  readonly payload: string;
  readonly qos: number;
  /** Index of the connection (0-based, in order of arrival) that delivered it. */
  readonly connection: number;
}

interface FakeSession {
  /** QoS 2 Packet Identifiers received and not yet released by PUBREL (Method B). */
  readonly qos2: Set<number>;
}

/** One client connection to the fake server. */
export class FakeConnection {
  connect: ConnectPacket | undefined;
  version: ProtocolVersion = 5;
  sessionPresent = false;
  readonly received: Packet[] = [];
  /** No more packets are read or written (a fault fired, or the client left). */
  dead = false;
  closed = false;
  private readonly framer = new Framer();

  constructor(
    readonly index: number,
    readonly socket: Socket,
    private readonly onPacket: (c: FakeConnection, p: Packet) => void,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      if (this.dead) return;
      try {
        this.framer.push(chunk, (p) => {
          if (this.dead) return;
          this.received.push(p);
          this.onPacket(this, p);
        });
      } catch (err) {
        this.socket.destroy(err instanceof Error ? err : new Error(String(err)));
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.dead = true;
      this.closed = true;
    });
  }

  send(packet: Packet): void {
    if (this.dead) return;
    this.socket.write(encodePacket(packet, this.version));
  }

  /** Closes after flushing what was written (FIN), reading nothing more. */
  end(): void {
    this.dead = true;
    this.socket.end();
  }

  /** Closes at once (what was written may or may not arrive). */
  drop(): void {
    this.dead = true;
    this.socket.destroy();
  }

  publishes(): PublishPacket[] {
    return this.received.flatMap((p) => (p.type === PacketType.Publish ? [p] : []));
  }
}

/**
 * A scripted MQTT server on 127.0.0.1:0 for client tests: it speaks raw packets through the codec,
 * keeps just enough session state to count deliveries exactly (QoS 2 by Method B), and injects faults
 * (dropped connections, DISCONNECT, refused or missing CONNACKs, delayed acks) where a test asks.
 */
export class FakeServer {
  readonly connections: FakeConnection[] = [];
  readonly deliveries: Delivery[] = [];
  readonly sessions = new Map<string, FakeSession>();
  /** Faults that have fired, in order. */
  readonly fired: Fault[] = [];
  private readonly pendingFaults: Fault[];
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly wasAccepted = new Set<FakeConnection>();
  /** Payload of each QoS 2 flow by client and Packet Identifier, so faults can target PUBREL steps. */
  private readonly payloadOfQos2 = new Map<string, string>();
  private connects = 0;

  private constructor(
    private readonly server: Server,
    readonly port: number,
    private readonly options: FakeServerOptions,
  ) {
    this.pendingFaults = [...(options.faults ?? [])];
  }

  static async start(options: FakeServerOptions = {}): Promise<FakeServer> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no TCP address');
    const fake = new FakeServer(server, address.port, options);
    server.on('connection', (socket) => {
      const c = new FakeConnection(fake.connections.length, socket, (conn, p) => fake.onPacket(conn, p));
      fake.connections.push(c);
    });
    return fake;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  /** Connections that got a successful CONNACK, in order. */
  get accepted(): FakeConnection[] {
    return this.connections.filter((c) => this.wasAccepted.has(c));
  }

  /** Deliveries of one payload, in order. */
  deliveriesOf(payload: string): Delivery[] {
    return this.deliveries.filter((d) => d.payload === payload);
  }

  /** Every PUBLISH received, with the index of its connection. */
  publishes(): { readonly connection: number; readonly packet: PublishPacket }[] {
    return this.connections.flatMap((c) => c.publishes().map((packet) => ({ connection: c.index, packet })));
  }

  waitFor(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
    return waitUntil(condition, what, timeoutMs);
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const c of this.connections) c.drop();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ---- protocol --------------------------------------------------------------------------------

  private onPacket(c: FakeConnection, p: Packet): void {
    if (this.options.intercept?.(c, p) === true) return;
    if (c.connect === undefined) {
      if (p.type !== PacketType.Connect) {
        c.drop();
        return;
      }
      this.onConnect(c, p);
      return;
    }
    const clientId = c.connect.clientId;
    const session = this.sessionFor(clientId);
    switch (p.type) {
      case PacketType.Publish:
        this.onPublish(c, session, p);
        return;
      case PacketType.Pubrel: {
        if (this.fault(c, 'pubrel-received', this.payloadOfQos2.get(key(clientId, p.packetId)))) return;
        const known = session.qos2.delete(p.packetId);
        const payload = this.payloadOfQos2.get(key(clientId, p.packetId));
        this.later(c, () => {
          if (this.fault(c, 'before-pubcomp', payload)) return;
          c.send({
            type: PacketType.Pubcomp,
            packetId: p.packetId,
            reasonCode: known || c.version < 5 ? 0 : ReasonCode.PacketIdentifierNotFound,
          });
          this.fault(c, 'after-pubcomp', payload);
        });
        return;
      }
      case PacketType.Subscribe:
        c.send({ type: PacketType.Suback, packetId: p.packetId, reasonCodes: grant(p) });
        return;
      case PacketType.Unsubscribe:
        c.send({ type: PacketType.Unsuback, packetId: p.packetId, reasonCodes: c.version === 5 ? p.topicFilters.map(() => 0) : [] });
        return;
      case PacketType.Pingreq:
        if (this.options.answerPings !== false) c.send({ type: PacketType.Pingresp });
        return;
      case PacketType.Disconnect:
        c.end();
        return;
      default:
        return;
    }
  }

  private onConnect(c: FakeConnection, p: ConnectPacket): void {
    c.connect = p;
    c.version = p.protocolVersion;
    this.connects++;
    const existing = this.sessions.get(p.clientId);
    if (p.clean || existing === undefined) this.sessions.set(p.clientId, { qos2: new Set() });
    const sessionPresent = !p.clean && existing !== undefined;
    const decision = this.options.connack?.({ connect: p, attempt: this.connects, sessionPresent });
    if (decision === 'silent') return;
    if (decision === 'drop') {
      c.drop();
      return;
    }
    const props = this.options.connackProperties;
    const ack: ConnackPacket = decision ?? {
      type: PacketType.Connack,
      sessionPresent,
      reasonCode: 0,
      ...(props === undefined || c.version < 5 ? {} : { properties: props }),
    };
    // One connection per Client Identifier: the newer takes over.
    if (ack.reasonCode === 0) {
      for (const other of this.connections) {
        if (other !== c && !other.dead && other.connect?.clientId === p.clientId) {
          if (other.version === 5) other.send({ type: PacketType.Disconnect, reasonCode: ReasonCode.SessionTakenOver });
          other.end();
        }
      }
    }
    c.sessionPresent = ack.sessionPresent;
    c.send(ack);
    if (ack.reasonCode !== 0) {
      c.end();
      return;
    }
    this.wasAccepted.add(c);
    this.options.onConnected?.(c);
  }

  private onPublish(c: FakeConnection, session: FakeSession, p: PublishPacket): void {
    const clientId = c.connect?.clientId ?? '';
    const payload = p.payload.toString();
    const deliver = () => this.deliveries.push({ clientId, topic: p.topic, payload, qos: p.qos, connection: c.index });
    if (p.qos === 0) {
      deliver();
      return;
    }
    const packetId = p.packetId ?? 0;
    if (this.fault(c, 'publish-received', payload)) return;
    if (p.qos === 1) {
      deliver();
      this.later(c, () => {
        if (this.fault(c, 'before-puback', payload)) return;
        c.send({ type: PacketType.Puback, packetId, reasonCode: 0 });
        this.fault(c, 'after-puback', payload);
      });
      return;
    }
    // QoS 2, Method B.
    if (!session.qos2.has(packetId)) {
      session.qos2.add(packetId);
      this.payloadOfQos2.set(key(clientId, packetId), payload);
      deliver();
    }
    this.later(c, () => {
      if (this.fault(c, 'before-pubrec', payload)) return;
      c.send({ type: PacketType.Pubrec, packetId, reasonCode: 0 });
      this.fault(c, 'after-pubrec', payload);
    });
  }

  /** Runs `send` now, or after the configured ack delay if the connection is still usable then. */
  private later(c: FakeConnection, send: () => void): void {
    const delay = this.options.ackDelayMs ?? 0;
    if (delay === 0) {
      send();
      return;
    }
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!c.dead) send();
    }, delay);
    this.timers.add(t);
  }

  /** Fires the first pending fault for `step` (and payload); returns true if the connection was closed. */
  private fault(c: FakeConnection, step: Step, payload: string | undefined): boolean {
    const i = this.pendingFaults.findIndex((f) => f.step === step && (f.payload === undefined || f.payload === payload));
    if (i < 0) return false;
    const [f] = this.pendingFaults.splice(i, 1);
    if (f === undefined) return false;
    this.fired.push(f);
    if (f.action === 'disconnect') {
      if (c.version === 5) c.send({ type: PacketType.Disconnect, reasonCode: f.reasonCode ?? ReasonCode.ServerBusy });
      c.end();
    } else if (step.startsWith('after-')) {
      // The packet just written still reaches the client.
      c.end();
    } else {
      c.drop();
    }
    return true;
  }

  private sessionFor(clientId: string): FakeSession {
    let s = this.sessions.get(clientId);
    if (s === undefined) {
      s = { qos2: new Set() };
      this.sessions.set(clientId, s);
    }
    return s;
  }
}

function key(clientId: string, packetId: number): string {
  return `${clientId}\u0000${packetId}`;
}

function grant(p: SubscribePacket): number[] {
  return p.subscriptions.map((s) => s.qos);
}

/** A fake server closed in the test's cleanup. */
export async function fakeServer(t: TestContext, options: FakeServerOptions = {}): Promise<FakeServer> {
  const server = await FakeServer.start(options);
  t.after(() => server.close());
  return server;
}
