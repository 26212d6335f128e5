import { idleConnections } from './connections.js';
import { latency } from './latency.js';
import { retainedBacklog } from './retained.js';
import type { LoadRequest, LoadResult } from './spec.js';
import { fanIn, fanOut, pairsQos0, pairsQos1 } from './throughput.js';
import { wildcardRouting } from './wildcard.js';

/**
 * The load generator: one process per measurement, started by run.ts pinned to its own CPU. It takes a
 * LoadRequest as JSON in argv[2], runs the scenario against the broker on that port, and prints one line
 * `RESULT {json}` on stdout. Progress and errors go to stderr.
 */

/** A scenario that hangs (a broker that stopped answering) must not hang the whole run. */
const HARD_LIMIT_MS = 240_000;

function run(req: LoadRequest): Promise<LoadResult> {
  switch (req.scenario) {
    case 'a16':
      return fanIn(req, 16);
    case 'a1k':
      return fanIn(req, 1024);
    case 'b':
      return fanOut(req);
    case 'c0':
      return pairsQos0(req);
    case 'c1':
      return pairsQos1(req);
    case 'd':
      return latency(req);
    case 'e':
      return idleConnections(req);
    case 'f':
      return wildcardRouting(req);
    case 'g':
      return retainedBacklog(req);
    default:
      return exhaustive(req.scenario);
  }
}

function exhaustive(value: never): never {
  throw new Error(`unknown scenario ${String(value)}`);
}

async function main(): Promise<void> {
  const arg = process.argv[2];
  if (arg === undefined) throw new Error('usage: loadgen.js <LoadRequest JSON>');
  const req = JSON.parse(arg) as LoadRequest;
  const limit = setTimeout(() => {
    process.stderr.write(`loadgen: ${req.scenario} on ${req.broker} exceeded ${HARD_LIMIT_MS} ms\n`);
    process.exit(2);
  }, HARD_LIMIT_MS);
  limit.unref();
  const result = await run(req);
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
  // Sockets being torn down must not keep the process (or the next measurement) waiting.
  process.exit(0);
}

main().catch((err: unknown) => {
  process.stderr.write(`loadgen: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
