import { Buffer } from 'node:buffer';
import { performance } from 'node:perf_hooks';
import type { Packet, PublishPacket, PublishProperties, UserProperty } from '../protocol/index.js';
import { PacketType } from '../protocol/index.js';

/**
 * How `mozzie sub` prints a message: mosquitto_sub's payload-only default, -v, -F format strings and
 * -N, plus --json; and the packet lines of -d. Everything is built as bytes: payloads need not be text.
 */

export type OutputMode =
  | { readonly kind: 'payload' }
  | { readonly kind: 'verbose' }
  | { readonly kind: 'format'; readonly parts: readonly FormatPart[]; readonly pretty: boolean }
  | { readonly kind: 'json'; readonly pretty: boolean };

/** The wall clock of one message, read once so every field of a line agrees. */
export interface Timestamp {
  readonly date: Date;
  /** Nanoseconds within the current second. */
  readonly nanos: number;
}

export function now(): Timestamp {
  const ms = performance.timeOrigin + performance.now();
  const seconds = Math.floor(ms / 1000);
  return { date: new Date(seconds * 1000), nanos: Math.min(999_999_999, Math.floor((ms - seconds * 1000) * 1e6)) };
}

/**
 * Renders one message, or undefined when mosquitto_sub would print nothing (an empty payload in the
 * default mode; `-v -N` with an empty payload). `warn` receives problems such as %J on a non-JSON payload.
 */
export function renderMessage(
  m: PublishPacket,
  mode: OutputMode,
  eol: boolean,
  time: Timestamp,
  warn: (line: string) => void,
): Buffer | undefined {
  const nl = eol ? NEWLINE : EMPTY;
  switch (mode.kind) {
    case 'payload':
      return m.payload.length === 0 ? undefined : Buffer.concat([m.payload, nl]);
    case 'verbose':
      if (m.payload.length > 0) return Buffer.concat([Buffer.from(`${m.topic} `), m.payload, nl]);
      return eol ? Buffer.from(`${m.topic} (null)\n`) : undefined;
    case 'json':
      return Buffer.from(`${JSON.stringify(messageJson(m), undefined, mode.pretty ? 2 : undefined)}${eol ? '\n' : ''}`);
    case 'format': {
      const out: Buffer[] = [];
      for (const part of mode.parts) renderPart(part, m, time, mode.pretty, out, warn);
      out.push(nl);
      return Buffer.concat(out);
    }
  }
}

const NEWLINE = Buffer.from('\n');
const EMPTY = Buffer.alloc(0);

// ---- --json -----------------------------------------------------------------------------------------

export interface MessageJson {
  readonly topic: string;
  readonly payload: string;
  readonly encoding?: 'base64';
  readonly qos: number;
  readonly retain: boolean;
  readonly properties?: Record<string, unknown>;
}

/** `--json`: the payload as UTF-8 text when it is valid UTF-8, else base64 with `"encoding": "base64"`. */
export function messageJson(m: PublishPacket): MessageJson {
  const text = utf8(m.payload);
  const props = m.properties === undefined ? undefined : propertiesJson(m.properties);
  return {
    topic: m.topic,
    payload: text ?? m.payload.toString('base64'),
    ...(text === undefined ? { encoding: 'base64' as const } : {}),
    qos: m.qos,
    retain: m.retain,
    ...(props === undefined ? {} : { properties: props }),
  };
}

/** Properties under the names -D uses; binary values as text when valid UTF-8, else `<name>-base64`. */
function propertiesJson(p: PublishProperties): Record<string, unknown> | undefined {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(p)) {
    if (value === undefined) continue;
    const name = PROPERTY_JSON_NAMES.get(key) ?? key;
    if (Buffer.isBuffer(value)) {
      const text = utf8(value);
      if (text === undefined) out[`${name}-base64`] = value.toString('base64');
      else out[name] = text;
    } else {
      out[name] = value;
    }
  }
  return Object.keys(out).length === 0 ? undefined : out;
}

const PROPERTY_JSON_NAMES: ReadonlyMap<string, string> = new Map([
  ['payloadFormatIndicator', 'payload-format-indicator'],
  ['messageExpiryInterval', 'message-expiry-interval'],
  ['topicAlias', 'topic-alias'],
  ['responseTopic', 'response-topic'],
  ['correlationData', 'correlation-data'],
  ['userProperties', 'user-property'],
  ['subscriptionIdentifiers', 'subscription-identifier'],
  ['contentType', 'content-type'],
]);

const decoder = new TextDecoder('utf-8', { fatal: true });

function utf8(bytes: Uint8Array): string | undefined {
  try {
    return decoder.decode(bytes);
  } catch {
    return undefined;
  }
}

