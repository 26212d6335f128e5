import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  hasWildcard,
  isSharedSubscription,
  parseSharedSubscription,
  topicMatches,
  validateTopicFilter,
  validateTopicName,
} from '../../src/protocol/index.js';
import { assertMqttError, type ExpectedError } from './fixtures.js';

/** [filter, topic, matches] */
type Row = readonly [string, string, boolean];

function checkRows(rows: readonly Row[]): void {
  for (const [filter, topic, expected] of rows) {
    assert.equal(topicMatches(filter, topic), expected, `topicMatches(${JSON.stringify(filter)}, ${JSON.stringify(topic)})`);
  }
}

describe('topicMatches', () => {
  test('[MQTT-4.7.1-1/5.0] "#" matches the parent level and any number of child levels (section 4.7.1.2 examples)', () => {
    checkRows([
      ['sport/tennis/player1/#', 'sport/tennis/player1', true],
      ['sport/tennis/player1/#', 'sport/tennis/player1/ranking', true],
      ['sport/tennis/player1/#', 'sport/tennis/player1/score/wimbledon', true],
      ['sport/tennis/player1/#', 'sport/tennis/player2', false],
      ['sport/tennis/player1/#', 'sport/tennis', false],
      ['sport/#', 'sport', true],
      ['sport/#', 'sport/', true],
      ['sport/#', 'sports', false],
      ['sport/tennis/#', 'sport/tennis', true],
      ['#', 'sport', true],
      ['#', 'sport/tennis/player1', true],
      ['#', '/', true],
      ['#', '/finance', true],
      ['a/#', 'ab', false],
      ['a/b/#', 'a/bc', false],
    ]);
  });

  test('[MQTT-4.7.1-2/5.0] "+" matches exactly one level (section 4.7.1.3 examples)', () => {
    checkRows([
      ['sport/tennis/+', 'sport/tennis/player1', true],
      ['sport/tennis/+', 'sport/tennis/player2', true],
      ['sport/tennis/+', 'sport/tennis/player1/ranking', false],
      ['sport/+', 'sport', false],
      ['sport/+', 'sport/', true],
      ['+', 'sport', true],
      ['+', '/finance', false],
      ['+/+', '/finance', true],
      ['/+', '/finance', true],
      ['+/tennis/#', 'sport/tennis/player1', true],
      ['+/tennis/#', 'sport/tennis', true],
      ['+/tennis/#', 'sport/golf', false],
      ['sport/+/player1', 'sport/tennis/player1', true],
      ['sport/+/player1', 'sport/tennis/player2', false],
      ['sport/+/player1', 'sport//player1', true],
      ['+/+', '/', true],
      ['+/#', 'a', true],
      ['a/+/c', 'a/b/c/d', false],
    ]);
  });

  test('[MQTT-4.7.2-1] filters starting with a wildcard do not match topics starting with "$" (section 4.7.2 examples)', () => {
    checkRows([
      ['#', '$SYS/monitor/Clients', false],
      ['#', '$SYS', false],
      ['+/monitor/Clients', '$SYS/monitor/Clients', false],
      ['+', '$SYS', false],
      ['+/#', '$SYS/x', false],
      ['$SYS/#', '$SYS/monitor/Clients', true],
      ['$SYS/#', '$SYS', true],
      ['$SYS/monitor/+', '$SYS/monitor/Clients', true],
      ['$SYS/+', '$SYS/monitor/Clients', false],
      ['$foo', '$foo', true],
      ['a/#', 'a/$SYS', true],
      ['+/$x', 'a/$x', true],
    ]);
  });

  test('[MQTT-4.7.3-4] levels match character for character: case, spaces, leading and trailing "/" (section 4.7.3)', () => {
    checkRows([
      ['ACCOUNTS', 'Accounts', false],
      ['Accounts', 'Accounts', true],
      ['Accounts payable', 'Accounts payable', true],
      ['/finance', 'finance', false],
      ['finance', '/finance', false],
      ['finance/', 'finance', false],
      ['/', '/', true],
      ['a//b', 'a//b', true],
      ['a//b', 'a/b', false],
      ['a/b', 'a/b/c', false],
      ['a/b/c', 'a/b', false],
      ['ab', 'a', false],
      ['a', 'ab', false],
      ['ü/+', 'ü/€', true],
      ['ü/€', 'u/€', false],
      ['\uFEFFa', 'a', false],
    ]);
  });
});

const NAME: ExpectedError = { code: 'MQTT_TOPIC_NAME_INVALID' };
const FILTER: ExpectedError = { code: 'MQTT_TOPIC_FILTER_INVALID', reasonCode: 0x81 };
const SHARE: ExpectedError = { code: 'MQTT_SHARED_SUBSCRIPTION_INVALID', reasonCode: 0x82 };

describe('validateTopicName', () => {
  test('valid Topic Names', () => {
    for (const name of ['a', '/', '//', 'a/b', 'a/', '/a', ' ', 'Accounts payable', '$SYS/broker/uptime', 'ü/€', 'a\u{1F600}', '\uFEFF']) {
      assert.doesNotThrow(() => validateTopicName(name), name);
    }
  });

  test('[MQTT-4.7.3-1] an empty Topic Name is refused', () => {
    assertMqttError(() => validateTopicName(''), { code: 'MQTT_TOPIC_NAME_INVALID', reasonCode: 0x81 });
  });

  test('[MQTT-4.7.0-1] [MQTT-4.7.1-1/3.1.1] [MQTT-3.3.2-2] a Topic Name with a wildcard character is refused', () => {
    for (const name of ['+', '#', 'a/+', 'a/#', 'sport/tennis#', 'a+b', '#/a']) {
      assertMqttError(() => validateTopicName(name), { ...NAME, reasonCode: 0x90 });
    }
  });
});

