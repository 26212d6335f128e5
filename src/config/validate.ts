import type { z } from 'zod';
import { ConfigError } from './errors.js';
import { configSchema, type MozzieConfig } from './schema.js';

/** Validates a configuration object; throws ConfigError listing every problem with its key. */
export function validateConfig(input: unknown, source = 'configuration'): MozzieConfig {
  const result = configSchema.safeParse(input ?? {});
  if (result.success) return result.data;
  throw new ConfigError(source, result.error.issues.flatMap(describeIssue));
}

/** One problem per key: an issue with several unknown keys gives one line each (and counts as several). */
function describeIssue(issue: z.core.$ZodIssue): string[] {
  const key = formatPath(issue.path);
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((k) => {
      const full = key === '' ? k : `${key}.${k}`;
      const hint = suggest(k, knownKeys(issue.path));
      return `${full}: unknown setting${hint === undefined ? '' : ` (did you mean "${hint}"?)`}`;
    });
  }
  return [`${key === '' ? '(top level)' : key}: ${issue.message}`];
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out;
}

/** The keys the schema allows at a path, for "did you mean". */
function knownKeys(path: readonly PropertyKey[]): string[] {
  let node: unknown = configSchema;
  for (const part of path) {
    node = unwrap(node);
    if (typeof part === 'number') {
      node = (node as { element?: unknown }).element;
    } else {
      node = (node as { shape?: Record<string, unknown> }).shape?.[String(part)];
    }
    if (node === undefined) return [];
  }
  const shape = (unwrap(node) as { shape?: Record<string, unknown> }).shape;
  return shape === undefined ? [] : Object.keys(shape);
}

function unwrap(node: unknown): unknown {
  let n = node as { def?: { innerType?: unknown }; unwrap?: () => unknown };
  for (let i = 0; i < 5 && n?.def?.innerType !== undefined; i++) n = n.def.innerType as typeof n;
  return n;
}

function suggest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const c of candidates) {
    const dist = distance(word.toLowerCase(), c.toLowerCase());
    if (dist < bestDistance) {
      best = c;
      bestDistance = dist;
    }
  }
  return best;
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j] as number;
      row[j] = Math.min((row[j] as number) + 1, (row[j - 1] as number) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length] as number;
}
