#!/usr/bin/env node
// Bundles the browser entry (src/client/browser.ts) into dist/browser/mozzie.js (ESM, with a source map)
// and dist/browser/mozzie.min.js. 'node:buffer' becomes src/client/browser-buffer.ts (the `buffer` package
// plus a TextDecoder-based isUtf8); any other Node built-in or Node-only package fails the build, naming
// the importer, so the bundle can never quietly depend on Node.
// Usage: node scripts/build-browser.mjs   (run by `npm run build`)
import { statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const shim = join(root, 'src/client/browser-buffer.ts');
/** Packages that exist only for Node (sockets, files); the browser has WebSocket and nothing else. */
const nodeOnlyPackages = ['ws'];
const builtins = new Set(builtinModules.filter((m) => !m.startsWith('_')));

/** @type {import('esbuild').Plugin} */
const browserOnly = {
  name: 'mozzie-browser-only',
  setup(b) {
    b.onResolve({ filter: /^node:buffer$/ }, () => ({ path: shim }));
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      const name = args.path.replace(/^node:/, '');
      const bare = name.split('/')[0];
      if (args.path.startsWith('node:') || builtins.has(name) || nodeOnlyPackages.includes(bare)) {
        return {
          errors: [
            {
              text: `"${args.path}" is Node-only, imported from ${relative(root, args.importer)}; the browser entry may use no Node module but node:buffer`,
            },
          ],
        };
      }
      return undefined;
    });
  },
};

const common = {
  absWorkingDir: root,
  entryPoints: ['src/client/browser.ts'],
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2022'],
  plugins: [browserOnly],
  legalComments: 'eof',
  logLevel: 'warning',
};

try {
  await build({ ...common, outfile: 'dist/browser/mozzie.js', sourcemap: true });
  await build({ ...common, outfile: 'dist/browser/mozzie.min.js', minify: true, sourcemap: true });
} catch {
  // esbuild has printed each error with its place already; its stack trace would add nothing.
  process.exit(1);
}

for (const file of ['dist/browser/mozzie.js', 'dist/browser/mozzie.min.js']) {
  console.log(`${file}  ${(statSync(join(root, file)).size / 1024).toFixed(1)} KiB`);
}
