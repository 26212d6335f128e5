import {
  MqttError,
  PacketType,
  parseSharedSubscription,
  type QoS,
  ReasonCode,
  type SubscribePacket,
  type Subscription,
} from '../../protocol/index.js';
import type { Connection } from '../connection.js';
import type { Decision } from '../hooks.js';
import type { SubscriptionEntry } from '../session.js';

/**
 * SUBSCRIBE (MQTT 5.0 section 3.8.4): each filter is handled as if alone and the answers combined into
 * one SUBACK ([MQTT-3.8.4-5]): a Reason Code per filter, in order ([MQTT-3.8.4-6], [MQTT-3.9.3-1]),
 * the granted QoS or a failure. Retained messages follow the SUBACK per Retain Handling.
 */
export function handleSubscribe(c: Connection, p: SubscribePacket): Promise<void> | undefined {
  const broker = c.broker;
  const id = p.properties?.subscriptionIdentifier;
  if (id !== undefined && !broker.settings.capabilities.subscriptionIdentifiersAvailable) {
    // A client MUST NOT send a Subscription Identifier when the server does not support them.
    throw new MqttError(
      'MQTT_PROTOCOL_ERROR',
      ReasonCode.SubscriptionIdentifiersNotSupported,
      'Subscription Identifiers are not supported',
    );
  }
  if (broker.hooks.has.authorizeSubscribe) {
    const checks = p.subscriptions.map((s) =>
      broker.hooks.decide('authorizeSubscribe', { client: c.info, filter: s.topicFilter, qos: s.qos }),
    );
    return Promise.all(checks).then((decisions) => {
      if (c.state === 'connected') subscribe(c, p, decisions);
    });
  }
  subscribe(c, p, undefined);
  return undefined;
}

function subscribe(c: Connection, p: SubscribePacket, decisions: readonly Decision[] | undefined): void {
  const broker = c.broker;
  const session = c.session;
  if (session === undefined) return;
  const id = p.properties?.subscriptionIdentifier;
  const v5 = c.version === 5;
  const codes: number[] = [];
  const retained: SubscriptionEntry[] = [];
  p.subscriptions.forEach((s, i) => {
    const decision = decisions?.[i];
    let code = refusal(c, s);
    if (code === 0 && decision?.verdict === 'deny') code = decision.reasonCode ?? ReasonCode.NotAuthorized;
    if (code !== 0) {
      // 3.1.1 has one failure return code, 0x80. [MQTT-3.9.3-2]
      codes.push(v5 ? code : 0x80);
      return;
    }
    const share = parseSharedSubscription(s.topicFilter);
    const qos = Math.min(s.qos, broker.settings.capabilities.maximumQoS) as QoS;
    const entry: SubscriptionEntry = {
      filter: s.topicFilter,
      topicFilter: share?.topicFilter ?? s.topicFilter,
      shareName: share?.shareName,
      qos,
      noLocal: v5 && s.noLocal,
      retainAsPublished: v5 && s.retainAsPublished,
      retainHandling: v5 ? s.retainHandling : 0,
      subscriptionIdentifier: id,
    };
    // An identical filter replaces the existing subscription. [MQTT-3.8.4-3]
    const isNew = broker.subscribe(session, entry);
    codes.push(qos);
    // Retain Handling 0: send retained messages; 1: only for a new subscription; 2: never.
    // [MQTT-3.3.1-9] [MQTT-3.3.1-10] [MQTT-3.3.1-11] Shared Subscriptions get none.
    if (share === undefined && (entry.retainHandling === 0 || (entry.retainHandling === 1 && isNew))) retained.push(entry);
  });
  // The SUBACK has the Packet Identifier of the SUBSCRIBE ([MQTT-3.8.4-1] [MQTT-3.8.4-2]); with a durable
  // store it goes once the subscriptions are stored.
  const answer = () => {
    if (c.state !== 'connected') return;
    c.sendPacket({ type: PacketType.Suback, packetId: p.packetId, reasonCodes: codes });
    for (const entry of retained) c.outbound.feedRetained(broker.retained.match(entry.topicFilter), entry);
  };
  if (!broker.persistence.durable) answer();
  else broker.persistence.afterCommit(answer, (err) => c.abort(ReasonCode.ServerBusy, 'implementation-error', err.message));
}

/** The failure Reason Code for a subscription the server will not take, or 0. */
function refusal(c: Connection, s: Subscription): number {
  const broker = c.broker;
  const caps = broker.settings.capabilities;
  const limits = broker.settings.limits;
  const filter = s.topicFilter;
  const shared = filter.startsWith('$share/');
  if (shared && !caps.sharedSubscriptionAvailable) return ReasonCode.SharedSubscriptionsNotSupported;
  if (!caps.wildcardSubscriptionAvailable && (filter.includes('+') || filter.includes('#')))
    return ReasonCode.WildcardSubscriptionsNotSupported;
  if (filter.length > limits.maxTopicLength) {
    broker.metrics.limitHit('maxTopicLength');
    return ReasonCode.TopicFilterInvalid;
  }
  if (filter.split('/').length > limits.maxTopicLevels + (shared ? 2 : 0)) {
    broker.metrics.limitHit('maxTopicLevels');
    return ReasonCode.TopicFilterInvalid;
  }
  const session = c.session;
  if (session !== undefined && !session.subscriptions.has(filter) && session.subscriptions.size >= limits.maxSubscriptionsPerClient) {
    broker.metrics.limitHit('maxSubscriptionsPerClient');
    return ReasonCode.QuotaExceeded;
  }
  return 0;
}
