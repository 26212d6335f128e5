import type { ProtocolVersion } from './constants.js';
import { MqttError, malformed, protocolError } from './errors.js';
import { ReasonCode } from './reason-codes.js';
import { isValidMqttString } from './utf8.js';

/**
 * Topic Names and Topic Filters (MQTT 5.0 section 4.7, 3.1.1 section 4.7) and Shared Subscriptions
 * (5.0 section 4.8.2).
 */

const SHARE_PREFIX = '$share/';

export interface SharedSubscription {
  readonly shareName: string;
  /** The filter after `$share/{ShareName}/`, which is what messages are matched against. */
  readonly topicFilter: string;
}

/**
 * Checks a Topic Name as a publisher sends it. Throws MqttError with the statement broken.
 * (The UTF-8 rules are checked where the string is decoded or by isValidMqttString for our own input.)
 */
export function validateTopicName(topic: string, field = 'Topic Name', version: ProtocolVersion = 5): void {
  if (topic.length === 0) {
    // [MQTT-4.7.3-1]
    throw malformed('MQTT_TOPIC_NAME_INVALID', field, 'Topic Name must be at least one character long', 'MQTT-4.7.3-1');
  }
  for (let i = 0; i < topic.length; i++) {
    const c = topic.charCodeAt(i);
    if (c === 0x2b || c === 0x23) {
      // The wildcard characters can be used in Topic Filters, but MUST NOT be used within a Topic Name.
      // [MQTT-4.7.0-1] (3.1.1: [MQTT-4.7.1-1]); in a PUBLISH packet [MQTT-3.3.2-2]
      throw new MqttError('MQTT_TOPIC_NAME_INVALID', ReasonCode.TopicNameInvalid, 'Topic Name must not contain wildcards', {
        field,
        specId: version === 5 ? 'MQTT-4.7.0-1' : 'MQTT-4.7.1-1',
      });
    }
  }
}

/**
 * Checks a Topic Filter: `#` only as the last level and alone in it, `+` alone in its level, at least one
 * character; for `$share/...` a non-empty ShareName without `/`, `+` or `#`, followed by a filter.
 */
export function validateTopicFilter(filter: string, field = 'Topic Filter', version: ProtocolVersion = 5): void {
  if (filter.length === 0) {
    throw malformed('MQTT_TOPIC_FILTER_INVALID', field, 'Topic Filter must be at least one character long', 'MQTT-4.7.3-1');
  }
  if (filter.startsWith(SHARE_PREFIX)) {
    parseShared(filter, field);
    return;
  }
  if (filter === '$share') {
    throw protocolError('MQTT_SHARED_SUBSCRIPTION_INVALID', field, '$share must be followed by /{ShareName}/{filter}', 'MQTT-4.8.2-2');
  }
  checkWildcards(filter, 0, field, version);
}

function checkWildcards(filter: string, start: number, field: string, version: ProtocolVersion): void {
  const last = filter.length - 1;
  for (let i = start; i <= last; i++) {
    const c = filter.charCodeAt(i);
    if (c === 0x23) {
      // '#' MUST be specified either on its own or following a topic level separator, and MUST be the last
      // character of the filter. [MQTT-4.7.1-1] (3.1.1: [MQTT-4.7.1-2])
      if (i !== last || (i > start && filter.charCodeAt(i - 1) !== 0x2f)) {
        throw malformed(
          'MQTT_TOPIC_FILTER_INVALID',
          field,
          "'#' must be the last level of the filter and alone in it",
          version === 5 ? 'MQTT-4.7.1-1' : 'MQTT-4.7.1-2',
        );
      }
    } else if (c === 0x2b) {
      // '+' MUST occupy an entire level of the filter. [MQTT-4.7.1-2] (3.1.1: [MQTT-4.7.1-3])
      const before = i === start ? 0x2f : filter.charCodeAt(i - 1);
      const after = i === last ? 0x2f : filter.charCodeAt(i + 1);
      if (before !== 0x2f || after !== 0x2f) {
        throw malformed(
          'MQTT_TOPIC_FILTER_INVALID',
          field,
          "'+' must occupy a whole level of the filter",
          version === 5 ? 'MQTT-4.7.1-2' : 'MQTT-4.7.1-3',
        );
      }
    }
  }
}

