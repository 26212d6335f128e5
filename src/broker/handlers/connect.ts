import type { Buffer } from 'node:buffer';
import type { ConnackProperties, ConnectPacket } from '../../protocol/index.js';
import { allowedReasonCodes, hasProperties, MqttError, PacketType, ReasonCode } from '../../protocol/index.js';
import type { AuthStep } from '../auth-method.js';
import type { Connection } from '../connection.js';
import type { Decision } from '../hooks.js';
import { Message } from '../message.js';

/**
 * CONNECT (MQTT 5.0 section 3.1.4, 3.1.1 section 3.1.4): validate, authenticate, take over an existing
 * connection with the same Client Identifier, resume or start the session, answer CONNACK, then resend
 * what the resumed session still owes.
 */
export function handleConnect(c: Connection, p: ConnectPacket): Promise<void> | undefined {
  if (c.state !== 'awaiting-connect') {
    // A Client can only send the CONNECT packet once over a Network Connection. [MQTT-3.1.0-2]
    throw new MqttError('MQTT_PROTOCOL_ERROR', ReasonCode.ProtocolError, 'a second CONNECT', { specId: 'MQTT-3.1.0-2' });
  }
  c.cancelConnectTimer();
  c.state = 'connecting';
  c.version = p.protocolVersion;
  // A certificate identity replaces whatever user name the client sent (use_identity_as_username).
  c.username = c.identity ?? p.username;
  // Known before any refusal: no CONNACK may exceed the client's Maximum Packet Size. [MQTT-3.2.2-19]
  const maximumPacketSize = p.properties?.maximumPacketSize;
  if (p.protocolVersion === 5 && maximumPacketSize !== undefined) c.clientMaximumPacketSize = maximumPacketSize;
  const broker = c.broker;
  const limits = broker.settings.limits;
  const v5 = p.protocolVersion === 5;

  let clientId = p.clientId;
  let assigned = false;
  if (clientId.length === 0) {
    if (p.protocolVersion === 3) {
      // MQTT 3.1 requires a Client Identifier of 1 to 23 characters.
      c.refuse(ReasonCode.ClientIdentifierNotValid, 'MQTT 3.1 requires a client identifier');
      return undefined;
    }
    if (p.protocolVersion === 4 && !p.clean) {
      // A zero-byte ClientId with CleanSession 0 is refused with return code 0x02. [MQTT-3.1.3-8]
      c.refuse(ReasonCode.ClientIdentifierNotValid, 'an empty client identifier needs Clean Session 1');
      return undefined;
    }
    // The Server assigns a unique ClientId ([MQTT-3.1.3-6]) and returns it in CONNACK ([MQTT-3.2.2-16]).
    clientId = broker.assignClientId();
    assigned = true;
  } else if (clientId.length > limits.maxClientIdLength) {
    broker.metrics.limitHit('maxClientIdLength');
    c.refuse(ReasonCode.ClientIdentifierNotValid, `client identifier longer than ${limits.maxClientIdLength}`);
    return undefined;
  }
  c.clientId = clientId;

  const gate = broker.connectGate;
  if (gate !== undefined) {
    // Admission control before any authentication work: a banned client id or address gets 0x8A Banned
    // (3.1.1: return code 5, Not authorized).
    const code = gate.refuseConnect(c.info);
    if (code !== 0) {
      c.refuse(code, code === ReasonCode.Banned ? 'banned' : undefined);
      return undefined;
    }
  }

  let serverKeepAlive: number | undefined;
  c.keepAlive = p.keepAlive;
  if (p.keepAlive > limits.maxKeepAlive || (p.keepAlive === 0 && limits.maxKeepAlive < 65_535)) {
    broker.metrics.limitHit('maxKeepAlive');
    if (!v5) {
      // 3.1.1 has no way to tell the client another Keep Alive: refuse, as Mosquitto does.
      c.refuse(ReasonCode.ClientIdentifierNotValid, `keep alive above the maximum of ${limits.maxKeepAlive} s`);
      return undefined;
    }
    // The Client MUST use the Server Keep Alive value instead of its own. [MQTT-3.2.2-21]
    serverKeepAlive = limits.maxKeepAlive;
    c.keepAlive = serverKeepAlive;
  }

  const props = p.properties;
  if (v5 && props !== undefined) {
    if (props.receiveMaximum !== undefined) c.clientReceiveMaximum = props.receiveMaximum;
    if (props.maximumPacketSize !== undefined) c.clientMaximumPacketSize = props.maximumPacketSize;
    if (props.topicAliasMaximum !== undefined) c.clientTopicAliasMaximum = props.topicAliasMaximum;
    if (props.requestProblemInformation === false) c.requestProblemInformation = false;
    if (props.authenticationMethod !== undefined) {
      const method = broker.authMethods.get(props.authenticationMethod);
      if (method === undefined) {
        // An Authentication Method the server does not support: CONNACK 0x8C. [MQTT-4.12.0-1]
        c.refuse(ReasonCode.BadAuthenticationMethod, `authentication method ${props.authenticationMethod} is not supported`);
        return undefined;
      }
      c.authMethod = method.name;
      c.authExchange = method.begin();
    }
  }

  const caps = broker.settings.capabilities;
  if (p.will !== undefined && p.will.qos > caps.maximumQoS) {
    // A Will QoS above what we support is refused: 5.0 CONNACK 0x9B; 3.x has no fitting return code,
    // so the connection closes without CONNACK. [MQTT-3.2.2-12] (3.1.1 [MQTT-3.2.2-6])
    throw new MqttError('MQTT_PROTOCOL_ERROR', ReasonCode.QoSNotSupported, `Will QoS ${p.will.qos} is above the server maximum`, {
      specId: 'MQTT-3.2.2-12',
    });
  }
  if (p.will?.retain === true && !caps.retainAvailable) {
    // A retained Will when retained messages are not supported: 5.0 CONNACK 0x9A. [MQTT-3.2.2-13]
    throw new MqttError('MQTT_PROTOCOL_ERROR', ReasonCode.RetainNotSupported, 'retained messages are not supported', {
      specId: 'MQTT-3.2.2-13',
    });
  }

  if (broker.connectedCount >= limits.maxConnections && !broker.isConnected(clientId)) {
    broker.metrics.limitHit('maxConnections');
    c.refuse(v5 ? ReasonCode.QuotaExceeded : ReasonCode.ServerUnavailable, 'too many connections');
    return undefined;
  }

  const exchange = c.authExchange;
  if (exchange !== undefined) {
    // Enhanced authentication decides instead of the authenticate hooks: its success is the admission.
    c.authContinuation = (data) => acceptChecked(c, p, assigned, serverKeepAlive, data);
    return runAuthStep(c, () => exchange.start(props?.authenticationData, c.info));
  }
  if (broker.hooks.has.authenticate) {
    return broker.hooks
      .decide('authenticate', { client: c.info, password: p.password, clean: p.clean, keepAlive: p.keepAlive, properties: props })
      .then((decision) => {
        if (c.state !== 'connecting') return undefined;
        return admit(c, decision, p) ? acceptChecked(c, p, assigned, serverKeepAlive) : undefined;
      });
  }
  if (admit(c, { verdict: 'defer' }, p)) return acceptChecked(c, p, assigned, serverKeepAlive);
  return undefined;
}

