export { ConfigError } from './errors.js';
export { settingsHelp } from './help.js';
export { loadConfigFile } from './load.js';
export { configSchema, type ListenerConfig, type MozzieConfig, type MozzieConfigInput } from './schema.js';
export { validateConfig } from './validate.js';