// ---- -F format strings ------------------------------------------------------------------------------

export type FormatPart =
  | { readonly kind: 'text'; readonly bytes: Buffer }
  | {
      readonly kind: 'field';
      readonly code: string;
      readonly left: boolean;
      readonly zero: boolean;
      readonly width: number;
      /** -1 when none was given. */
      readonly precision: number;
    }
  | { readonly kind: 'time'; readonly code: string };

const ESCAPES: Readonly<Record<string, string>> = { '\\': '\\', '0': '\0', a: '\x07', e: '\x1b', n: '\n', r: '\r', t: '\t', v: '\v' };

/**
 * Parses a mosquitto_sub -F string once: `%[-][0][width][.precision]X` fields, `@X` strftime fields and
 * `\X` escapes, read the way mosquitto reads them (an incomplete sequence at the end prints nothing).
 */
export function compileFormat(format: string): FormatPart[] {
  const parts: FormatPart[] = [];
  let text = '';
  const flush = () => {
    if (text !== '') parts.push({ kind: 'text', bytes: Buffer.from(text, 'utf8') });
    text = '';
  };
  const len = format.length;
  const digit = (i: number) => i < len - 1 && format[i] !== undefined && /[0-9]/.test(format[i] as string);
  for (let i = 0; i < len; i++) {
    const c = format[i] as string;
    if (c === '%') {
      if (i >= len - 1) continue;
      i++;
      let left = false;
      let zero = false;
      let width = 0;
      let precision = -1;
      if (format[i] === '-') {
        left = true;
        if (i < len - 1) i++;
      }
      if (format[i] === '0') {
        zero = true;
        if (i < len - 1) i++;
      }
      while (digit(i)) width = width * 10 + Number(format[i++]);
      if (format[i] === '.' && i < len - 1) {
        i++;
        precision = 0;
        while (digit(i)) precision = precision * 10 + Number(format[i++]);
      }
      if (format[i] === '%') {
        text += '%';
        continue;
      }
      flush();
      parts.push({ kind: 'field', code: format[i] as string, left, zero, width, precision });
    } else if (c === '@') {
      if (i >= len - 1) continue;
      i++;
      if (format[i] === '@') {
        text += '@';
        continue;
      }
      flush();
      parts.push({ kind: 'time', code: format[i] as string });
    } else if (c === '\\') {
      if (i >= len - 1) continue;
      i++;
      text += ESCAPES[format[i] as string] ?? '';
    } else {
      text += c;
    }
  }
  flush();
  return parts;
}

function renderPart(part: FormatPart, m: PublishPacket, time: Timestamp, pretty: boolean, out: Buffer[], warn: (s: string) => void): void {
  if (part.kind === 'text') {
    out.push(part.bytes);
    return;
  }
  if (part.kind === 'time') {
    out.push(Buffer.from(part.code === 'N' ? String(time.nanos).padStart(9, '0') : strftime(part.code, time.date)));
    return;
  }
  const p = m.properties;
  const pad = part.zero ? '0' : ' ';
  const int = (value: number | undefined) => {
    if (value === undefined) return pad.repeat(part.width);
    if (part.width === 0) return String(value);
    if (part.left) return String(value).padEnd(part.width);
    return String(value).padStart(part.width, pad);
  };
  const str = (value: string | undefined, blank: boolean) => {
    if (value === undefined) return blank ? ' '.repeat(part.width) : '';
    const cut = part.precision >= 0 ? value.slice(0, part.precision) : value;
    return part.left ? cut.padEnd(part.width) : cut.padStart(part.width);
  };
  switch (part.code) {
    case 'A':
      return void out.push(Buffer.from(int(p?.topicAlias)));
    case 'C':
      return void out.push(Buffer.from(str(p?.contentType, true)));
    case 'D':
      if (p?.correlationData !== undefined) out.push(p.correlationData);
      return;
    case 'E':
      return void out.push(Buffer.from(int(p?.messageExpiryInterval)));
    case 'F':
      return void out.push(Buffer.from(int(p?.payloadFormatIndicator)));
    case 'I':
      return void out.push(Buffer.from(str(isoLocal(time.date), true)));
    case 'j':
    case 'J':
      return void out.push(mosquittoJson(m, time, part.code === 'j', pretty, warn));
    case 'l':
      return void out.push(Buffer.from(int(m.payload.length)));
    case 'm':
      return void out.push(Buffer.from(int(m.packetId ?? 0)));
    case 'P':
      return void out.push(Buffer.from((p?.userProperties ?? []).map(([k, v]) => `${k}:${v}`).join(' ')));
    case 'p':
      return void out.push(payloadField(m.payload, part, 'raw'));
    case 'q':
      return void out.push(Buffer.from(String(m.qos)));
    case 'R':
      return void out.push(Buffer.from(str(p?.responseTopic, false)));
    case 'r':
      return void out.push(Buffer.from(m.retain ? '1' : '0'));
    case 'S':
      return void out.push(Buffer.from(int(p?.subscriptionIdentifiers?.[0])));
    case 't':
      return void out.push(Buffer.from(str(m.topic, true)));
    case 'U':
      return void out.push(Buffer.from(`${Math.floor(time.date.getTime() / 1000)}.${String(time.nanos).padStart(9, '0')}`));
    case 'x':
    case 'X':
      return void out.push(payloadField(m.payload, part, part.code === 'x' ? 'hex' : 'HEX'));
    default:
      // An unknown field prints nothing, as in mosquitto_sub.
      return;
  }
}

