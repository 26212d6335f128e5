/**
 * Mozzie: MQTT broker, client library and tools.
 *
 * - The protocol codec (shared by broker and client): encodePacket, decodePacket, Framer, MqttError, ...
 * - The broker: `new Broker(options)` with `broker.handle(stream)`, or `createServer(config)` with listeners.
 * - The configuration schema: validateConfig, loadConfigFile.
 */

export {
  Acl,
  FileAuth,
  type FileAuthOptions,
  type ScramClient,
  type ScramClientOptions,
  scramClient,
  scramSha256Method,
} from './auth/index.js';
export { Broker } from './broker/broker.js';
export type { Clock, Timer } from './broker/clock.js';
export type { CloseReason } from './broker/close-reason.js';
export type { ConnectionInfo } from './broker/connection.js';
export type {
  AuthenticateEvent,
  BrokerHooks,
  ClientInfo,
  ConnectEvent,
  Decision,
  DeliverEvent,
  DisconnectEvent,
  HookAnswer,
  PublishEvent,
  SessionExpiredEvent,
  SubscribeEvent,
  Verdict,
} from './broker/hooks.js';
export type { Logger, LogLevel } from './broker/logger.js';
export { type LimitName, Metrics } from './broker/metrics.js';
export {
  type BrokerOptions,
  type BrokerSettings,
  type Capabilities,
  defaultSettings,
  type Limits,
  type SessionSettings,
} from './broker/options.js';
export type { SharedSubscriptionStrategy } from './broker/router/shared.js';
export {
  type AuthHandler,
  Backoff,
  type BackoffOptions,
  ClientError,
  type ClientErrorCode,
  type ClientEvents,
  type ClientOptions,
  ClientState,
  connect,
  connectAsync,
  type Dialer,
  type DialOptions,
  type EndOptions,
  FileStore,
  type InflightStore,
  MqttClient,
  nodeDialer,
  type PublishOptions,
  type PublishResult,
  type StoredPublish,
  type SubscribeOptions,
  type SubscribeResult,
  type TlsOptions,
  type Transport,
  type UnsubscribeResult,
  type WillOptions,
} from './client/index.js';
export {
  ConfigError,
  configSchema,
  loadConfigFile,
  type MozzieConfig,
  type MozzieConfigInput,
  settingsHelp,
  validateConfig,
} from './config/index.js';
export * from './protocol/index.js';
export { createConsoleLogger } from './server/logger.js';
export { createServer, isLoopback, type MozzieServer, type ServerOptions } from './server/server.js';
export type { Listener } from './transport/types.js';
