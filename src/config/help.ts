import { z } from 'zod';
import { configSchema } from './schema.js';

interface JsonSchema {
  type?: string | string[];
  const?: unknown;
  oneOf?: JsonSchema[];
  description?: string;
  default?: unknown;
  enum?: unknown[];
  anyOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
}

/** One line per setting: dotted key, default and description, generated from the schema. */
export function settingsHelp(): string {
  const schema = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  const rows: [string, string, string][] = [];
  walk(schema, '', rows);
  const width = Math.max(...rows.map((r) => r[0].length));
  const defWidth = Math.min(24, Math.max(...rows.map((r) => r[1].length)));
  return rows.map(([key, def, text]) => `  ${key.padEnd(width)}  ${def.padEnd(defWidth)}  ${text}`).join('\n');
}

function walk(node: JsonSchema, prefix: string, rows: [string, string, string][]): void {
  for (const [name, child] of Object.entries(node.properties ?? {})) {
    const key = prefix === '' ? name : `${prefix}.${name}`;
    if (child.properties !== undefined) {
      walk(child, key, rows);
      continue;
    }
    if (child.items?.properties !== undefined) {
      rows.push([`${key}[]`, formatDefault(child.default), child.description ?? '']);
      walk(child.items, `${key}[]`, rows);
      continue;
    }
    if (child.items?.oneOf !== undefined) {
      // Variants told apart by `type` (listeners): one row per setting, noting the types that have it.
      rows.push([`${key}[]`, formatDefault(child.default), child.description ?? '']);
      mergeVariants(child.items.oneOf, `${key}[]`, rows);
      continue;
    }
    const values = child.enum ?? child.anyOf?.flatMap((a) => a.enum ?? []);
    const choices = values !== undefined && values.length > 0 ? ` (${values.join(' | ')})` : '';
    rows.push([key, formatDefault(child.default), `${child.description ?? ''}${choices}`]);
  }
}

function mergeVariants(variants: readonly JsonSchema[], prefix: string, rows: [string, string, string][]): void {
  const kinds = variants.map((v) => String(v.properties?.['type']?.const));
  rows.push([
    `${prefix}.type`,
    kinds[0] ?? '-',
    variants.map((v, i) => `${kinds[i]}: ${v.properties?.['type']?.description ?? ''}`).join(' '),
  ]);
  const keys: string[] = [];
  for (const v of variants) for (const k of Object.keys(v.properties ?? {})) if (k !== 'type' && !keys.includes(k)) keys.push(k);
  for (const k of keys) {
    const having = variants.map((v, i) => ({ kind: kinds[i] as string, schema: v.properties?.[k] })).filter((x) => x.schema !== undefined);
    const defaults = [...new Set(having.map((x) => formatDefault(x.schema?.default)))];
    const first = having[0]?.schema as JsonSchema;
    const values = first.enum ?? first.anyOf?.flatMap((a) => a.enum ?? []);
    const choices = values !== undefined && values.length > 0 ? ` (${values.join(' | ')})` : '';
    const only = having.length < variants.length ? ` [${having.map((x) => x.kind).join(', ')}]` : '';
    const perKind =
      defaults.length === 1 ? '' : ` Default ${having.map((x) => `${formatDefault(x.schema?.default)} (${x.kind})`).join(', ')}.`;
    rows.push([`${prefix}.${k}`, formatDefault(first.default), `${first.description ?? ''}${choices}${perKind}${only}`]);
  }
}

function formatDefault(value: unknown): string {
  if (value === undefined) return '-';
  if (Array.isArray(value)) return value.length === 0 ? '[]' : '[...]';
  return String(value);
}
