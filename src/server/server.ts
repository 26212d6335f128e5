import { FileAuth } from '../auth/file-auth.js';
import { Broker } from '../broker/broker.js';
import { type Clock, systemClock } from '../broker/clock.js';
import type { BrokerHooks } from '../broker/hooks.js';
import type { Logger } from '../broker/logger.js';
import { Metrics } from '../broker/metrics.js';
import { type ListenerConfig, type MozzieConfig, type MozzieConfigInput, validateConfig } from '../config/index.js';
import { SqliteStore } from '../store/sqlite/store.js';
import type { BrokerStore } from '../store/types.js';
import { listenTcp } from '../transport/tcp.js';
import { listenTls } from '../transport/tls.js';
import type { AdmissionCheck, Listener, StreamHandler, StreamInfo } from '../transport/types.js';
import { listenWebSocket } from '../transport/ws.js';
import { Admission } from './admission.js';
import { createConsoleLogger } from './logger.js';

export interface ServerOptions {
  readonly logger?: Logger;
  readonly hooks?: readonly BrokerHooks[];
  /** Shown in $SYS/broker/version and the start line. */
  readonly version?: string;
  /** Asked before each connection costs anything, after the configured admission control. */
  readonly admit?: AdmissionCheck;
  /** Time for the broker and admission control (tests pass a fake one). */
  readonly clock?: Clock;
}

/** A broker with its listeners: what `mozzie broker` runs, usable from any Node program. */
export interface MozzieServer {
  readonly broker: Broker;
  readonly config: MozzieConfig;
  /** Admission control (config `admission`): per-address limits and bans; ban or unban by hand here. */
  readonly admission: Admission;
  /** Password file, ACL file and SCRAM-SHA-256 (config `auth`), when a file is configured. */
  readonly auth: FileAuth | undefined;
  /** Listeners, once started. */
  readonly listeners: readonly Listener[];
  /** Whether the first listener accepts clients without credentials (after applying the loopback rule). */
  readonly allowAnonymous: boolean;
  /** Per listener, in config order: whether it accepts clients without credentials. */
  anonymousAllowed(listener: ListenerConfig): boolean;
  /** Re-reads TLS certificate files of every TLS/WSS listener, the password file and the ACL file (SIGHUP). */
  reload(): Promise<void>;
  start(): Promise<readonly Listener[]>;
  /** Stops listening, disconnects every client (no Wills published) and stops the broker. */
  stop(): Promise<void>;
}

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|localhost)$/i;

export function isLoopback(host: string): boolean {
  return LOOPBACK.test(host);
}

/**
 * Wires a configuration to a broker and its listeners. Anonymous access defaults to on only on loopback
 * listeners, so a first run on a laptop just works and a public listener does not accept strangers unless
 * told to.
 */