function parseShared(filter: string, field: string): SharedSubscription {
  const slash = filter.indexOf('/', SHARE_PREFIX.length);
  const shareName = filter.slice(SHARE_PREFIX.length, slash === -1 ? filter.length : slash);
  // A Shared Subscription's Topic Filter MUST start with $share/ and MUST contain a ShareName that is at
  // least one character long. [MQTT-4.8.2-1]
  if (shareName.length === 0) {
    throw protocolError('MQTT_SHARED_SUBSCRIPTION_INVALID', field, 'ShareName must be at least one character long', 'MQTT-4.8.2-1');
  }
  // The ShareName MUST NOT contain "/", "+" or "#", but MUST be followed by "/" and a Topic Filter. [MQTT-4.8.2-2]
  if (shareName.includes('+') || shareName.includes('#')) {
    throw protocolError('MQTT_SHARED_SUBSCRIPTION_INVALID', field, "ShareName must not contain '+' or '#'", 'MQTT-4.8.2-2');
  }
  if (slash === -1 || slash === filter.length - 1) {
    throw protocolError('MQTT_SHARED_SUBSCRIPTION_INVALID', field, 'ShareName must be followed by / and a Topic Filter', 'MQTT-4.8.2-2');
  }
  checkWildcards(filter, slash + 1, field, 5);
  return { shareName, topicFilter: filter.slice(slash + 1) };
}

/** Splits `$share/{ShareName}/{filter}`; undefined for an ordinary filter. Throws if it is malformed. */
export function parseSharedSubscription(filter: string): SharedSubscription | undefined {
  if (!filter.startsWith(SHARE_PREFIX)) return undefined;
  return parseShared(filter, 'Topic Filter');
}

export function isSharedSubscription(filter: string): boolean {
  return filter.startsWith(SHARE_PREFIX);
}

/** True if the filter contains `+` or `#`. */
export function hasWildcard(filter: string): boolean {
  return filter.includes('+') || filter.includes('#');
}

/**
 * Topic matching (section 4.7): levels are compared exactly, `+` matches one level, `#` matches the
 * parent level and any number of children; a filter starting with a wildcard does not match a topic
 * starting with `$` ([MQTT-4.7.2-1]). This is the reference matcher; the broker routes with a trie.
 */
export function topicMatches(filter: string, topic: string): boolean {
  if (topic.charCodeAt(0) === 0x24 && (filter.charCodeAt(0) === 0x2b || filter.charCodeAt(0) === 0x23)) return false;
  let f = 0;
  let t = 0;
  const fl = filter.length;
  const tl = topic.length;
  while (f < fl) {
    const c = filter.charCodeAt(f);
    if (c === 0x23) return true; // '#': matches the rest, including the parent level
    if (c === 0x2b) {
      while (t < tl && topic.charCodeAt(t) !== 0x2f) t++;
      f++;
    } else {
      while (f < fl && t < tl) {
        const fc = filter.charCodeAt(f);
        if (fc === 0x2f) break;
        if (fc !== topic.charCodeAt(t)) return false;
        f++;
        t++;
      }
      if (f < fl && filter.charCodeAt(f) !== 0x2f) return false;
      if (t < tl && topic.charCodeAt(t) !== 0x2f) return false;
    }
    // Both at a separator or an end.
    if (f === fl) return t === tl;
    // filter has '/', next level
    if (t === tl) {
      // 'a/#' matches 'a': the filter's remainder must be exactly '/#'
      return f + 2 === fl && filter.charCodeAt(f + 1) === 0x23;
    }
    f++;
    t++;
  }
  return t === tl;
}

/** True if the string is usable as a Topic Name or Filter by our own clients: valid MQTT UTF-8, no U+0000. */
export function isValidTopicString(value: string): boolean {
  return isValidMqttString(value);
}