/**
 * The Will is a publish the client makes in advance: it must be allowed like one (as Mosquitto's ACLs
 * check it), or a client could leave a message on a topic it may not write. A denied Will refuses the
 * CONNECT with 0x87 (3.1.1: return code 5).
 */
function acceptChecked(
  c: Connection,
  p: ConnectPacket,
  assigned: boolean,
  serverKeepAlive: number | undefined,
  authData?: Buffer,
): Promise<void> | undefined {
  const will = p.will;
  const hooks = c.broker.hooks;
  if (will === undefined || !hooks.has.authorizePublish) {
    accept(c, p, assigned, serverKeepAlive, authData);
    return undefined;
  }
  return hooks
    .decide('authorizePublish', {
      client: c.info,
      topic: will.topic,
      payload: will.payload,
      qos: will.qos,
      retain: will.retain,
      properties: will.properties,
    })
    .then((decision) => {
      if (c.state !== 'connecting') return;
      if (decision.verdict === 'deny')
        c.refuse(
          decision.reasonCode ?? ReasonCode.NotAuthorized,
          decision.reasonString ?? `not allowed to publish the Will to ${will.topic}`,
        );
      else accept(c, p, assigned, serverKeepAlive, authData);
    });
}

/**
 * Applies the authentication decision. When every hook defers, a verified certificate identity or
 * anonymous access on this listener admits the client.
 */
function admit(c: Connection, decision: Decision, p: ConnectPacket): boolean {
  if (decision.verdict === 'allow') return true;
  if (decision.verdict === 'defer' && (c.identity !== undefined || c.allowAnonymous)) return true;
  const code =
    decision.reasonCode ??
    (decision.verdict === 'defer' || p.username === undefined ? ReasonCode.NotAuthorized : ReasonCode.BadUserNameOrPassword);
  c.refuse(code, decision.reasonString);
  return false;
}

/**
 * Runs one step of enhanced authentication (MQTT 5.0 section 4.12): continue with AUTH 0x18, succeed
 * (CONNACK, or AUTH 0x00 when re-authenticating), or fail (CONNACK, or DISCONNECT when re-authenticating).
 */
