import { parseArgs } from 'node:util';

/** `--port N` for the bench broker entry points. */
export function portArg(): number {
  const { values } = parseArgs({ options: { port: { type: 'string' } } });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port <= 0 || port > 65_535) throw new Error('usage: --port <port>');
  return port;
}

/** Runs `stop` once on SIGTERM or SIGINT, then exits 0 (so `--cpu-prof` writes its profile). */
export function exitOnSignal(stop: () => Promise<void>): void {
  let stopping = false;
  const onSignal = (): void => {
    if (stopping) return;
    stopping = true;
    // A broker that cannot close within a second is not worth waiting for.
    setTimeout(() => process.exit(0), 1000).unref();
    stop().then(
      () => process.exit(0),
      () => process.exit(0),
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
