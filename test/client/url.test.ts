/**
 * resolveEndpoint: broker URLs and options to what a dialer needs.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClientError } from '../../src/client/errors.js';
import { resolveEndpoint } from '../../src/client/options.js';

test('schemes and their default ports: mqtt 1883, mqtts 8883, ws 80, wss 443; tcp and ssl/tls are aliases', () => {
  const cases = [
    ['mqtt://broker.example', 'mqtt', 1883],
    ['mqtts://broker.example', 'mqtts', 8883],
    ['ws://broker.example', 'ws', 80],
    ['wss://broker.example', 'wss', 443],
    ['tcp://broker.example', 'mqtt', 1883],
    ['ssl://broker.example', 'mqtts', 8883],
    ['tls://broker.example', 'mqtts', 8883],
  ] as const;
  for (const [url, protocol, port] of cases) {
    const e = resolveEndpoint(url, {});
    assert.equal(e.protocol, protocol, url);
    assert.equal(e.port, port, url);
    assert.equal(e.host, 'broker.example', url);
  }
});

test('an explicit port wins over the default; schemes are case-insensitive', () => {
  assert.equal(resolveEndpoint('mqtt://h:1999', {}).port, 1999);
  assert.equal(resolveEndpoint('wss://h:8443/mqtt', {}).port, 8443);
  assert.equal(resolveEndpoint('MQTTS://h', {}).protocol, 'mqtts');
});

test('user:pass@ becomes username and password, percent-decoded', () => {
  const e = resolveEndpoint('mqtt://alice:s%40cret%3A1@h:1883', {});
  assert.equal(e.username, 'alice');
  assert.equal(e.password, 's@cret:1');
  const userOnly = resolveEndpoint('mqtt://bob@h', {});
  assert.equal(userOnly.username, 'bob');
  assert.equal(userOnly.password, undefined);
  const none = resolveEndpoint('mqtt://h', {});
  assert.equal('username' in none, false);
  assert.equal('password' in none, false);
});

test('IPv6 literals: [::1] and [fe80::1]:port give the bare address', () => {
  const a = resolveEndpoint('mqtt://[::1]', {});
  assert.equal(a.host, '::1');
  assert.equal(a.port, 1883);
  const b = resolveEndpoint('ws://[fe80::1]:9001/mqtt', {});
  assert.equal(b.host, 'fe80::1');
  assert.equal(b.port, 9001);
});

test('WebSocket path from the URL; /mqtt by default; ignored for TCP', () => {
  assert.equal(resolveEndpoint('ws://h:8080/custom/path', {}).path, '/custom/path');
  assert.equal(resolveEndpoint('wss://h', {}).path, '/mqtt');
  assert.equal(resolveEndpoint('ws://h/', {}).path, '/mqtt');
  assert.equal(resolveEndpoint('mqtt://h/whatever', {}).path, '/mqtt');
});

test('options override the URL: host, port, protocol, path', () => {
  const e = resolveEndpoint('mqtt://from-url:1111/p', { host: 'opt-host', port: 2222, protocol: 'ws', path: '/opt' });
  assert.deepEqual([e.protocol, e.host, e.port, e.path], ['ws', 'opt-host', 2222, '/opt']);
});

test('no URL: options alone, defaulting to mqtt://localhost:1883', () => {
  const e = resolveEndpoint(undefined, {});
  assert.deepEqual([e.protocol, e.host, e.port, e.path], ['mqtt', 'localhost', 1883, '/mqtt']);
  const w = resolveEndpoint(undefined, { protocol: 'wss', host: 'h' });
  assert.deepEqual([w.protocol, w.host, w.port], ['wss', 'h', 443]);
});

test('connect timeout, TLS options and the WebSocket subprotocol (mqttv3.1 for MQTT 3.1)', () => {
  const e = resolveEndpoint('mqtts://h', { connectTimeout: 1234, tls: { rejectUnauthorized: false } });
  assert.equal(e.timeout, 1234);
  assert.deepEqual(e.tls, { rejectUnauthorized: false });
  assert.equal(resolveEndpoint('mqtt://h', {}).timeout, 30_000);
  assert.equal(resolveEndpoint('ws://h', { protocolVersion: 3 }).wsProtocol, 'mqttv3.1');
  assert.equal(resolveEndpoint('ws://h', { protocolVersion: 4 }).wsProtocol, 'mqtt');
  assert.equal(resolveEndpoint('ws://h', {}).wsProtocol, 'mqtt');
});

test('unsupported schemes and non-URLs fail with INVALID_ARGUMENT and a hint', () => {
  for (const url of ['http://h:1883', 'https://h', 'amqp://h', 'file:///tmp/x', 'localhost:1883']) {
    assert.throws(
      () => resolveEndpoint(url, {}),
      (e: unknown) => e instanceof ClientError && e.code === 'INVALID_ARGUMENT' && /scheme/.test(e.message) && /mqtt/.test(e.message),
      url,
    );
  }
  for (const url of ['', 'not a url', '//h:1883', 'mqtt://h:99999']) {
    assert.throws(
      () => resolveEndpoint(url, {}),
      (e: unknown) => e instanceof ClientError && e.code === 'INVALID_ARGUMENT' && e.message.includes(url),
      JSON.stringify(url),
    );
  }
});
