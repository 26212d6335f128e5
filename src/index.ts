/**
 * Mozzie: MQTT broker, client library and tools.
 * The protocol codec is shared by broker and client and exported whole.
 */
export * from './protocol/index.js';
