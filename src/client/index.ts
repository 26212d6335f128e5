/** The Node entry of the client: TCP, TLS and WebSocket dialing, and the durable FileStore. */
import { connectorsFor } from './connectors.js';
import { nodeDialer } from './dialers/node.js';

/** Schemes: mqtt, mqtts, ws, wss. */
export const { connect, connectAsync } = connectorsFor(nodeDialer);

export { nodeDialer } from './dialers/node.js';
export * from './exports.js';
export { FileStore } from './file-store.js';
