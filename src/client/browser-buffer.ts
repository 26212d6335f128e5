/**
 * What the codec takes from 'node:buffer', for browsers: the browser bundle maps 'node:buffer' here
 * (scripts/build-browser.mjs). Buffer is the `buffer` package, the polyfill MQTT.js ships too; naming
 * its file makes Node load that package rather than its built-in, so this file also runs (and is tested)
 * in Node.
 */
export { Buffer } from 'buffer/index.js';

// One decoder for every call: with fatal set it throws on ill-formed input instead of inserting U+FFFD.
const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Like Node's isUtf8: the WHATWG decoder rejects overlong forms, encodings of U+D800..U+DFFF and code
 * points above U+10FFFF, as [MQTT-1.5.4-1] requires.
 */
export function isUtf8(input: Uint8Array): boolean {
  try {
    strict.decode(input);
    return true;
  } catch {
    // A TypeError from the decoder is its way of saying "not UTF-8".
    return false;
  }
}
