import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { AuthMethod } from '../broker/auth-method.js';
import type { AuthenticateEvent, BrokerHooks, ClientInfo, Decision, HookAnswer, PublishEvent, SubscribeEvent } from '../broker/hooks.js';
import type { Logger } from '../broker/logger.js';
import { ConfigError } from '../config/errors.js';
import { ReasonCode } from '../protocol/index.js';
import { Acl } from './acl.js';
import type { ConcurrencyLimiter } from './limiter.js';
import { parsePasswordFile } from './password-file.js';
import { PasswordStore } from './passwords.js';
import { scramSha256Method } from './scram-method.js';

export interface FileAuthOptions {
  /** Password file (see password-file.ts): CONNECT user names and passwords, and SCRAM-SHA-256. */
  readonly passwordFile?: string | undefined;
  /** ACL file (see acl.ts): who may publish and subscribe to what. */
  readonly aclFile?: string | undefined;
  /** Offer SCRAM-SHA-256 enhanced authentication (default: true when there is a password file). */
  readonly scram?: boolean | undefined;
  /** Iterations SCRAM announces for unknown users (default: the most common count in the file). */
  readonly iterations?: number | undefined;
  /** Password hashes computed at once (default 2). */
  readonly hashConcurrency?: number | undefined;
  /**
   * Milliseconds a password check may wait for a hashing slot before the login is refused as busy
   * (0x89). Keep it below the broker's hookTimeout, so a flood of logins is refused by this hook and
   * never reaches the hook-failure policy. Default 4000.
   */
  readonly maxWaitMs?: number | undefined;
  readonly logger: Logger;
}

const BAD_CREDENTIALS: Decision = {
  verdict: 'deny',
  reasonCode: ReasonCode.BadUserNameOrPassword,
  reasonString: 'bad user name or password',
};
const BUSY: Decision = { verdict: 'deny', reasonCode: ReasonCode.ServerBusy, reasonString: 'too many logins in progress' };
const NOT_AUTHORIZED: Decision = { verdict: 'deny', reasonCode: ReasonCode.NotAuthorized };

/**
 * Authentication and access control from files, as `mozzie broker` configures them (`auth` settings):
 * broker hooks for CONNECT passwords and the ACL, the SCRAM-SHA-256 method, and reload on SIGHUP.
 *
 * Decisions: a client without a user name is left to allowAnonymous (defer); one whose user name a
 * verified client certificate gave is admitted by the certificate (defer); any other user name needs a
 * password that matches the file (else 0x86, or 0x89 when too many checks are waiting). The ACL denies
 * with 0x87 and otherwise defers, so hooks an embedder adds after these can still refuse.
 */
export class FileAuth {
  readonly hooks: BrokerHooks;
  readonly authMethods: readonly AuthMethod[];
  private passwords: PasswordStore | undefined;
  private acl: Acl | undefined;
  private readonly limiter: ConcurrencyLimiter;
  /** User names that verified client certificates gave, by connection. */
  private readonly vouched = new Map<string, string>();
  private readonly logger: Logger;
  private readonly maxWaitMs: number;

  /** Reads the files; throws ConfigError naming the file and each bad line. */
  constructor(private readonly options: FileAuthOptions) {
    this.logger = options.logger;
    this.maxWaitMs = options.maxWaitMs ?? 4000;
    this.limiter = PasswordStore.limiter({ concurrency: options.hashConcurrency ?? 2 });
    if (options.passwordFile !== undefined) this.passwords = this.toStore(options.passwordFile, readText(options.passwordFile));
    if (options.aclFile !== undefined) this.acl = toAcl(options.aclFile, readText(options.aclFile));
    const hooks: BrokerHooks = { name: 'auth-files' };
    if (options.passwordFile !== undefined) hooks.authenticate = (e) => this.authenticate(e);
    if (options.aclFile !== undefined) {
      hooks.authorizePublish = (e) => this.authorizePublish(e);
      hooks.authorizeSubscribe = (e) => this.authorizeSubscribe(e);
    }
    this.hooks = hooks;
    const scram = options.scram ?? options.passwordFile !== undefined;
    this.authMethods = scram && options.passwordFile !== undefined ? [scramSha256Method(() => this.passwords, this.logger)] : [];
    if (options.aclFile !== undefined && options.passwordFile === undefined) {
      this.logger.warn('aclFile without passwordFile: user names are not verified, so `user` sections apply to whoever claims the name');
    }
  }

  /** Nothing to do without files. */
  static fromConfig(options: FileAuthOptions): FileAuth | undefined {
    return options.passwordFile === undefined && options.aclFile === undefined ? undefined : new FileAuth(options);
  }

