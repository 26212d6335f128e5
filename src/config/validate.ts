import type { z } from 'zod';
import { ConfigError } from './errors.js';
import { configSchema, type MozzieConfig } from './schema.js';

/** Validates a configuration object; throws ConfigError listing every problem with its key. */
export function validateConfig(input: unknown, source = 'configuration'): MozzieConfig {
  const result = configSchema.safeParse(withListenerTypes(input ?? {}));
  if (result.success) return result.data;
  throw new ConfigError(source, result.error.issues.flatMap(describeIssue));
}

/** One problem per key: an issue with several unknown keys gives one line each (and counts as several). */
/** A listener without `type` is a TCP listener. */
function withListenerTypes(input: unknown): unknown {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return input;
  const listeners = (input as Record<string, unknown>)['listeners'];
  if (!Array.isArray(listeners)) return input;
  return {
    ...input,
    listeners: listeners.map((l: unknown) =>
      typeof l === 'object' && l !== null && !Array.isArray(l) && !('type' in l) ? { type: 'tcp', ...l } : l,
    ),
  };
}

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
      const key = String(part);
      const n = node as { shape?: Record<string, unknown>; options?: unknown[] };
      node =
        n.shape?.[key] ??
        n.options?.map((o) => (unwrap(o) as { shape?: Record<string, unknown> }).shape?.[key]).find((x) => x !== undefined);
    }
    if (node === undefined) return [];
  }
  return keysOf(unwrap(node));
}

/** Keys of an object schema, or of every option of a union (listeners). */
function keysOf(node: unknown): string[] {
  const n = node as { shape?: Record<string, unknown>; options?: unknown[]; def?: { options?: unknown[] } };
  if (n?.shape !== undefined) return Object.keys(n.shape);
  const options = n?.options ?? n?.def?.options;
  return options === undefined ? [] : [...new Set(options.flatMap((o) => keysOf(unwrap(o))))];
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
