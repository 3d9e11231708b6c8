#!/usr/bin/env node
// Bundles the ready-made app (dist/src/main.js, compiled by `nest build`) into dist/app/ with
// esbuild: the code the app reaches, in a few files, instead of every file of every dependency.
// The image runs this bundle; the library itself is never bundled (users install it, and their
// app resolves its peers).
//
// Why: the app's RSS before any runtime (README, "Benchmarks"; settled RSS, median of 3 runs on
// one machine): unbundled 92.7 MiB; bundled 86.0 (Node keeps the source of every module it loads
// as a heap string, with its functions: 7.7 MiB less V8 heap committed); with the two plugins
// below 77.8 (Nest's clock alone 79.7, builtins alone 84.7).
//
// usage: node scripts/bundle-app.mjs [entry] [outdir]
import { readFile, rm } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const entry = resolve(process.argv[2] ?? join(root, 'dist', 'src', 'main.js'));
const outdir = resolve(process.argv[3] ?? join(root, 'dist', 'app'));

// Packages that NestJS and Terminus load only when an app uses them, inside try/catch: the app
// does not, and they are not installed.
const optional = [
  '@nestjs/microservices',
  '@nestjs/websockets',
  '@nestjs/platform-express',
  'class-validator',
  'class-transformer',
];

/**
 * @nestjs/common's ConsoleLogger and Logger each make an Intl.DateTimeFormat when their modules
 * load, for the timestamps of their text lines. The first Intl object maps ICU's locale and time
 * zone data: 8.2 MiB of RSS in a bare node (`new Intl.DateTimeFormat()`: 43.5 → 51.9 MiB), 6.3 MiB
 * in the app. The app logs JSON with ISO times (JsonLogger) and never formats one, so each
 * formatter is made on first use. The build fails if a line is not there exactly once: a NestJS
 * release that changed it must be looked at, not bundled blind.
 */
const lazyNestLoggerClock = {
  name: 'lazy-nest-logger-clock',
  setup(b) {
    b.onLoad({ filter: /[\\/]@nestjs[\\/]common[\\/]services[\\/](console-)?logger\.service\.js$/ }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      const eager = /const dateTimeFormatter = new Intl\.DateTimeFormat\(undefined, (\{[^}]*\})\);/g;
      const found = source.match(eager)?.length ?? 0;
      if (found !== 1) {
        throw new Error(`${args.path}: expected the eager Intl.DateTimeFormat once, found it ${found} times`);
      }
      const lazy =
        'let dateTimeFormat;\n' +
        'const dateTimeFormatter = { format: (date) => (dateTimeFormat ??= new Intl.DateTimeFormat(undefined, $1)).format(date) };';
      return { contents: source.replace(eager, lazy), loader: 'js' };
    });
  },
};

/**
 * An ES module import of a Node builtin reads every export of it into the module namespace,
 * getters included: `import ... from 'node:http'` loads Node's own copy of undici for http's
 * lazy WebSocket exports, 13.4 MiB of RSS in a bare node (61.1 MiB against 47.6 MiB for
 * require('node:http')); 1.3 MiB in the app, which loads most of what it shares through the npm
 * undici anyway. NestJS, client-node and our servers import builtins so. The bundle asks for
 * them with require(), whose exports are read only when used.
 */
const builtinsByRequire = {
  name: 'builtins-by-require',
  setup(b) {
    const names = new Set(builtinModules.filter((m) => !m.startsWith('_')));
    b.onResolve({ filter: /^[a-z_/:]+$/ }, (args) => {
      const bare = args.path.replace(/^node:/, '');
      if (!names.has(bare) || args.namespace === 'builtin') return undefined;
      return { path: bare, namespace: 'builtin' };
    });
    b.onLoad({ filter: /.*/, namespace: 'builtin' }, (args) => ({
      contents: `module.exports = require(${JSON.stringify(`node:${args.path}`)});`,
      loader: 'js',
    }));
  },
};

await rm(outdir, { recursive: true, force: true });
const result = await build({
  entryPoints: { main: entry },
  outdir,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  // A chunk per dynamic import: the embedded clusters' tooling loads only when it runs.
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node22.19',
  // Whitespace and syntax only: identifiers stay, so stack traces and class names (NestJS logs
  // and resolves providers by them) read as in the source.
  minifyWhitespace: true,
  minifySyntax: true,
  keepNames: true,
  legalComments: 'none',
  external: optional,
  // The CommonJS packages inside an ES module bundle still call require().
  banner: {
    js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
  },
  plugins: [lazyNestLoggerClock, builtinsByRequire],
  metafile: true,
  logLevel: 'warning',
});

const outputs = Object.entries(result.metafile.outputs).map(
  ([file, o]) => `${file} (${(o.bytes / 1024).toFixed(0)} KiB)`,
);
console.log(`bundled ${entry} → ${outputs.join(', ')}`);