  /**
   * Re-reads both files (SIGHUP). A file with problems is logged, naming the file and lines, and the
   * rules in force stay as they were. A new password file also forgets remembered logins. Connected
   * clients stay connected; the ACL applies to their next PUBLISH and SUBSCRIBE.
   */
  async reload(): Promise<{ readonly errors: readonly string[] }> {
    const errors: string[] = [];
    const { passwordFile, aclFile } = this.options;
    if (passwordFile !== undefined) {
      try {
        this.passwords = this.toStore(passwordFile, await readTextAsync(passwordFile));
        this.logger.info('reloaded the password file', { file: passwordFile, users: this.passwords.users.size });
      } catch (err) {
        errors.push(failed(this.logger, 'password file', passwordFile, err));
      }
    }
    if (aclFile !== undefined) {
      try {
        this.acl = toAcl(aclFile, await readTextAsync(aclFile));
        this.logger.info('reloaded the ACL file', { file: aclFile });
      } catch (err) {
        errors.push(failed(this.logger, 'ACL file', aclFile, err));
      }
    }
    return { errors };
  }

  /**
   * Tells that a verified client certificate named this connection's user (use_identity_as_username):
   * the password file is not asked about it. Returns the function to call when the connection closes.
   */
  vouch(client: Pick<ClientInfo, 'transport' | 'remoteAddress' | 'remotePort'>, identity: string): () => void {
    const key = connectionKey(client);
    this.vouched.set(key, identity);
    return () => {
      if (this.vouched.get(key) === identity) this.vouched.delete(key);
    };
  }

  private async authenticate(e: AuthenticateEvent): Promise<HookAnswer> {
    const store = this.passwords;
    const user = e.client.username;
    if (store === undefined || user === undefined) return 'defer';
    if (this.vouched.get(connectionKey(e.client)) === user) return 'defer';
    const result = e.password === undefined ? 'bad' : await store.check(user, e.password, AbortSignal.timeout(this.maxWaitMs));
    if (result === 'ok') return 'allow';
    this.logger.info(result === 'busy' ? 'login refused: too many password checks waiting' : 'login refused: bad user name or password', {
      user,
      clientId: e.client.clientId,
      remoteAddress: e.client.remoteAddress,
    });
    return result === 'busy' ? BUSY : BAD_CREDENTIALS;
  }

  private authorizePublish(e: PublishEvent): HookAnswer {
    const acl = this.acl;
    if (acl === undefined || acl.canPublish(e.client, e.topic)) return 'defer';
    this.logger.debug('publish denied by the ACL', { clientId: e.client.clientId, user: e.client.username, topic: e.topic });
    return NOT_AUTHORIZED;
  }

  private authorizeSubscribe(e: SubscribeEvent): HookAnswer {
    const acl = this.acl;
    if (acl === undefined || acl.canSubscribe(e.client, e.filter)) return 'defer';
    this.logger.debug('subscribe denied by the ACL', { clientId: e.client.clientId, user: e.client.username, filter: e.filter });
    return NOT_AUTHORIZED;
  }

  private toStore(file: string, text: string): PasswordStore {
    const parsed = parsePasswordFile(text);
    if (!parsed.ok) throw new ConfigError(file, parsed.problems);
    return new PasswordStore(parsed.users, this.limiter, {
      ...(this.options.iterations === undefined ? {} : { fakeIterations: this.options.iterations }),
    });
  }
}

function toAcl(file: string, text: string): Acl {
  const parsed = Acl.parse(text);
  if (!parsed.ok) throw new ConfigError(file, parsed.problems);
  return parsed.acl;
}

function connectionKey(c: Pick<ClientInfo, 'transport' | 'remoteAddress' | 'remotePort'>): string {
  return `${c.transport} ${c.remoteAddress ?? '-'} ${c.remotePort ?? '-'}`;
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw readError(file, err);
  }
}

async function readTextAsync(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw readError(file, err);
  }
}

function readError(file: string, err: unknown): ConfigError {
  const code = (err as NodeJS.ErrnoException).code;
  return new ConfigError(file, [code === 'ENOENT' ? 'file not found' : `cannot be read (${code ?? String(err)})`]);
}

function failed(logger: Logger, what: string, file: string, err: unknown): string {
  const problems = err instanceof ConfigError ? err.problems : [String(err)];
  logger.error(`could not reload the ${what}; keeping the one in force`, { file, problems: problems.join('; ') });
  return `${file}: ${problems.join('; ')}`;
}
