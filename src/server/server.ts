import { Broker } from '../broker/broker.js';
import type { BrokerHooks } from '../broker/hooks.js';
import type { Logger } from '../broker/logger.js';
import { type MozzieConfig, type MozzieConfigInput, validateConfig } from '../config/index.js';
import { listenTcp } from '../transport/tcp.js';
import type { Listener } from '../transport/types.js';
import { createConsoleLogger } from './logger.js';

export interface ServerOptions {
  readonly logger?: Logger;
  readonly hooks?: readonly BrokerHooks[];
  /** Shown in $SYS/broker/version and the start line. */
  readonly version?: string;
}

/** A broker with its listeners: what `mozzie broker` runs, usable from any Node program. */
export interface MozzieServer {
  readonly broker: Broker;
  readonly config: MozzieConfig;
  /** Listeners, once started. */
  readonly listeners: readonly Listener[];
  /** Whether clients without credentials are accepted (after applying the loopback rule). */
  readonly allowAnonymous: boolean;
  start(): Promise<readonly Listener[]>;
  /** Stops listening, disconnects every client (no Wills published) and stops the broker. */
  stop(): Promise<void>;
}

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|localhost)$/i;

export function isLoopback(host: string): boolean {
  return LOOPBACK.test(host);
}

/**
 * Wires a configuration to a broker and its listeners. Anonymous access defaults to on only when every
 * listener is on a loopback address, so a first run on a laptop just works and a public listener does
 * not accept strangers unless told to.
 */
export function createServer(input: MozzieConfigInput | MozzieConfig = {}, options: ServerOptions = {}): MozzieServer {
  const config = validateConfig(input);
  const logger = options.logger ?? createConsoleLogger({ level: config.log.level, format: config.log.format });
  const allLoopback = config.listeners.every((l) => isLoopback(l.host));
  const allowAnonymous = config.allowAnonymous ?? allLoopback;
  const broker = new Broker({
    capabilities: config.capabilities,
    limits: config.limits,
    sessions: config.sessions,
    sharedSubscriptionStrategy: config.sharedSubscriptionStrategy,
    outboundTopicAliases: config.outboundTopicAliases,
    validatePayloadFormat: config.validatePayloadFormat,
    allowAnonymous,
    sysInterval: config.sys.interval,
    responseInformation: config.responseInformation,
    logger,
    ...(options.hooks === undefined ? {} : { hooks: options.hooks }),
    ...(options.version === undefined ? {} : { version: options.version }),
  });
  const listeners: Listener[] = [];
  let stopped = false;

  return {
    broker,
    config,
    allowAnonymous,
    get listeners() {
      return listeners;
    },
    async start() {
      try {
        for (const l of config.listeners) {
          listeners.push(
            await listenTcp({ host: l.host, port: l.port }, (stream, info) => {
              broker.handle(stream, info);
            }),
          );
        }
      } catch (err) {
        await Promise.all(listeners.map((l) => l.close()));
        listeners.length = 0;
        await broker.close();
        throw err;
      }
      return listeners;
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
