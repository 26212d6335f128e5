import type { Logger, LogLevel } from '../broker/logger.js';

const order: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface ConsoleLoggerOptions {
  readonly level: LogLevel;
  readonly format: 'text' | 'json';
  /** Where lines go (default: stderr), e.g. a test's collector. */
  readonly write?: (line: string) => void;
}

/** A logger printing one line per entry, as text for people or JSON for log collectors. */
export function createConsoleLogger(options: ConsoleLoggerOptions): Logger {
  const min = order[options.level];
  const write = options.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const log = (level: LogLevel) => (message: string, fields?: Readonly<Record<string, unknown>>) => {
    if (order[level] < min) return;
    const time = new Date().toISOString();
    if (options.format === 'json') {
      write(JSON.stringify({ time, level, msg: message, ...fields }));
      return;
    }
    const extra =
      fields === undefined
        ? ''
        : Object.entries(fields)
            .filter(([, v]) => v !== undefined)
            .map(([k, v]) => ` ${k}=${typeof v === 'string' ? (v.includes(' ') ? JSON.stringify(v) : v) : JSON.stringify(v)}`)
            .join('');
    write(`${time} ${level.toUpperCase().padEnd(5)} ${message}${extra}`);
  };
  return { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}