export function createServer(input: MozzieConfigInput | MozzieConfig = {}, options: ServerOptions = {}): MozzieServer {
  const config = validateConfig(input);
  const logger = options.logger ?? createConsoleLogger({ level: config.log.level, format: config.log.format });
  const anonymousAllowed = (l: ListenerConfig): boolean => l.allowAnonymous ?? config.allowAnonymous ?? isLoopback(l.host);
  // Reads the password and ACL files now: a broker with a broken one does not start.
  const auth = FileAuth.fromConfig({ ...config.auth, logger, maxWaitMs: Math.floor(config.hookTimeout * 0.8) });
  const clock = options.clock ?? systemClock;
  const metrics = new Metrics(clock.now());
  const admission = new Admission(config.admission, { clock, logger, metrics });
  const hooks = [
    ...(admission.hooks === undefined ? [] : [admission.hooks]),
    ...(auth === undefined ? [] : [auth.hooks]),
    ...(options.hooks ?? []),
  ];
  const store: BrokerStore | undefined =
    config.store.type === 'sqlite'
      ? new SqliteStore({ dataDir: config.store.dataDir, sync: config.store.sync, commitWindow: config.store.commitWindow })
      : undefined;
  if (store instanceof SqliteStore) {
    store.onError = (err) =>
      logger.error('store write failed; the messages in it were not acknowledged', { path: err.path, error: err.message });
  }
  const broker = new Broker({
    ...(store === undefined ? {} : { store }),
    capabilities: config.capabilities,
    limits: config.limits,
    sessions: config.sessions,
    sharedSubscriptionStrategy: config.sharedSubscriptionStrategy,
    outboundTopicAliases: config.outboundTopicAliases,
    validatePayloadFormat: config.validatePayloadFormat,
    allowAnonymous: config.listeners.every(anonymousAllowed),
    sysInterval: config.sys.interval,
    responseInformation: config.responseInformation,
    hookTimeout: config.hookTimeout,
    hookFailure: config.hookFailure,
    logger,
    clock,
    metrics,
    connectGate: admission,
    hooks,
    ...(auth === undefined ? {} : { authMethods: auth.authMethods }),
    ...(options.version === undefined ? {} : { version: options.version }),
  });
  const listeners: Listener[] = [];
  let stopped = false;

  const open = (l: ListenerConfig): Promise<Listener> => {
    const allowAnonymous = anonymousAllowed(l);
    const identityFrom = l.type === 'tls' || l.type === 'wss' ? l.identityFrom : 'none';
    // Behind a PROXY protocol load balancer the raw connection shows the balancer's address: the client's
    // comes with the header, so admission control runs when the stream is handed over instead.
    const behindProxy = l.type === 'tcp' && l.proxyProtocol;
    const handle: StreamHandler = (stream, info: StreamInfo) => {
      if (!admission.track(stream, info.remoteAddress, !behindProxy)) return;
      const cert = info.certificate;
      const identity = cert === undefined || identityFrom === 'none' ? undefined : identityFrom === 'cn' ? cert.commonName : cert.subject;
      // The certificate vouches for this user name: the password file is not asked about it.
      if (identity !== undefined && auth !== undefined) stream.once('close', auth.vouch(info, identity));
      broker.handle(stream, {
        remoteAddress: info.remoteAddress,
        remotePort: info.remotePort,
        transport: info.transport,
        listener: info.listener,
        allowAnonymous,
        ...(identity === undefined ? {} : { identity }),
      });
    };
    const own = options.admit;
    const admit: AdmissionCheck | undefined = behindProxy
      ? own
      : own === undefined
        ? admission.admit
        : (address) => admission.admit(address) && own(address);
    const common = {
      host: l.host,
      port: l.port,
      ...(l.name === undefined ? {} : { name: l.name }),
      ...(admit === undefined ? {} : { admit }),
    };
    switch (l.type) {
      case 'tcp':
        return listenTcp({ ...common, proxyProtocol: l.proxyProtocol }, handle);
      case 'tls':
        return listenTls(
          {
            ...common,
            ...tlsSettings(l),
            onHandshakeError: (err, address) =>
              logger.debug('TLS handshake failed', { listener: l.name ?? `tls:${l.port}`, remoteAddress: address, error: err.message }),
          },
          handle,
        );
      case 'ws':
        return listenWebSocket({ ...common, path: l.path, maxPayload: config.limits.maxPacketSize * 2 + 1024 }, handle);
      case 'wss':
        return listenWebSocket(
          { ...common, path: l.path, maxPayload: config.limits.maxPacketSize * 2 + 1024, tls: tlsSettings(l) },
          handle,
        );
    }
  };

  return {
    broker,
    config,
    admission,
    auth,
    allowAnonymous: anonymousAllowed(config.listeners[0] as ListenerConfig),
    anonymousAllowed,
    get listeners() {
      return listeners;
    },
    async start() {
      try {
        // The store is loaded before any client can connect.
        await broker.start();
        for (const l of config.listeners) listeners.push(await open(l));
      } catch (err) {
        await Promise.all(listeners.map((l) => l.close()));
        listeners.length = 0;
        admission.close();
        await broker.close();
        throw err;
      }
      return listeners;
    },
    async reload() {
      for (const l of listeners) {
        if (l.reload === undefined) continue;
        try {
          await l.reload();
          logger.info('reloaded TLS certificates', { listener: l.name });
        } catch (err) {
          logger.error('could not reload TLS certificates; keeping the old ones', { listener: l.name, error: (err as Error).message });
        }
      }
      await auth?.reload();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      admission.close();
      const closing = listeners.map((l) => l.close());
      await broker.close();
      await Promise.all(closing);
    },
  };
}

function tlsSettings(l: Extract<ListenerConfig, { type: 'tls' | 'wss' }>) {
  return {
    cert: l.cert,
    key: l.key,
    passphrase: l.passphrase,
    ca: l.ca,
    requireCertificate: l.requireCertificate,
    minVersion: l.minVersion,
    ciphers: l.ciphers,
  };
}