describe('validateTopicFilter', () => {
  test('valid Topic Filters (section 4.7.1 examples)', () => {
    for (const filter of [
      '#',
      '+',
      '+/tennis/#',
      'sport/+/player1',
      'sport/tennis/#',
      'sport/tennis/player1/#',
      '/',
      '//',
      '+/+',
      '/+',
      '+/',
      'a/+/#',
      '$SYS/#',
      '$SYS/monitor/+',
      'Accounts payable',
      '$sharefoo/bar',
      '$SHARE/g/a',
    ]) {
      assert.doesNotThrow(() => validateTopicFilter(filter), filter);
    }
  });

  test('[MQTT-4.7.3-1] an empty Topic Filter is refused', () => {
    assertMqttError(() => validateTopicFilter(''), FILTER);
  });

  test('[MQTT-4.7.1-1/5.0] [MQTT-4.7.1-2/3.1.1] "#" must be alone in the last level', () => {
    for (const filter of ['sport/tennis#', 'sport/tennis/#/ranking', '#/a', 'a#', 'a/#/', '##', 'a/b#c']) {
      assertMqttError(() => validateTopicFilter(filter), FILTER);
    }
  });

  test('[MQTT-4.7.1-2/5.0] [MQTT-4.7.1-3/3.1.1] "+" must occupy an entire level', () => {
    for (const filter of ['sport+', '+sport', 'sport/+tennis', 'a/b+', '++', 'a/++/b', '+#']) {
      assertMqttError(() => validateTopicFilter(filter), FILTER);
    }
  });

  test('[MQTT-4.8.2-1] [MQTT-4.8.2-2] valid Shared Subscription filters', () => {
    for (const filter of [
      '$share/consumer1/sport/tennis/+',
      '$share/consumer2/sport/tennis/+',
      '$share/consumer1//finance',
      '$share/g/#',
      '$share/g/+/x',
    ]) {
      assert.doesNotThrow(() => validateTopicFilter(filter), filter);
    }
  });

  test('[MQTT-4.8.2-1] a Shared Subscription needs a ShareName of at least one character', () => {
    assertMqttError(() => validateTopicFilter('$share//a'), SHARE);
    assertMqttError(() => validateTopicFilter('$share//'), SHARE);
  });

  test('[MQTT-4.8.2-2] the ShareName has no "/", "+" or "#" and is followed by "/" and a Topic Filter', () => {
    for (const filter of ['$share', '$share/', '$share/g', '$share/g/', '$share/a+b/c', '$share/+/c', '$share/#/c', '$share/g#/c']) {
      assertMqttError(() => validateTopicFilter(filter), SHARE);
    }
  });

  test('[MQTT-4.7.1-1/5.0] [MQTT-4.7.1-2/5.0] the filter after the ShareName follows the wildcard rules', () => {
    for (const filter of ['$share/g/a#', '$share/g/#/a', '$share/g/a+', '$share/g/+a/b']) {
      assertMqttError(() => validateTopicFilter(filter), FILTER);
    }
  });
});

describe('parseSharedSubscription', () => {
  test('[MQTT-4.8.2-1] [MQTT-4.8.2-2] splits $share/{ShareName}/{filter}', () => {
    assert.deepStrictEqual(parseSharedSubscription('$share/consumer1/sport/tennis/+'), {
      shareName: 'consumer1',
      topicFilter: 'sport/tennis/+',
    });
    // "$share/consumer1//finance" matches the same topics as /finance (section 4.8.2).
    assert.deepStrictEqual(parseSharedSubscription('$share/consumer1//finance'), { shareName: 'consumer1', topicFilter: '/finance' });
    assert.deepStrictEqual(parseSharedSubscription('$share/g/#'), { shareName: 'g', topicFilter: '#' });
    assert.deepStrictEqual(parseSharedSubscription('$share/ü/a'), { shareName: 'ü', topicFilter: 'a' });
  });

  test('an ordinary filter is not a Shared Subscription', () => {
    for (const filter of ['sport/#', '$SYS/#', '$SHARE/g/a', '$sharefoo/bar', 'share/g/a']) {
      assert.equal(parseSharedSubscription(filter), undefined, filter);
      assert.equal(isSharedSubscription(filter), false, filter);
    }
    assert.equal(isSharedSubscription('$share/g/a'), true);
  });

  test('[MQTT-4.8.2-1] [MQTT-4.8.2-2] a malformed Shared Subscription throws', () => {
    assertMqttError(() => parseSharedSubscription('$share//a'), SHARE);
    assertMqttError(() => parseSharedSubscription('$share/g'), SHARE);
    assertMqttError(() => parseSharedSubscription('$share/g+/a'), SHARE);
    assertMqttError(() => parseSharedSubscription('$share/g/a#'), FILTER);
  });
});

test('hasWildcard', () => {
  assert.equal(hasWildcard('a/b'), false);
  assert.equal(hasWildcard('a/+'), true);
  assert.equal(hasWildcard('#'), true);
  assert.equal(hasWildcard('$share/g/a'), false);
});
