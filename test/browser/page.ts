/**
 * What test/browser/chromium.test.ts shows Chromium: the page, and the scenarios it runs in it.
 * Each scenario function is sent to the browser as source text (page.evaluate), so it may use only its
 * argument and the page's globals, never anything imported or declared in this file.
 */
import type * as Mqtt from 'mqtt';
import type * as Mozzie from '../../src/client/browser.js';

/** The page: imports both bundles, exposes them and a results table the scenarios fill in. */
export const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Mozzie in Chromium</title>
<link rel="icon" href="data:,">
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 20px; color: #222; }
  h1 { font-size: 20px; margin: 0 0 4px; }
  #env { color: #666; font-size: 12px; margin: 0 0 12px; }
  table { border-collapse: collapse; width: 100%; }
  th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }
  th { background: #f3f3f3; }
  td.status { font-weight: bold; white-space: nowrap; }
  tr.pass td.status { color: #0a7a2f; }
  tr.fail td.status { color: #b00020; }
  td.detail { font-family: ui-monospace, monospace; font-size: 12px; }
  #summary { margin-top: 10px; font-weight: bold; }
</style>
</head>
<body>
<h1>Mozzie MQTT client in the browser</h1>
<p id="env"></p>
<table>
  <thead><tr><th>transport</th><th>scenario</th><th>result</th><th>detail</th></tr></thead>
  <tbody id="results"></tbody>
</table>
<p id="summary">running</p>
<script type="module">
  import * as mozzie from '/mozzie.js';
  import mqtt from '/mqtt.esm.js';
  globalThis.mozzie = mozzie;
  globalThis.mqtt = mqtt;
  globalThis.held = new Map();
  const counts = { pass: 0, fail: 0 };
  globalThis.report = (transport, scenario, ok, detail) => {
    const tr = document.createElement('tr');
    tr.className = ok ? 'pass' : 'fail';
    for (const [cls, text] of [['', transport], ['', scenario], ['status', ok ? 'pass' : 'FAIL'], ['detail', detail]]) {
      const td = document.createElement('td');
      td.className = cls;
      td.textContent = text;
      tr.append(td);
    }
    document.getElementById('results').append(tr);
    counts[ok ? 'pass' : 'fail']++;
    document.getElementById('summary').textContent = counts.pass + ' passed, ' + counts.fail + ' failed';
  };
  globalThis.until = async (check, ms) => {
    const deadline = Date.now() + ms;
    while (!check()) {
      if (Date.now() > deadline) throw new Error('timed out after ' + ms + ' ms');
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  document.getElementById('env').textContent = navigator.userAgent + ' | mozzie.js + mqtt.esm.js from ' + location.origin;
  globalThis.ready = true;
</script>
</body>
</html>
`;

interface Held {
  readonly events: string[];
  readonly got: string[];
  readonly sessionPresent: boolean[];
  reconnects: number;
  mozzie?: Mozzie.MqttClient;
  mqttjs?: Mqtt.MqttClient;
}

interface PageGlobals {
  readonly mozzie: typeof Mozzie;
  readonly mqtt: typeof Mqtt;
  readonly held: Map<string, Held>;
  report(transport: string, scenario: string, ok: boolean, detail: string): void;
  until(check: () => boolean, ms: number): Promise<void>;
}

interface ScenarioArgs {
  readonly url: string;
  /** ws or wss, for the page's table. */
  readonly label: string;
  /** Client id or topic part, distinct per scenario. */
  readonly tag: string;
}

export async function mozziePubSub({ url, label, tag }: ScenarioArgs) {
  const g = globalThis as unknown as PageGlobals;
  const m = g.mozzie;
  const scenario = 'Mozzie: subscribe, publish QoS 0/1/2 with 5.0 properties';
  const got: {
    topic: string;
    payload: string;
    qos: number;
    contentType: string | undefined;
    user: string;
    responseTopic: string | undefined;
    correlation: number[];
    expiry: boolean;
  }[] = [];
  try {
    const client = await m.connectAsync(url, { protocolVersion: 5, clientId: `mozzie-${tag}`, reconnect: false, connectTimeout: 5000 });
    client.on('message', (topic, payload, packet) => {
      const p = packet.properties;
      got.push({
        topic,
        payload: payload.toString('utf8'),
        qos: packet.qos,
        contentType: p?.contentType,
        user: (p?.userProperties ?? []).map(([k, v]) => `${k}=${v}`).join(','),
        responseTopic: p?.responseTopic,
        correlation: [...(p?.correlationData ?? [])],
        // The broker sends the remaining lifetime, so at most what was set. [MQTT-3.3.2-6]
        expiry: (p?.messageExpiryInterval ?? 0) > 0 && (p?.messageExpiryInterval ?? 0) <= 60,
      });
    });
    const sub = await client.subscribe(`browser/${tag}/#`, { qos: 2 });
    const properties = {
      contentType: 'text/plain; charset=utf-8',
      userProperties: [
        ['browser', 'chromium'],
        ['ключ', 'значение'],
      ] as const,
      responseTopic: `browser/${tag}/reply`,
      correlationData: m.Buffer.from([1, 2, 3]),
      messageExpiryInterval: 60,
    };
    const acks: number[] = [];
    for (const qos of [0, 1, 2] as const) {
      acks.push((await client.publish(`browser/${tag}/q${qos}`, `hello ${qos} ✓`, { qos, properties })).reasonCode);
    }
    await g.until(() => got.length >= 3, 3000);
    await client.end();
    const ok = got.length === 3 && got.every((x, i) => x.qos === i && x.payload === `hello ${i} ✓` && x.correlation.join() === '1,2,3');
    g.report(label, scenario, ok, got.map((x) => `${x.topic} q${x.qos} "${x.payload}" [${x.contentType}; ${x.user}]`).join(' | '));
    return { granted: sub.reasonCodes, acks, got };
  } catch (err) {
    g.report(label, scenario, false, String(err));
    throw err;
  }
}

export async function mozzieBeforeDrop({ url, tag }: ScenarioArgs) {
  const g = globalThis as unknown as PageGlobals;
  const client = g.mozzie.connect(url, {
    protocolVersion: 5,
    clientId: tag,
    clean: false,
    properties: { sessionExpiryInterval: 60 },
    reconnect: { initial: 100, max: 400 },
  });
  const held: Held = { events: [], got: [], sessionPresent: [], reconnects: 0, mozzie: client };
  g.held.set(tag, held);
  client.on('connect', (ack) => {
    held.events.push('connect');
    held.sessionPresent.push(ack.sessionPresent);
  });
  for (const event of ['close', 'offline', 'reconnect'] as const) client.on(event, () => held.events.push(event));
  client.on('error', () => undefined);
  client.on('message', (_topic, payload) => held.got.push(payload.toString()));
  await g.until(() => held.events.includes('connect'), 5000);
  await client.subscribe(`browser/${tag}`, { qos: 1 });
}

export async function mozzieAfterDrop({ label, tag }: ScenarioArgs) {
  const g = globalThis as unknown as PageGlobals;
  const scenario = 'Mozzie: broker drops the link; reconnect, session resumed, offline queue sent';
  const held = g.held.get(tag);
  const client = held?.mozzie;
  try {
    if (held === undefined || client === undefined) throw new Error('no client from the first step');
    await g.until(() => held.events.includes('offline'), 5000);
    // Published while offline: queued, sent after the reconnect, delivered through the resumed subscription.
    const queued = client.publish(`browser/${tag}`, 'queued while offline', { qos: 1 });
    await g.until(() => held.events.filter((e) => e === 'connect').length >= 2, 5000);
    await queued;
    await client.publish(`browser/${tag}`, 'after reconnect', { qos: 1 });
    await g.until(() => held.got.length >= 2, 3000);
    await client.end();
    const ok = held.sessionPresent.join() === 'false,true' && held.got.join() === 'queued while offline,after reconnect';
    g.report(
      label,
      scenario,
      ok,
      `events ${held.events.join(' → ')}; sessionPresent ${held.sessionPresent.join('/')}; got ${held.got.join(', ')}`,
    );
    return { events: held.events, sessionPresent: held.sessionPresent, got: held.got };
  } catch (err) {
    g.report(label, scenario, false, `${String(err)}; events ${held?.events.join(' → ')}`);
    await client?.end({ force: true });
    throw err;
  }
}

export async function mqttjsPubSub({ url, label, tag }: ScenarioArgs) {
  const g = globalThis as unknown as PageGlobals;
  const scenario = 'MQTT.js (browser bundle): QoS 0/1/2 with 5.0 properties, plus a message from Mozzie';
  const got: { topic: string; payload: string; qos: number; contentType: string | undefined; user: string }[] = [];
  try {
    const client = await g.mqtt.connectAsync(url, {
      protocolVersion: 5,
      clientId: `mqttjs-${tag}`,
      reconnectPeriod: 0,
      connectTimeout: 5000,
    });
    client.on('message', (topic, payload, packet) => {
      const user = packet.properties?.userProperties ?? {};
      got.push({
        topic,
        payload: payload.toString(),
        qos: packet.qos,
        contentType: packet.properties?.contentType,
        user: Object.entries(user)
          .map(([k, v]) => `${k}=${String(v)}`)
          .join(','),
      });
    });
    const granted = await client.subscribeAsync(`browser/${tag}/#`, { qos: 2 });
    for (const qos of [0, 1, 2] as const) {
      await client.publishAsync(`browser/${tag}/q${qos}`, `mqtt.js ${qos}`, {
        qos,
        properties: { contentType: 'text/plain', userProperties: { from: 'mqtt.js' } },
      });
    }
    await g.until(() => got.length >= 3, 3000);
    const mozzie = await g.mozzie.connectAsync(url, { protocolVersion: 5, reconnect: false, connectTimeout: 5000 });
    await mozzie.publish(`browser/${tag}/mozzie`, 'from mozzie', {
      qos: 2,
      properties: { contentType: 'text/mozzie', userProperties: [['from', 'mozzie']] },
    });
    await g.until(() => got.length >= 4, 3000);
    await mozzie.end();
    await client.endAsync();
    const ok = got.length === 4 && got[3]?.user === 'from=mozzie';
    g.report(label, scenario, ok, got.map((x) => `${x.topic} q${x.qos} "${x.payload}" [${x.contentType}; ${x.user}]`).join(' | '));
    return { granted: granted.map((x) => x.qos), got };
  } catch (err) {
    g.report(label, scenario, false, String(err));
    throw err;
  }
}

export async function mqttjsBeforeDrop({ url, tag }: ScenarioArgs) {
  const g = globalThis as unknown as PageGlobals;
  const client = await g.mqtt.connectAsync(url, {
    protocolVersion: 5,
    clientId: tag,
    clean: false,
    properties: { sessionExpiryInterval: 60 },
    reconnectPeriod: 200,
    connectTimeout: 5000,
  });
  const held: Held = { events: [], got: [], sessionPresent: [false], reconnects: 0, mqttjs: client };
  g.held.set(tag, held);
  client.on('connect', (ack) => held.sessionPresent.push(ack.sessionPresent));
  client.on('reconnect', () => held.reconnects++);
  client.on('error', () => undefined);
  client.on('message', (_topic, payload) => held.got.push(payload.toString()));
  await client.subscribeAsync(`browser/${tag}`, { qos: 1 });
}

export async function mqttjsAfterDrop({ label, tag }: ScenarioArgs) {
  const g = globalThis as unknown as PageGlobals;
  const scenario = 'MQTT.js: broker drops the link; reconnect, session resumed';
  const entry = g.held.get(tag);
  const client = entry?.mqttjs;
  try {
    if (entry === undefined || client === undefined) throw new Error('no client from the first step');
    await g.until(() => client.connected && entry.sessionPresent.length >= 2, 5000);
    await client.publishAsync(`browser/${tag}`, 'after reconnect', { qos: 1 });
    await g.until(() => entry.got.length >= 1, 3000);
    await client.endAsync();
    const ok = entry.sessionPresent.join() === 'false,true' && entry.got.join() === 'after reconnect';
    g.report(label, scenario, ok, `sessionPresent ${entry.sessionPresent.join('/')}; got ${entry.got.join(', ')}`);
    return { sessionPresent: entry.sessionPresent, reconnects: entry.reconnects, got: entry.got };
  } catch (err) {
    g.report(label, scenario, false, String(err));
    await client?.endAsync(true);
    throw err;
  }
}

export async function mozzieUntrusted({ url, label }: ScenarioArgs) {
  const g = globalThis as unknown as PageGlobals;
  const scenario = 'Mozzie: a certificate the browser does not trust is refused';
  try {
    const client = await g.mozzie.connectAsync(url, { protocolVersion: 5, reconnect: false, connectTimeout: 5000 });
    await client.end({ force: true });
    g.report(label, scenario, false, 'connected anyway');
    return { code: 'CONNECTED' };
  } catch (err) {
    const code = err instanceof g.mozzie.ClientError ? err.code : String(err);
    g.report(label, scenario, code === 'DIAL_FAILED', `${code}: ${err instanceof Error ? err.message : ''}`);
    return { code };
  }
}
