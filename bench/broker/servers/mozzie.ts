import { createServer } from '../../../src/server/server.js';
import { exitOnSignal, portArg } from './args.js';

/**
 * Mozzie as the benchmark runs it: the embedding API, one TCP listener on loopback, $SYS off (as for
 * the other brokers), warnings only, every other setting at its default. Prints READY when listening.
 */
const server = createServer({
  listeners: [{ type: 'tcp', host: '127.0.0.1', port: portArg() }],
  sys: { interval: 0 },
  log: { level: 'warn' },
});
await server.start();
exitOnSignal(() => server.stop());
process.stdout.write('READY\n');
