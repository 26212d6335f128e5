import { parseArgs } from 'node:util';
import { createServer } from '../../src/server/server.js';

/**
 * Mozzie as the TLS benchmark runs it: the embedding API, one TLS listener on 127.0.0.1 with the
 * benchmark's certificate (and, with --ca, mutual TLS with the CN as username), $SYS off, warnings only.
 * Prints READY when listening; SIGTERM stops it.
 */
const { values } = parseArgs({
  options: { port: { type: 'string' }, cert: { type: 'string' }, key: { type: 'string' }, ca: { type: 'string' } },
});
if (values.port === undefined || values.cert === undefined || values.key === undefined) {
  throw new Error('usage: server.js --port N --cert FILE --key FILE [--ca FILE]');
}
const mutual = values.ca === undefined ? {} : { ca: values.ca, requireCertificate: true, identityFrom: 'cn' as const };
const server = createServer({
  listeners: [{ type: 'tls', host: '127.0.0.1', port: Number(values.port), cert: values.cert, key: values.key, ...mutual }],
  allowAnonymous: true,
  sys: { interval: 0 },
  log: { level: 'warn' },
});
await server.start();
const stop = () => {
  setTimeout(() => process.exit(0), 1000).unref();
  server.stop().then(
    () => process.exit(0),
    () => process.exit(0),
  );
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdout.write('READY\n');
