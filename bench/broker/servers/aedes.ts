import { createServer } from 'node:net';
import { Aedes } from 'aedes';
import { exitOnSignal, portArg } from './args.js';

/**
 * Aedes as its README shows it: Aedes.createBroker() with default options (in-memory persistence and
 * mqemitter), handed each socket of a net server. Nagle is off, as Mozzie and Mosquitto (set_tcp_nodelay)
 * have it. Prints READY when listening.
 */
const port = portArg();
const broker = await Aedes.createBroker();
const server = createServer({ noDelay: true }, broker.handle);
await new Promise<void>((resolve, reject) => {
  server.once('error', reject);
  server.listen(port, '127.0.0.1', () => resolve());
});
exitOnSignal(
  () =>
    new Promise<void>((resolve) => {
      server.close();
      broker.close(() => resolve());
    }),
);
process.stdout.write('READY\n');
