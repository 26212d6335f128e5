import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

/**
 * Top self-time functions of a V8 .cpuprofile (as written by `node --cpu-prof`, e.g. by
 * `run.js --profile DIR`), and self time per source file.
 *
 *   node dist/bench/broker/profile-top.js FILE.cpuprofile [--top 30] [--from SECONDS] [--to SECONDS]
 *
 * --from / --to keep only the samples taken that many seconds after the profile started (to leave out
 * start-up and shutdown).
 */

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

function label(f: CallFrame): string {
  const where = f.url === '' ? '' : ` ${basename(f.url)}:${f.lineNumber + 1}`;
  return `${f.functionName === '' ? '(anonymous)' : f.functionName}${where}`;
}

// Piped into `head`, the reader may go away early: that is not an error worth a stack trace.
process.stdout.on('error', () => process.exit(0));

function main(): void {
  const file = process.argv[2];
  if (file === undefined) throw new Error('usage: profile-top.js FILE.cpuprofile [--top N]');
  const arg = (name: string, fallback: number): number => {
    const i = process.argv.indexOf(name);
    return i > 0 ? Number(process.argv[i + 1]) : fallback;
  };
  const top = arg('--top', 30);
  const from = arg('--from', 0) * 1e6;
  const to = arg('--to', Number.POSITIVE_INFINITY) * 1e6;
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  for (const n of profile.nodes) byId.set(n.id, n);
  const selfByLabel = new Map<string, number>();
  const selfByFile = new Map<string, number>();
  let total = 0;
  let idle = 0;
  let at = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i] as number);
    const dt = profile.timeDeltas[i] ?? 0;
    at += dt;
    if (node === undefined || at < from || at > to) continue;
    total += dt;
    const name = node.callFrame.functionName;
    if (name === '(idle)') idle += dt;
    const l = label(node.callFrame);
    selfByLabel.set(l, (selfByLabel.get(l) ?? 0) + dt);
    const f = node.callFrame.url === '' ? name : basename(node.callFrame.url);
    selfByFile.set(f, (selfByFile.get(f) ?? 0) + dt);
  }
  const busy = total - idle;
  const pct = (v: number) => `${((v / busy) * 100).toFixed(1).padStart(5)}%`;
  process.stdout.write(`${file}: ${(total / 1e6).toFixed(2)} s sampled, ${(idle / 1e6).toFixed(2)} s idle; shares of busy time\n\n`);
  process.stdout.write('self time by function:\n');
  for (const [l, v] of [...selfByLabel]
    .filter(([l]) => !l.startsWith('(idle)'))
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)) {
    process.stdout.write(`  ${pct(v)}  ${l}\n`);
  }
  process.stdout.write('\nself time by file:\n');
  for (const [f, v] of [...selfByFile]
    .filter(([f]) => f !== '(idle)')
    .sort((a, b) => b[1] - a[1])
    .slice(0, 20)) {
    process.stdout.write(`  ${pct(v)}  ${f}\n`);
  }
}

main();
