import { isIP } from 'node:net';
import { z } from 'zod';
import { defaultSettings } from '../broker/options.js';

/**
 * The one configuration schema: types, defaults, validation and the text `mozzie broker --help` prints.
 * Config files, command-line flags and `createServer()` all go through it. Defaults come from the
 * broker's own defaults, so there is one source for each value.
 */

const d = defaultSettings;
const uint = (max = Number.MAX_SAFE_INTEGER) => z.number().int().min(0).max(max);
/** Per-second rates may be fractional (0.5 = one every two seconds). */
const rate = () => z.number().min(0).max(Number.MAX_SAFE_INTEGER);
const positive = (max = Number.MAX_SAFE_INTEGER) => z.number().int().min(1).max(max);

function isAddressOrNetwork(entry: string): boolean {
  const slash = entry.indexOf('/');
  const family = isIP(slash < 0 ? entry : entry.slice(0, slash));
  if (family === 0 || slash < 0) return family !== 0;
  const bits = entry.slice(slash + 1);
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
}

const listenerCommon = {
  name: z.string().min(1).optional().describe('A name for logs and metrics (default kind:port).'),
  host: z.string().min(1).default('127.0.0.1').describe('Address to bind; 0.0.0.0 or :: for every interface.'),
  allowAnonymous: z
    .boolean()
    .optional()
    .describe('Accept clients without credentials here. Unset: the top-level allowAnonymous, else only on loopback addresses.'),
};

const tlsFields = {
  cert: z.string().min(1).describe('PEM certificate (chain) file.'),
  key: z.string().min(1).describe('PEM private key file.'),
  passphrase: z.string().optional().describe('Passphrase of an encrypted key.'),
  ca: z.string().min(1).optional().describe('PEM CA file for client certificates; setting it enables mutual TLS.'),
  requireCertificate: z.boolean().default(false).describe('Refuse clients without a certificate signed by ca.'),
  identityFrom: z
    .enum(['none', 'cn', 'subject'])
    .default('none')
    .describe("Use the client certificate as the username: its CN or whole subject (Mosquitto's use_identity_as_username)."),
  minVersion: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2').describe('Oldest TLS version accepted.'),
  ciphers: z.string().optional().describe('OpenSSL cipher list for TLS 1.2.'),
};

export const tcpListenerSchema = z.strictObject({
  type: z.literal('tcp').describe('Plain MQTT over TCP.'),
  ...listenerCommon,
  port: uint(65_535).default(1883).describe('Port; 0 picks a free one.'),
  proxyProtocol: z
    .boolean()
    .default(false)
    .describe('Expect a PROXY protocol v1/v2 header (behind a load balancer) and use its client address.'),
});

export const tlsListenerSchema = z.strictObject({
  type: z.literal('tls').describe('MQTT over TLS.'),
  ...listenerCommon,
  port: uint(65_535).default(8883).describe('Port; 0 picks a free one.'),
  ...tlsFields,
});

export const wsListenerSchema = z.strictObject({
  type: z.literal('ws').describe('MQTT over WebSocket.'),
  ...listenerCommon,
  port: uint(65_535).default(8083).describe('Port; 0 picks a free one.'),
  path: z.string().startsWith('/').default('/mqtt').describe('URL path of the WebSocket endpoint.'),
});

export const wssListenerSchema = z.strictObject({
  type: z.literal('wss').describe('MQTT over secure WebSocket.'),
  ...listenerCommon,
  port: uint(65_535).default(8084).describe('Port; 0 picks a free one.'),
  path: z.string().startsWith('/').default('/mqtt').describe('URL path of the WebSocket endpoint.'),
  ...tlsFields,
});

