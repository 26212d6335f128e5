import { isUtf8 } from 'node:buffer';

/**
 * Result of scanning a UTF-8 Encoded String's bytes (section 1.5.4):
 * 0 = valid, 1 = ill-formed UTF-8 or surrogate encodings, 2 = contains U+0000.
 * Most strings on the wire are short ASCII topics, so the scan stays in a plain byte loop and only
 * calls the native validator when it sees a byte of 0x80 or above.
 */
export const Utf8Check = { Valid: 0, IllFormed: 1, NullCharacter: 2 } as const;
export type Utf8Check = (typeof Utf8Check)[keyof typeof Utf8Check];

export function checkUtf8(buf: Uint8Array, start: number, end: number): Utf8Check {
  let ascii = true;
  for (let i = start; i < end; i++) {
    const b = buf[i] as number;
    if (b === 0) return Utf8Check.NullCharacter; // [MQTT-1.5.4-2]
    if (b >= 0x80) ascii = false;
  }
  if (ascii) return Utf8Check.Valid;
  // Node's isUtf8 rejects overlong forms and the encodings of U+D800..U+DFFF. [MQTT-1.5.4-1]
  return isUtf8(buf.subarray(start, end)) ? Utf8Check.Valid : Utf8Check.IllFormed;
}

/** True if a JavaScript string would encode to a valid MQTT UTF-8 string (no U+0000, no lone surrogate). */
export function isValidMqttString(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0) return false; // [MQTT-1.5.4-2]
    if (c >= 0xd800 && c <= 0xdfff) {
      // A surrogate is only valid as the first half of a pair followed by the second. [MQTT-1.5.4-1]
      if (c > 0xdbff) return false;
      const next = value.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) return false;
      i++;
    }
  }
  return true;
}
