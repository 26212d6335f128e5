import type { Buffer } from 'node:buffer';
import type { ProtocolVersion } from './constants.js';
import { malformed } from './errors.js';
import { checkUtf8, Utf8Check } from './utf8.js';

/**
 * A cursor over one packet's bytes. Decoders read through it; every read checks the bounds of the
 * packet (not of the buffer, which may hold more packets) and names the field in any error.
 * One Reader is reused for every packet of a connection, so decoding allocates nothing but the result.
 */
export class Reader {
  buf: Buffer;
  pos: number;
  end: number;
  /** Protocol version of the packet, for the statement ids in errors (3.1.1 numbers UTF-8 rules 1.5.3-x). */
  version: ProtocolVersion = 5;

  constructor(buf: Buffer, pos = 0, end: number = buf.length) {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
  }

  reset(buf: Buffer, pos: number, end: number): this {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
    return this;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  private need(n: number, field: string): void {
    if (this.end - this.pos < n) {
      throw malformed(
        'MQTT_PACKET_TRUNCATED',
        field,
        `needs ${n} byte${n === 1 ? '' : 's'} but only ${this.end - this.pos} remain in the packet`,
      );
    }
  }

  byte(field: string): number {
    this.need(1, field);
    return this.buf[this.pos++] as number;
  }

  uint16(field: string): number {
    this.need(2, field);
    const b = this.buf;
    const p = this.pos;
    this.pos = p + 2;
    return ((b[p] as number) << 8) | (b[p + 1] as number);
  }

  uint32(field: string): number {
    this.need(4, field);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  /** Variable Byte Integer (section 1.5.5): at most four bytes, minimal encoding. */
  varint(field: string): number {
    let value = 0;
    let multiplier = 1;
    for (let i = 0; i < 4; i++) {
      const b = this.byte(field);
      value += (b & 0x7f) * multiplier;
      if ((b & 0x80) === 0) {
        // A non-minimal encoding ends in a zero byte after a continuation. [MQTT-1.5.5-1]
        if (b === 0 && i > 0) {
          throw malformed('MQTT_VARIABLE_BYTE_INTEGER_INVALID', field, 'Variable Byte Integer is not minimally encoded', 'MQTT-1.5.5-1');
        }
        return value;
      }
      multiplier *= 128;
    }
    throw malformed('MQTT_VARIABLE_BYTE_INTEGER_INVALID', field, 'Variable Byte Integer is longer than four bytes', 'MQTT-1.5.5-1');
  }

  /** Two Byte Integer length then that many bytes of well-formed UTF-8 without U+0000. */
  utf8(field: string): string {
    const len = this.uint16(field);
    this.need(len, field);
    const start = this.pos;
    const end = start + len;
    const check = checkUtf8(this.buf, start, end);
    if (check !== Utf8Check.Valid) throw utf8Error(check, field, this.version);
    this.pos = end;
    // Buffer#toString keeps a leading U+FEFF rather than stripping it. [MQTT-1.5.4-3]
    return this.buf.toString('utf8', start, end);
  }

  /** Two Byte Integer length then that many bytes, returned as a view (no copy). */
  binary(field: string): Buffer {
    const len = this.uint16(field);
    this.need(len, field);
    const start = this.pos;
    this.pos = start + len;
    return this.buf.subarray(start, this.pos);
  }

  /** Everything left in the packet, as a view (no copy). */
  rest(): Buffer {
    const start = this.pos;
    this.pos = this.end;
    return this.buf.subarray(start, this.end);
  }
}

export function utf8Error(check: Utf8Check, field: string, version: ProtocolVersion = 5) {
  const v5 = version === 5;
  return check === Utf8Check.NullCharacter
    ? malformed('MQTT_UTF8_NULL_CHARACTER', field, 'string contains the null character U+0000', v5 ? 'MQTT-1.5.4-2' : 'MQTT-1.5.3-2')
    : malformed('MQTT_UTF8_INVALID', field, 'string is not well-formed UTF-8', v5 ? 'MQTT-1.5.4-1' : 'MQTT-1.5.3-1');
}
