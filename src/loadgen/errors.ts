/**
 * An error meant for the person running the benchmark: the message says what went wrong and, where it
 * can, what to do about it. `usage` errors are mistakes in the options (exit code 2).
 */
export class BenchError extends Error {
  readonly usage: boolean;
  constructor(message: string, options: { usage?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BenchError';
    this.usage = options.usage ?? false;
  }
}

/** Turns a socket error into a sentence about the broker at `where` (host:port). */
export function describeSocketError(err: unknown, where: string): string {
  const e = err as NodeJS.ErrnoException;
  switch (e.code) {
    case 'ECONNREFUSED':
      return `cannot connect to ${where}: connection refused. Is a broker running there? Use -h/-p or -L to point elsewhere.`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot connect to ${where}: the host name does not resolve.`;
    case 'ETIMEDOUT':
      return `cannot connect to ${where}: the connection timed out.`;
    case 'ECONNRESET':
      return `the connection to ${where} was reset by the broker.`;
    case 'EPIPE':
      return `the broker at ${where} closed the connection.`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `cannot connect to ${where}: no route to the host.`;
    case 'EMFILE':
    case 'ENFILE':
      return 'too many open files: raise the limit (ulimit -n) or use fewer clients (-c).';
    case 'EADDRNOTAVAIL':
      return 'no free local port for another connection: use fewer clients (-c) or a slower connection rate (-r).';
    default:
      return `connection to ${where} failed: ${e.message ?? String(err)}`;
  }
}
