import { Broker } from '../broker/broker.js';
import type { BrokerHooks } from '../broker/hooks.js';
import type { Logger } from '../broker/logger.js';
import { type ListenerConfig, type MozzieConfig, type MozzieConfigInput, validateConfig } from '../config/index.js';
import { listenTcp } from '../transport/tcp.js';
import { listenTls } from '../transport/tls.js';
import type { AdmissionCheck, Listener, StreamHandler, StreamInfo } from '../transport/types.js';
import { listenWebSocket } from '../transport/ws.js';
import { createConsoleLogger } from './logger.js';

export interface ServerOptions {
  readonly logger?: Logger;
  readonly hooks?: readonly BrokerHooks[];
  /** Shown in $SYS/broker/version and the start line. */
  readonly version?: string;
  /** Asked before each connection costs anything (admission control). */
  readonly admit?: AdmissionCheck;
}

/** A broker with its listeners: what `mozzie broker` runs, usable from any Node program. */
export interface MozzieServer {
  readonly broker: Broker;
  readonly config: MozzieConfig;
  /** Listeners, once started. */
  readonly listeners: readonly Listener[];
  /** Whether the first listener accepts clients without credentials (after applying the loopback rule). */
  readonly allowAnonymous: boolean;
  /** Per listener, in config order: whether it accepts clients without credentials. */
  anonymousAllowed(listener: ListenerConfig): boolean;
  /** Re-reads TLS certificate files of every TLS/WSS listener (SIGHUP). */
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
  const broker = new Broker({
    capabilities: config.capabilities,
    limits: config.limits,
    sessions: config.sessions,
    sharedSubscriptionStrategy: config.sharedSubscriptionStrategy,
    outboundTopicAliases: config.outboundTopicAliases,
    validatePayloadFormat: config.validatePayloadFormat,
    allowAnonymous: config.listeners.every(anonymousAllowed),
    sysInterval: config.sys.interval,
    responseInformation: config.responseInformation,
    logger,
    ...(options.hooks === undefined ? {} : { hooks: options.hooks }),
    ...(options.version === undefined ? {} : { version: options.version }),
  });
  const listeners: Listener[] = [];
  let stopped = false;

  const open = (l: ListenerConfig): Promise<Listener> => {
    const allowAnonymous = anonymousAllowed(l);
    const identityFrom = l.type === 'tls' || l.type === 'wss' ? l.identityFrom : 'none';
    const handle: StreamHandler = (stream, info: StreamInfo) => {
      const cert = info.certificate;
      const identity = cert === undefined || identityFrom === 'none' ? undefined : identityFrom === 'cn' ? cert.commonName : cert.subject;
      broker.handle(stream, {
        remoteAddress: info.remoteAddress,
        remotePort: info.remotePort,
        transport: info.transport,
        listener: info.listener,
        allowAnonymous,
        ...(identity === undefined ? {} : { identity }),
      });
    };
    const admit: AdmissionCheck | undefined = options.admit;
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
    allowAnonymous: anonymousAllowed(config.listeners[0] as ListenerConfig),
    anonymousAllowed,
    get listeners() {
      return listeners;
    },
    async start() {
      try {
        for (const l of config.listeners) listeners.push(await open(l));
      } catch (err) {
        await Promise.all(listeners.map((l) => l.close()));
        listeners.length = 0;
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
    },
    async stop() {
      if (stopped) return;
      stopped = true;
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