export const listenerSchema = z
  .discriminatedUnion('type', [tcpListenerSchema, tlsListenerSchema, wsListenerSchema, wssListenerSchema])
  .superRefine((l, ctx) => {
    if ((l.type === 'tls' || l.type === 'wss') && l.ca === undefined) {
      if (l.requireCertificate)
        ctx.addIssue({ code: 'custom', path: ['requireCertificate'], message: 'needs ca (the CA that signs client certificates)' });
      if (l.identityFrom !== 'none')
        ctx.addIssue({ code: 'custom', path: ['identityFrom'], message: 'needs ca (the CA that signs client certificates)' });
    }
  });

const capabilitiesSchema = z.strictObject({
  maximumQoS: z
    .union([z.literal(0), z.literal(1), z.literal(2)])
    .default(d.capabilities.maximumQoS)
    .describe('Highest QoS accepted and granted.'),
  retainAvailable: z.boolean().default(d.capabilities.retainAvailable).describe('Accept retained messages.'),
  wildcardSubscriptionAvailable: z
    .boolean()
    .default(d.capabilities.wildcardSubscriptionAvailable)
    .describe('Accept + and # in subscriptions.'),
  subscriptionIdentifiersAvailable: z
    .boolean()
    .default(d.capabilities.subscriptionIdentifiersAvailable)
    .describe('Accept MQTT 5 Subscription Identifiers.'),
  sharedSubscriptionAvailable: z
    .boolean()
    .default(d.capabilities.sharedSubscriptionAvailable)
    .describe('Accept $share/{group}/{filter} subscriptions.'),
  receiveMaximum: positive(65_535)
    .default(d.capabilities.receiveMaximum)
    .describe('QoS 1/2 messages a v5 client may have unacknowledged towards us.'),
  topicAliasMaximum: uint(65_535)
    .default(d.capabilities.topicAliasMaximum)
    .describe('Topic Aliases a v5 client may use towards us; 0 disables.'),
});

const limitsSchema = z.strictObject({
  maxConnections: positive().default(d.limits.maxConnections).describe('Connected clients at once.'),
  maxPacketSize: z.number().int().min(64).max(268_435_460).default(d.limits.maxPacketSize).describe('Largest packet accepted, in bytes.'),
  maxInflight: positive(65_535).default(d.limits.maxInflight).describe('Outbound QoS 1/2 messages in flight per client.'),
  maxQueuedMessages: uint().default(d.limits.maxQueuedMessages).describe('Messages queued per session (offline or window full).'),
  maxQueuedBytes: uint().default(d.limits.maxQueuedBytes).describe('Payload bytes queued per session.'),
  maxQueuedBytesTotal: uint()
    .default(d.limits.maxQueuedBytesTotal)
    .describe('Bytes queued by all sessions together (memory and store); beyond it new queued messages are dropped.'),
  maxTopicLevels: positive(65_535).default(d.limits.maxTopicLevels).describe('Levels in a topic name or filter.'),
  maxTopicLength: positive(65_535).default(d.limits.maxTopicLength).describe('Characters in a topic name or filter.'),
  maxSubscriptionsPerClient: uint().default(d.limits.maxSubscriptionsPerClient).describe('Subscriptions one session may hold.'),
  maxClientIdLength: positive(65_535).default(d.limits.maxClientIdLength).describe('Characters in a client identifier.'),
  maxKeepAlive: uint(65_535)
    .default(d.limits.maxKeepAlive)
    .describe('Largest keep alive (s); v5 clients are told, v3 clients above it are refused.'),
  connectTimeout: positive().default(d.limits.connectTimeout).describe('Milliseconds a connection has to send CONNECT.'),
  outboundHighWaterMark: positive().default(d.limits.outboundHighWaterMark).describe('Bytes waiting for a socket before QoS 0 is dropped.'),
  slowConsumerTimeout: positive()
    .default(d.limits.slowConsumerTimeout)
    .describe('Milliseconds a socket may stay congested before the client is disconnected.'),
  maxPublishRate: rate()
    .default(d.limits.maxPublishRate)
    .describe('PUBLISH packets a second per client; above it v5 gets DISCONNECT 0x96, v3 is closed. 0 = no limit.'),
  publishBurst: uint()
    .default(d.limits.publishBurst)
    .describe('Messages a client may send at once above maxPublishRate; 0 = one second worth.'),
  maxPublishByteRate: rate()
    .default(d.limits.maxPublishByteRate)
    .describe('Topic + payload bytes a second per client; above it v5 gets DISCONNECT 0x96, v3 is closed. 0 = no limit.'),
  publishByteBurst: uint()
    .default(d.limits.publishByteBurst)
    .describe('Bytes a client may send at once above maxPublishByteRate; 0 = one second worth.'),
});

