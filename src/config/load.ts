import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import { ConfigError } from './errors.js';
import type { MozzieConfig } from './schema.js';
import { validateConfig } from './validate.js';

/**
 * Reads a YAML configuration file (JSON is YAML too) and validates it. Syntax errors name the line;
 * schema errors name the key; all are reported at once.
 */
export async function loadConfigFile(path: string): Promise<{ raw: Record<string, unknown>; config: MozzieConfig }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(path, [code === 'ENOENT' ? 'file not found' : `cannot be read (${code ?? String(err)})`]);
  }
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      path,
      doc.errors.map((e) => {
        // yaml's first message line ends "at line L, column C:" (the snippet followed); say it once, up front.
        const pos = e.linePos?.[0];
        const text = (e.message.split('\n')[0] ?? e.message).replace(/ at line \d+, column \d+:?$/, '');
        return `line ${pos?.line ?? '?'}${pos === undefined ? '' : `, column ${pos.col}`}: ${text}`;
      }),
    );
  }
  const raw: unknown = doc.toJS() ?? {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError(path, ['(top level): expected a mapping of settings']);
  }
  return { raw: raw as Record<string, unknown>, config: validateConfig(raw, path) };
}
