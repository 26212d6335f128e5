/**
 * Dependencies point one way (../shared/DESIGN.md): protocol knows nothing else; the broker never imports a
 * transport, a concrete store, the server, the client or the CLI; client and broker never import each other;
 * nothing imports the CLI. Checked on the compiled JavaScript in dist/src.
 */
module.exports = {
  forbidden: [
    {
      name: 'protocol-is-self-contained',
      comment: 'src/protocol is the pure codec shared by broker and client; it imports nothing else from src/.',
      severity: 'error',
      from: { path: '^dist/src/protocol/' },
      to: { path: '^dist/src/', pathNot: '^dist/src/protocol/' },
    },
    {
      name: 'broker-knows-no-transport-or-concrete-store',
      comment: 'The broker receives streams, stores and clocks through its constructor.',
      severity: 'error',
      from: { path: '^dist/src/broker/' },
      to: { path: '^dist/src/(transport|server|client|cli|cluster|store/(memory|sqlite|durable))/' },
    },
    {
      name: 'client-does-not-import-broker',
      severity: 'error',
      from: { path: '^dist/src/client/' },
      to: { path: '^dist/src/(broker|server|store|transport|cluster|cli)/' },
    },
    {
      name: 'transport-knows-no-mqtt',
      comment: 'Transports are byte pipes; they hand a Duplex to whoever listens.',
      severity: 'error',
      from: { path: '^dist/src/transport/' },
      to: { path: '^dist/src/(protocol|broker|client|store|server|cli|cluster)/' },
    },
    {
      name: 'nothing-imports-cli',
      severity: 'error',
      from: { pathNot: '^dist/src/cli/' },
      to: { path: '^dist/src/cli/' },
    },
    {
      name: 'browser-entry-is-browser-safe',
      comment:
        'The browser bundle (scripts/build-browser.mjs) maps node:buffer to the buffer package; nothing reachable from the browser entry may need another Node module, ws, or the Node dialer.',
      severity: 'error',
      from: { path: '^dist/src/client/browser\\.js$' },
      to: {
        path: ['^(node:)?[a-z_/]+$', '(^|/)node_modules/ws/', '^dist/src/client/(index|file-store|dialers/node)\\.js$'],
        pathNot: '^(node:)?buffer$',
        reachable: true,
      },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '\\.map$' },
    moduleSystems: ['es6'],
  },
};