/** Admission control at the listeners; defaults (here, the one place) leave it off. See server/admission.ts. */
export const admissionSchema = z.strictObject({
  maxConnectionsPerAddress: uint()
    .default(0)
    .describe('Open connections from one address; more are closed at accept, before TLS or MQTT. 0 = no limit.'),
  connectionRate: rate().default(0).describe('New connections a second from one address, checked before the TLS handshake. 0 = no limit.'),
  connectionBurst: uint().default(0).describe('Connections one address may open at once above connectionRate; 0 = one second worth.'),
  ipv6PrefixLength: z
    .number()
    .int()
    .min(1)
    .max(128)
    .default(64)
    .describe('IPv6 clients are counted per network of this prefix length (one host usually has a /64).'),
  exempt: z
    .array(z.string().refine(isAddressOrNetwork, 'expected an IP address or CIDR network (10.0.0.0/8, fd00::/8)'))
    .default([])
    .describe('Addresses or CIDR networks (10.0.0.0/8, ::1) free of per-address limits and address bans.'),
  ban: z
    .strictObject({
      failures: uint()
        .default(0)
        .describe('Failed CONNECTs (bad credentials, not authorized) within window that ban the address or client id. 0 = off.'),
      window: positive().default(60_000).describe('Milliseconds in which failures are counted.'),
      duration: positive().default(300_000).describe('Milliseconds a ban lasts.'),
      scope: z
        .enum(['address', 'clientId', 'both'])
        .default('both')
        .describe('What failed logins ban: the address (closed at accept), the client id (v5 CONNACK 0x8A Banned), or both.'),
    })
    .prefault({}),
});

const sessionsSchema = z.strictObject({
  defaultExpiryInterval: uint(0xffff_ffff)
    .default(d.sessions.defaultExpiryInterval)
    .describe('Session expiry (s) for v3 clients with clean session off.'),
  maxExpiryInterval: uint(0xffff_ffff)
    .default(d.sessions.maxExpiryInterval)
    .describe('Cap on the session expiry (s) v5 clients ask for; 4294967295 = none.'),
  queueQos0WhenOffline: z
    .boolean()
    .default(d.sessions.queueQos0WhenOffline)
    .describe('Queue QoS 0 messages for offline persistent sessions.'),
});

/** Password file, ACL file and SCRAM-SHA-256 (src/auth/); reloaded on SIGHUP. */
const authSchema = z
  .strictObject({
    passwordFile: z
      .string()
      .min(1)
      .optional()
      .describe('Password file (mozzie passwd; Mosquitto $7$/$6$ lines read too). Clients with a user name need a matching password.'),
    aclFile: z
      .string()
      .min(1)
      .optional()
      .describe('ACL file (topic/pattern/user lines, as Mosquitto): what each client may publish and subscribe to; the rest is refused.'),
    scram: z
      .boolean()
      .optional()
      .describe('Offer SCRAM-SHA-256 enhanced authentication (MQTT 5) with the password file. Unset: on when passwordFile is set.'),
    iterations: z
      .number()
      .int()
      .min(4096)
      .max(10_000_000)
      .optional()
      .describe('PBKDF2 iterations SCRAM announces for unknown users. Unset: the most common count in the password file.'),
    hashConcurrency: positive(64).default(2).describe('Password hashes computed at once; further logins wait in a bounded queue.'),
  })
  .superRefine((a, ctx) => {
    if (a.scram === true && a.passwordFile === undefined) {
      ctx.addIssue({ code: 'custom', path: ['scram'], message: 'needs passwordFile (SCRAM checks against its users)' });
    }
  });

