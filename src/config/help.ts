import { z } from 'zod';
import { configSchema } from './schema.js';

interface JsonSchema {
  type?: string | string[];
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
    const values = child.enum ?? child.anyOf?.flatMap((a) => a.enum ?? []);
    const choices = values !== undefined && values.length > 0 ? ` (${values.join(' | ')})` : '';
    rows.push([key, formatDefault(child.default), `${child.description ?? ''}${choices}`]);
  }
}

function formatDefault(value: unknown): string {
  if (value === undefined) return '-';
  if (Array.isArray(value)) return value.length === 0 ? '[]' : '[...]';
  return String(value);
}
