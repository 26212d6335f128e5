import { isUtf8 } from 'node:buffer';
import { hasProperties, MqttError, PacketType, type PublishPacket, ReasonCode } from '../../protocol/index.js';
import type { Connection } from '../connection.js';
import type { Decision } from '../hooks.js';
import { type ForwardedProperties, Message } from '../message.js';
import type { PublishRateLimit } from '../token-bucket.js';

/**
 * Inbound PUBLISH (MQTT 5.0 section 3.3.4, 4.3): resolve the Topic Alias, enforce the server's
 * capabilities and limits, authorize, route, and acknowledge per QoS. QoS 2 uses the spec's Method B:
 * the message is routed on receipt and its Packet Identifier remembered until PUBREL, so a duplicate
 * PUBLISH is acknowledged but not routed again (section 4.3.3, Method B).
 */
export function handlePublish(c: Connection, p: PublishPacket): Promise<void> | undefined {
  const broker = c.broker;
  const session = c.session;
  if (session === undefined) return undefined;
  const rateLimit = c.publishLimit;
  if (rateLimit !== undefined && !withinRate(c, rateLimit, p)) return undefined;
  const caps = broker.settings.capabilities;
  const v5 = c.version === 5;
  const props = p.properties;

  let topic = p.topic;
  if (v5 && props !== undefined) {
    if (props.subscriptionIdentifiers !== undefined) {
      // A PUBLISH from a Client to a Server MUST NOT contain a Subscription Identifier. [MQTT-3.3.4-6]
      throw new MqttError('MQTT_PROTOCOL_ERROR', ReasonCode.ProtocolError, 'PUBLISH from a client carries a Subscription Identifier', {
        specId: 'MQTT-3.3.4-6',
      });
    }
    if (props.topicAlias !== undefined) topic = resolveAlias(c, topic, props.topicAlias);
  }

  if (p.qos > caps.maximumQoS) {
    // A Client MUST NOT send a PUBLISH with a QoS above the Maximum QoS it was given. [MQTT-3.2.2-11]
    throw new MqttError('MQTT_PROTOCOL_ERROR', ReasonCode.QoSNotSupported, `QoS ${p.qos} is above the server maximum ${caps.maximumQoS}`, {
      specId: 'MQTT-3.2.2-11',
    });
  }
  if (p.retain && !caps.retainAvailable) {
    // A Client MUST NOT send a PUBLISH with RETAIN 1 when Retain Available is 0. [MQTT-3.2.2-14]
    throw new MqttError('MQTT_PROTOCOL_ERROR', ReasonCode.RetainNotSupported, 'retained messages are not supported', {
      specId: 'MQTT-3.2.2-14',
    });
  }

  if (p.qos === 2 && session.inboundQos2.has(p.packetId as number)) {
    // A duplicate of a QoS 2 PUBLISH still awaiting PUBREL: acknowledge again, do not deliver again.
    sendPubrec(c, p.packetId as number, 0);
    return undefined;
  }
  if (v5 && p.qos > 0 && session.inboundQos2.size >= caps.receiveMaximum) {
    // The client sent more QoS 1/2 PUBLISH unacknowledged than our Receive Maximum allows. [MQTT-3.3.4-7]
    broker.metrics.limitHit('receiveMaximum');
    throw new MqttError(
      'MQTT_PROTOCOL_ERROR',
      ReasonCode.ReceiveMaximumExceeded,
      `more than ${caps.receiveMaximum} QoS 1/2 messages unacknowledged`,
      {
        specId: 'MQTT-3.3.4-7',
      },
    );
  }
  broker.metrics.publishReceived++;

  const refusal = checkLimits(c, topic, p);
  if (refusal !== 0) {
    broker.metrics.publishRefused++;
    acknowledge(c, p, refusal);
    return undefined;
  }

  if (broker.hooks.has.authorizePublish) {
    return broker.hooks
      .decide('authorizePublish', { client: c.info, topic, payload: p.payload, qos: p.qos, retain: p.retain, properties: props })
      .then((decision) => {
        if (c.state === 'connected') route(c, p, topic, decision);
      });
  }
  route(c, p, topic, undefined);
  return undefined;
}

/**
 * limits.maxPublishRate / maxPublishByteRate: token buckets, plain arithmetic per message. Exceeding either
 * closes the connection: 5.0 DISCONNECT 0x96 Message rate too high ("the received data rate is too high",
 * which covers bytes as well as messages; 0x97 Quota exceeded is kept for count limits), 3.1.1 just closes.
 * The burst is the allowance for small overruns; beyond it the client is told instead of being slowed
 * down unseen.
 */
function withinRate(c: Connection, rateLimit: PublishRateLimit, p: PublishPacket): boolean {
  // Application bytes: the topic as sent (empty with a Topic Alias) and the payload.
  const limit = rateLimit.charge(p.topic.length + p.payload.length, c.broker.clock.now());
  if (limit === undefined) return true;
  c.broker.metrics.limitHit(limit);
  c.abort(
    ReasonCode.MessageRateTooHigh,
    'message-rate-too-high',
    limit === 'maxPublishRate' ? 'publish rate too high' : 'publish byte rate too high',
  );
  return false;
}

