import { offline, online } from './scenarios.js';
import type { LoadRequest, LoadResult } from './spec.js';

/**
 * The durability load generator: one process per measurement, pinned by run.ts to its own CPU. It takes
 * a LoadRequest as JSON in argv[2] and prints one line `RESULT {json}` on stdout.
 */

const HARD_LIMIT_MS = 240_000;

function run(req: LoadRequest): Promise<LoadResult> {
  switch (req.scenario) {
    case 'online':
      return online(req);
    case 'offline':
      return offline(req);
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
    process.stderr.write(`loadgen: ${req.scenario} on ${req.setup} exceeded ${HARD_LIMIT_MS} ms\n`);
    process.exit(2);
  }, HARD_LIMIT_MS);
  limit.unref();
  const result = await run(req);
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
  process.exit(0);
}

main().catch((err: unknown) => {
  process.stderr.write(`loadgen: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