const storeSchema = z
  .strictObject({
    type: z
      .enum(['memory', 'sqlite'])
      .default('memory')
      .describe(
        'memory: nothing survives a restart; sqlite: sessions, owed messages, retained messages and wills are kept in dataDir. mozzie broker uses sqlite unless --memory.',
      ),
    dataDir: z.string().min(1).default('./mozzie-data').describe('Directory of the sqlite store (created if missing).'),
    sync: z
      .enum(['full', 'normal', 'off'])
      .default('normal')
      .describe('full: fsync every commit (survives power loss); normal: survives a crash or kill of the process; off: no syncing.'),
    commitWindow: uint(1000).default(0).describe('Milliseconds to gather writes into one commit; 0 commits once per event-loop turn.'),
  })
  .prefault({});

export const configSchema = z.strictObject({
  store: storeSchema,
  listeners: z
    .array(listenerSchema)
    .min(1)
    .default([{ type: 'tcp', host: '127.0.0.1', port: 1883, proxyProtocol: false }])
    .describe('Where the broker listens.'),
  allowAnonymous: z
    .boolean()
    .optional()
    .describe('Accept clients without credentials (listeners may override). Unset: allowed on loopback addresses only.'),
  auth: authSchema.prefault({}),
  log: z
    .strictObject({
      level: z.enum(['debug', 'info', 'warn', 'error']).default('info').describe('Least severe level printed.'),
      format: z.enum(['text', 'json']).default('text').describe('text for people, json (one object per line) for log collectors.'),
    })
    .prefault({}),
  capabilities: capabilitiesSchema.prefault({}),
  limits: limitsSchema.prefault({}),
  sessions: sessionsSchema.prefault({}),
  sharedSubscriptionStrategy: z
    .enum(['round-robin', 'random', 'sticky'])
    .default(d.sharedSubscriptionStrategy)
    .describe('How a shared subscription picks the member for each message.'),
  outboundTopicAliases: z.boolean().default(d.outboundTopicAliases).describe('Use Topic Aliases towards v5 clients that allow them.'),
  validatePayloadFormat: z.boolean().default(d.validatePayloadFormat).describe('Refuse payloads marked UTF-8 that are not (0x99).'),
  responseInformation: z.string().optional().describe('Response Information for v5 clients that request it.'),
  hookTimeout: positive().default(d.hookTimeout).describe('Milliseconds a deciding hook (authenticate, authorize...) may take.'),
  hookFailure: z
    .enum(['deny', 'allow', 'defer'])
    .default(d.hookFailure)
    .describe('What a deciding hook that throws or times out counts as: deny (fail closed), allow, or defer to the next.'),
  admission: admissionSchema.prefault({}),
  sys: z
    .strictObject({
      interval: uint().default(d.sysInterval).describe('Seconds between $SYS/ updates; 0 turns them off.'),
    })
    .prefault({}),
});

type ListenerInput = z.input<typeof listenerSchema>;
/** A TCP listener may leave out `type`. */
type TcpListenerShorthand = Omit<Extract<ListenerInput, { type: 'tcp' }>, 'type'> & { readonly type?: 'tcp' };
/** A configuration as written by a user: every key optional. */
export type MozzieConfigInput = Omit<z.input<typeof configSchema>, 'listeners'> & {
  readonly listeners?: readonly (ListenerInput | TcpListenerShorthand)[];
};
/** A validated configuration with every default filled in. */
export type MozzieConfig = z.output<typeof configSchema>;
export type ListenerConfig = z.output<typeof listenerSchema>;