/** Reason code (0 = fine) for limits and payload checks that refuse one message without closing. */
function checkLimits(c: Connection, topic: string, p: PublishPacket): number {
  const broker = c.broker;
  const limits = broker.settings.limits;
  if (topic.length > limits.maxTopicLength) {
    broker.metrics.limitHit('maxTopicLength');
    return ReasonCode.TopicNameInvalid;
  }
  if (limits.maxTopicLevels < 65_535 && countLevels(topic) > limits.maxTopicLevels) {
    broker.metrics.limitHit('maxTopicLevels');
    return ReasonCode.TopicNameInvalid;
  }
  // A payload marked as UTF-8 must be UTF-8; the receiver may check and answer 0x99. (section 3.3.2.3.2)
  if (p.properties?.payloadFormatIndicator === 1 && broker.settings.validatePayloadFormat && !isUtf8(p.payload)) {
    return ReasonCode.PayloadFormatInvalid;
  }
  return 0;
}

function countLevels(topic: string): number {
  let n = 1;
  for (let i = 0; i < topic.length; i++) if (topic.charCodeAt(i) === 0x2f) n++;
  return n;
}

function route(c: Connection, p: PublishPacket, topic: string, decision: Decision | undefined): void {
  const broker = c.broker;
  if (decision !== undefined && decision.verdict === 'deny') {
    broker.metrics.publishRefused++;
    // 5.0: PUBACK/PUBREC 0x87. 3.1.1 cannot say no: acknowledge and drop. [MQTT-3.3.5-2]
    acknowledge(c, p, decision.reasonCode ?? ReasonCode.NotAuthorized);
    return;
  }
  const props = p.properties;
  let forwarded: ForwardedProperties | undefined;
  let expiry: number | undefined;
  if (props !== undefined) {
    const { topicAlias, subscriptionIdentifiers, messageExpiryInterval, ...rest } = props;
    expiry = messageExpiryInterval;
    forwarded = hasProperties(rest) ? rest : undefined;
  }
  if (broker.hooks.has.onPublish) {
    broker.hooks.notify('onPublish', { client: c.info, topic, payload: p.payload, qos: p.qos, retain: p.retain, properties: props });
  }
  const message = new Message(topic, p.payload, p.qos, p.retain, forwarded, expiry, broker.clock.now(), c.clientId);
  const delivered = broker.publish(message, c);
  acknowledge(c, p, delivered === 0 && c.version === 5 ? ReasonCode.NoMatchingSubscribers : 0);
}

/** PUBACK for QoS 1, PUBREC for QoS 2 (remembering the id until PUBREL), nothing for QoS 0. */
function acknowledge(c: Connection, p: PublishPacket, reasonCode: number): void {
  if (p.qos === 0) {
    // A QoS 0 message cannot be refused in-band: a 5.0 client is told by DISCONNECT only for bad payloads.
    if (reasonCode === ReasonCode.PayloadFormatInvalid)
      throw new MqttError('MQTT_PAYLOAD_FORMAT_INVALID', reasonCode, 'payload is not valid UTF-8');
    return;
  }
  const code = c.version === 5 ? reasonCode : 0;
  const packetId = p.packetId as number;
  const session = c.session;
  if (p.qos === 2 && code < 0x80 && session !== undefined) {
    // Failure codes end the QoS 2 flow at PUBREC; success waits for PUBREL. [MQTT-4.3.3-8]
    session.inboundQos2.add(packetId);
    c.broker.persistence.inboundQos2(session, packetId, true);
  }
  sendAck(c, p.qos === 1 ? PacketType.Puback : PacketType.Pubrec, packetId, code);
}

/**
 * PUBACK ([MQTT-4.3.2-4]) or PUBREC ([MQTT-4.3.3-8]) with the Packet Identifier of the PUBLISH, sent
 * only once what it acknowledges is durable: with a durable store, after the batch that holds it commits.
 * If writing fails, the client is disconnected unacknowledged and will send the message again.
 */
function sendAck(c: Connection, type: typeof PacketType.Puback | typeof PacketType.Pubrec, packetId: number, reasonCode: number): void {
  const persistence = c.broker.persistence;
  if (!persistence.durable) {
    c.sendPacket({ type, packetId, reasonCode });
    return;
  }
  persistence.afterCommit(
    () => {
      if (c.state === 'connected') c.sendPacket({ type, packetId, reasonCode });
    },
    (err) => c.abort(ReasonCode.ServerBusy, 'implementation-error', err.message),
  );
}

function sendPubrec(c: Connection, packetId: number, reasonCode: number): void {
  sendAck(c, PacketType.Pubrec, packetId, reasonCode);
}

/**
 * Topic Alias from client to server (section 3.3.2.3.4): 1..our Topic Alias Maximum ([MQTT-3.3.2-9]);
 * a non-empty topic sets the alias, an empty one uses it; an unknown alias is a Protocol Error.
 */
function resolveAlias(c: Connection, topic: string, alias: number): string {
  const max = c.broker.settings.capabilities.topicAliasMaximum;
  if (alias > max) {
    throw new MqttError('MQTT_PROTOCOL_ERROR', ReasonCode.TopicAliasInvalid, `Topic Alias ${alias} exceeds the maximum ${max}`, {
      specId: 'MQTT-3.3.2-9',
    });
  }
  if (topic.length > 0) {
    if (c.aliasesIn === undefined) c.aliasesIn = new Map();
    c.aliasesIn.set(alias, topic);
    return topic;
  }
  const known = c.aliasesIn?.get(alias);
  if (known === undefined) {
    throw new MqttError('MQTT_PROTOCOL_ERROR', ReasonCode.ProtocolError, `Topic Alias ${alias} has no topic yet`);
  }
  return known;
}
