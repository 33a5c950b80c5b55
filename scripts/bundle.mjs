// @ts-check
/**
 * The shipped entry point: dist/cli.js (tsc's output) and what it imports, bundled by esbuild into
 * dist/bundle/cli.mjs, minified. The daemon then loads one file instead of ~300 modules from
 * node_modules, which is faster to start and smaller resident (npm run bench, figure 9). Modules
 * imported lazily (demo, embedded SQLite store, `rows`, `fleet`) stay in chunks of their own that the
 * daemon never loads. better-sqlite3 is native and a development dependency: it stays outside.
 */
import { build } from 'esbuild';

await build({
  entryPoints: ['dist/cli.js'],
  outdir: 'dist/bundle',
  outExtension: { '.js': '.mjs' },
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  minify: true,
  legalComments: 'none',
  external: ['better-sqlite3'],
  logLevel: 'warning',
  // The bundled CommonJS packages (mysql2, pino, prom-client) call require() for Node's built-ins.
  banner: {
    js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
  },
});
