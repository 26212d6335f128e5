import { Broker } from '../../src/broker/broker.js';
import type { BrokerOptions } from '../../src/broker/options.js';
import type { ProtocolVersion } from '../../src/protocol/index.js';
import { listenTcp } from '../../src/transport/tcp.js';
import type { Listener } from '../../src/transport/types.js';
import { duplexPair } from './duplex-pair.js';
import { PacketClient } from './packet-client.js';

/** A broker listening on 127.0.0.1 with an ephemeral port; `stop` closes everything it started. */
export interface TcpHarness {
  readonly broker: Broker;
  readonly port: number;
  readonly url: string;
  client(version?: ProtocolVersion): Promise<PacketClient>;
  stop(): Promise<void>;
}

export async function startBroker(options: BrokerOptions = {}): Promise<TcpHarness> {
  const broker = new Broker({ sysInterval: 0, ...options });
  const listener: Listener = await listenTcp({ host: '127.0.0.1', port: 0 }, (stream, info) => {
    broker.handle(stream, info);
  });
  const clients: PacketClient[] = [];
  return {
    broker,
    port: listener.port,
    url: `mqtt://127.0.0.1:${listener.port}`,
    async client(version: ProtocolVersion = 5) {
      const c = await PacketClient.tcp(listener.port, version);
      clients.push(c);
      return c;
    },
    async stop() {
      for (const c of clients) c.end();
      await broker.close();
      await listener.close();
    },
  };
}

/** A client connected to the broker through an in-memory stream pair (no sockets). */
export function memoryClient(broker: Broker, version: ProtocolVersion = 5): PacketClient {
  const [server, client] = duplexPair();
  broker.handle(server, { remoteAddress: '127.0.0.1', remotePort: 0, transport: 'memory' });
  return new PacketClient(client, version);
}