/** %p / %x / %X: a field width also caps the length (mosquitto truncates the payload to it). */
function payloadField(payload: Buffer, part: { left: boolean; zero: boolean; width: number }, as: 'raw' | 'hex' | 'HEX'): Buffer {
  const perByte = as === 'raw' ? 1 : 2;
  let shown = payload;
  if (part.width > 0 && payload.length * perByte > part.width) shown = payload.subarray(0, Math.floor(part.width / perByte));
  const body = as === 'raw' ? shown : Buffer.from(as === 'hex' ? shown.toString('hex') : shown.toString('hex').toUpperCase());
  const padLength = Math.max(0, part.width - body.length);
  if (padLength === 0) return body;
  const padding = Buffer.from((part.left ? ' ' : part.zero ? '0' : ' ').repeat(padLength));
  return part.left ? Buffer.concat([body, padding]) : Buffer.concat([padding, body]);
}

/** mosquitto_sub's %j / %J object: tst, topic, qos, retain, payloadlen, mid, properties, payload. */
function mosquittoJson(m: PublishPacket, time: Timestamp, escaped: boolean, pretty: boolean, warn: (s: string) => void): Buffer {
  const d = time.date;
  const tst = `${isoLocal(d).slice(0, 19)}.${String(Math.floor(time.nanos / 1000)).padStart(6, '0')}Z${offset(d)}`;
  const obj: Record<string, unknown> = { tst, topic: m.topic, qos: m.qos, retain: m.retain ? 1 : 0, payloadlen: m.payload.length };
  if (m.qos > 0) obj['mid'] = m.packetId ?? 0;
  const props = mosquittoJsonProperties(m.properties);
  if (props !== undefined) obj['properties'] = props;
  if (escaped) {
    const text = utf8(m.payload);
    obj['payload'] = m.payload.length === 0 ? null : (text ?? [...m.payload]);
  } else if (m.payload.length === 0) {
    obj['payload'] = null;
  } else {
    try {
      obj['payload'] = JSON.parse(m.payload.toString('utf8')) as unknown;
    } catch {
      warn(`Error: Message payload is not valid JSON on topic ${m.topic}.`);
      return EMPTY;
    }
  }
  return Buffer.from(JSON.stringify(obj, undefined, pretty ? '\t' : undefined));
}

function mosquittoJsonProperties(p: PublishProperties | undefined): Record<string, unknown> | undefined {
  if (p === undefined) return undefined;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(p)) {
    if (value === undefined) continue;
    if (key === 'userProperties') {
      const users: Record<string, string> = {};
      for (const [k, v] of value as readonly UserProperty[]) users[k] = v;
      out['user-properties'] = users;
    } else if (key === 'subscriptionIdentifiers') {
      const ids = value as readonly number[];
      if (ids.length > 0) out['subscription-identifier'] = ids[0];
    } else {
      out[PROPERTY_JSON_NAMES.get(key) ?? key] = Buffer.isBuffer(value) ? value.toString('utf8') : value;
    }
  }
  return Object.keys(out).length === 0 ? undefined : out;
}

// ---- time -------------------------------------------------------------------------------------------

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const two = (n: number) => String(n).padStart(2, '0');

/** +hhmm of local time, as strftime %z. */
function offset(d: Date): string {
  const minutes = -d.getTimezoneOffset();
  const abs = Math.abs(minutes);
  return `${minutes < 0 ? '-' : '+'}${two(Math.floor(abs / 60))}${two(abs % 60)}`;
}

/** %I: ISO-8601 local time with offset, e.g. 2016-08-10T09:47:38+0100. */
function isoLocal(d: Date): string {
  return `${strftime('F', d)}T${strftime('T', d)}${offset(d)}`;
}

