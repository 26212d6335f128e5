/**
 * The browser entry (bundled as dist/browser/mozzie.js): the same client as the Node entry, dialing
 * ws:// and wss:// with the browser's WebSocket. It imports no Node module but 'node:buffer', which the
 * bundle maps to the `buffer` package (src/client/browser-buffer.ts); .dependency-cruiser.cjs and
 * test/browser/bundle.test.ts keep it so.
 */
import { connectorsFor } from './connectors.js';
import { browserDialer } from './dialers/browser.js';

/** Schemes: ws, wss. */
export const { connect, connectAsync } = connectorsFor(browserDialer);

export { Buffer } from 'node:buffer';
export { type BrowserWebSocket, type BrowserWebSocketConstructor, browserDialer, createBrowserDialer } from './dialers/browser.js';
export * from './exports.js';