export function runAuthStep(c: Connection, step: () => AuthStep | Promise<AuthStep>): Promise<void> {
  return Promise.resolve()
    .then(step)
    .then((s) => {
      if (c.state === 'closed') return;
      const method = c.authMethod as string;
      const reauth = c.state === 'connected';
      if (s.type === 'continue') {
        // [MQTT-4.12.0-2] The server continues the exchange with AUTH 0x18.
        c.sendPacket({
          type: PacketType.Auth,
          reasonCode: ReasonCode.ContinueAuthentication,
          properties: { authenticationMethod: method, ...(s.data === undefined ? {} : { authenticationData: s.data }) },
        });
        return;
      }
      c.authExchange = undefined;
      if (s.type === 'failure') {
        const code = s.reasonCode ?? ReasonCode.NotAuthorized;
        // DISCONNECT has no 0x86 (Bad User Name or Password): a failed re-authentication says 0x87.
        if (reauth)
          c.abort(
            allowedReasonCodes[PacketType.Disconnect]?.has(code) === true ? code : ReasonCode.NotAuthorized,
            'not-authorized',
            s.reasonString,
          );
        else c.refuse(code, s.reasonString);
        return;
      }
      if (s.username !== undefined) c.username = s.username;
      if (reauth) {
        // [MQTT-4.12.1-2] Re-authentication succeeded: AUTH 0x00 with the method.
        c.sendPacket({
          type: PacketType.Auth,
          reasonCode: ReasonCode.Success,
          properties: { authenticationMethod: method, ...(s.data === undefined ? {} : { authenticationData: s.data }) },
        });
        return;
      }
      const done = c.authContinuation;
      c.authContinuation = undefined;
      return done?.(s.data);
    });
}

function accept(c: Connection, p: ConnectPacket, assigned: boolean, serverKeepAlive: number | undefined, authData?: Buffer): void {
  const broker = c.broker;
  const settings = broker.settings;
  const now = broker.clock.now();
  const v5 = p.protocolVersion === 5;

  // If the ClientID is already connected, the existing connection is closed (5.0: DISCONNECT 0x8E).
  // [MQTT-3.1.4-3] (3.1.1: [MQTT-3.1.4-2])
  broker.takeOver(c.clientId, c);

  let expiry: number;
  if (v5) {
    expiry = Math.min(p.properties?.sessionExpiryInterval ?? 0, settings.sessions.maxExpiryInterval);
  } else {
    expiry = p.clean ? 0 : settings.sessions.defaultExpiryInterval;
  }
  c.connectSessionExpiry = p.properties?.sessionExpiryInterval ?? 0;
  const { session, present } = broker.openSession(c, p.clean, expiry);

  if (p.will !== undefined) {
    const w = p.will;
    const wp = w.properties;
    const { willDelayInterval, messageExpiryInterval, ...forwarded } = wp ?? {};
    const message = new Message(
      w.topic,
      w.payload,
      w.qos,
      w.retain,
      hasProperties(forwarded) ? forwarded : undefined,
      messageExpiryInterval,
      now,
      c.clientId,
    ).detach();
    c.will = { message, delayInterval: willDelayInterval ?? 0 };
  }

  c.state = 'connected';
  const ack: { -readonly [K in keyof ConnackProperties]: ConnackProperties[K] } = {};
  if (v5) {
    const caps = settings.capabilities;
    if (p.properties?.sessionExpiryInterval !== undefined && expiry !== p.properties.sessionExpiryInterval)
      ack.sessionExpiryInterval = expiry;
    if (caps.receiveMaximum < 65_535) ack.receiveMaximum = caps.receiveMaximum;
    if (caps.maximumQoS < 2) ack.maximumQoS = caps.maximumQoS;
    if (!caps.retainAvailable) ack.retainAvailable = false;
    ack.maximumPacketSize = settings.limits.maxPacketSize;
    if (assigned) ack.assignedClientIdentifier = c.clientId;
    if (caps.topicAliasMaximum > 0) ack.topicAliasMaximum = caps.topicAliasMaximum;
    if (!caps.wildcardSubscriptionAvailable) ack.wildcardSubscriptionAvailable = false;
    if (!caps.subscriptionIdentifiersAvailable) ack.subscriptionIdentifiersAvailable = false;
    if (!caps.sharedSubscriptionAvailable) ack.sharedSubscriptionAvailable = false;
    if (serverKeepAlive !== undefined) ack.serverKeepAlive = serverKeepAlive;
    if (p.properties?.requestResponseInformation === true && settings.responseInformation !== undefined) {
      ack.responseInformation = settings.responseInformation;
    }
    if (c.authMethod !== undefined) {
      // The CONNACK of an enhanced authentication names the method and carries its final data.
      ack.authenticationMethod = c.authMethod;
      if (authData !== undefined) ack.authenticationData = authData;
    }
  }
  // CONNACK is the first packet the Server sends ([MQTT-3.2.0-1]); Session Present says whether the
  // session was resumed ([MQTT-3.2.2-2], [MQTT-3.2.2-3]).
  c.sendPacket({
    type: PacketType.Connack,
    sessionPresent: present,
    reasonCode: 0,
    ...(v5 && hasProperties(ack) ? { properties: ack } : {}),
  });
  broker.metrics.connectsAccepted++;
  c.startKeepAlive();
  broker.connected(c, session, present);
  if (present) c.outbound.resume();
}