/** The common strftime(3) conversions in local time (C locale); @X in -F formats. Others print nothing. */
export function strftime(code: string, d: Date): string {
  switch (code) {
    case 'Y':
      return String(d.getFullYear());
    case 'y':
      return two(d.getFullYear() % 100);
    case 'C':
      return two(Math.floor(d.getFullYear() / 100));
    case 'm':
      return two(d.getMonth() + 1);
    case 'd':
      return two(d.getDate());
    case 'e':
      return String(d.getDate()).padStart(2, ' ');
    case 'H':
      return two(d.getHours());
    case 'I':
      return two(((d.getHours() + 11) % 12) + 1);
    case 'M':
      return two(d.getMinutes());
    case 'S':
      return two(d.getSeconds());
    case 'p':
      return d.getHours() < 12 ? 'AM' : 'PM';
    case 'a':
      return (DAYS[d.getDay()] ?? '').slice(0, 3);
    case 'A':
      return DAYS[d.getDay()] ?? '';
    case 'b':
    case 'h':
      return (MONTHS[d.getMonth()] ?? '').slice(0, 3);
    case 'B':
      return MONTHS[d.getMonth()] ?? '';
    case 'u':
      return String(d.getDay() === 0 ? 7 : d.getDay());
    case 'w':
      return String(d.getDay());
    case 'j': {
      const start = new Date(d.getFullYear(), 0, 1);
      return String(Math.floor((d.getTime() - start.getTime()) / 86_400_000) + 1).padStart(3, '0');
    }
    case 's':
      return String(Math.floor(d.getTime() / 1000));
    case 'z':
      return offset(d);
    case 'Z':
      return (
        new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' }).formatToParts(d).find((p) => p.type === 'timeZoneName')?.value ?? ''
      );
    case 'F':
      return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}`;
    case 'T':
      return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
    case 'R':
      return `${two(d.getHours())}:${two(d.getMinutes())}`;
    case 'D':
      return `${two(d.getMonth() + 1)}/${two(d.getDate())}/${two(d.getFullYear() % 100)}`;
    case 'n':
      return '\n';
    case 't':
      return '\t';
    case '%':
      return '%';
    default:
      return '';
  }
}

// ---- -d packet tracing ------------------------------------------------------------------------------

/** Lines in mosquitto's -d style ("sending PUBLISH (d0, q1, r0, m1, 't', ... (5 bytes))"), without the client prefix. */
export function describePacket(direction: 'sending' | 'received', p: Packet): string[] {
  switch (p.type) {
    case PacketType.Connect:
      return [`${direction} CONNECT`];
    case PacketType.Connack:
      return [`${direction} CONNACK (${p.reasonCode})`];
    case PacketType.Publish:
      return [
        `${direction} PUBLISH (d${p.dup ? 1 : 0}, q${p.qos}, r${p.retain ? 1 : 0}, m${p.packetId ?? 0}, '${p.topic}', ... (${p.payload.length} bytes))`,
      ];
    case PacketType.Puback:
      return [`${direction} PUBACK (Mid: ${p.packetId}, RC:${p.reasonCode})`];
    case PacketType.Pubrec:
      return [`${direction} PUBREC (Mid: ${p.packetId})`];
    case PacketType.Pubrel:
      return [`${direction} PUBREL (Mid: ${p.packetId})`];
    case PacketType.Pubcomp:
      return [`${direction} PUBCOMP (Mid: ${p.packetId}, RC:${p.reasonCode})`];
    case PacketType.Subscribe:
      return p.subscriptions.map((s) => {
        const options = (s.noLocal ? 0x04 : 0) | (s.retainAsPublished ? 0x08 : 0) | (s.retainHandling << 4);
        return `${direction} SUBSCRIBE (Mid: ${p.packetId}, Topic: ${s.topicFilter}, QoS: ${s.qos}, Options: 0x${options.toString(16).padStart(2, '0')})`;
      });
    case PacketType.Suback:
      return [`${direction} SUBACK`];
    case PacketType.Unsubscribe:
      return p.topicFilters.map((f) => `${direction} UNSUBSCRIBE (Mid: ${p.packetId}, Topic: ${f})`);
    case PacketType.Unsuback:
      return [`${direction} UNSUBACK`];
    case PacketType.Pingreq:
      return [`${direction} PINGREQ`];
    case PacketType.Pingresp:
      return [`${direction} PINGRESP`];
    case PacketType.Disconnect:
      return [p.reasonCode === 0 ? `${direction} DISCONNECT` : `${direction} DISCONNECT (${p.reasonCode})`];
    case PacketType.Auth:
      return [`${direction} AUTH (${p.reasonCode})`];
  }
}
