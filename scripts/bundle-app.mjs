#!/usr/bin/env node
// Bundles the ready-made app (dist/src/main.js, compiled by `nest build`) into dist/app/ with
// esbuild: the code the app reaches, in a few files, instead of every file of every dependency.
// The image runs this bundle; the library itself is never bundled (users install it, and their
// app resolves its peers).
//
// Why: the app's RSS before any runtime (README, "Benchmarks"; settled RSS, median of 3 runs on
// one machine): unbundled 92.7 MiB; bundled 86.0 (Node keeps the source of every module it loads
// as a heap string, with its functions: 7 MiB less V8 heap committed); with the first two
// plugins below 77.8 (Nest's clock alone 79.7, builtins alone 84.7). The third keeps the bundle
// whole: the image has no node_modules.
//
// usage: node scripts/bundle-app.mjs [entry] [outdir]   (outdir is emptied first)
import { readFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const entry = resolve(process.argv[2] ?? join(root, 'dist', 'src', 'main.js'));
const outdir = resolve(process.argv[3] ?? join(root, 'dist', 'app'));

// Packages loaded inside try/catch only when installed: NestJS's for features the app does not
// use, and ws's native speed-ups (client-node's websockets). None is installed.
const optional = [
  '@nestjs/microservices',
  '@nestjs/websockets',
  '@nestjs/platform-express',
  'class-validator',
  'class-transformer',
  'bufferutil',
  'utf-8-validate',
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
    const patched = new Set();
    b.onEnd((result) => {
      if (result.errors.length === 0 && patched.size !== 2) {
        throw new Error(`expected @nestjs/common's two logger modules in the bundle, patched ${patched.size}`);
      }
    });
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
      patched.add(args.path.replace(/.*[\\/]/, ''));
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
    b.onResolve({ filter: /^(node:)?[a-z0-9_/]+$/ }, (args) => {
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

/**
 * The package loads @kubernetes/client-node only when it is needed, synchronously, with
 * `createRequire(import.meta.url)('@kubernetes/client-node')`: for a manage kubeconfig that names
 * files or runs a command (src/client/manage-kubeconfig.ts) and on the first typed API call
 * (src/client/typed-api.ts). esbuild cannot follow that call, and the image has no node_modules.
 * So client-node is an entry of the bundle (client-node.mjs, its code shared with whatever else
 * imports it) and those calls require that file: still loaded only when used.
 */
const clientNodeEntry = {
  name: 'client-node-entry',
  setup(b) {
    b.onResolve({ filter: /^client-node-entry$/ }, () => ({ path: 'client-node', namespace: 'client-node-entry' }));
    b.onLoad({ filter: /.*/, namespace: 'client-node-entry' }, () => ({
      contents: "export * from '@kubernetes/client-node';",
      resolveDir: dirname(entry),
      loader: 'js',
    }));
    b.onLoad({ filter: /[\\/]src[\\/]client[\\/](manage-kubeconfig|typed-api)\.js$/ }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      const lazy = "createRequire(import.meta.url)('@kubernetes/client-node')";
      const found = source.split(lazy).length - 1;
      if (found !== 1) throw new Error(`${args.path}: expected ${lazy} once, found it ${found} times`);
      return { contents: source.replace(lazy, "createRequire(import.meta.url)('./client-node.mjs')"), loader: 'js' };
    });
  },
};

/** Fails the build if an output still loads a package at run time: the image has no node_modules. */
function packagesLoadedAtRunTime(outputs) {
  const allowed = (name) => name.startsWith('./') || name.startsWith('node:') || optional.includes(name);
  const found = new Set();
  for (const file of outputs) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:createRequire\)?\(import\.meta\.url\)|__require)\("([^"]+)"\)/g)) {
      if (!allowed(m[1])) found.add(`${m[1]} (${file})`);
    }
  }
  if (found.size > 0) throw new Error(`the bundle would load these at run time: ${[...found].join(', ')}`);
}

// Only a directory of the bundle's own: it is emptied first.
if (outdir === dirname(outdir) || outdir === process.cwd() || entry.startsWith(outdir + sep)) {
  throw new Error(`refusing to empty ${outdir}: give a directory for the bundle alone`);
}
await rm(outdir, { recursive: true, force: true });
const result = await build({
  entryPoints: { main: entry, 'client-node': 'client-node-entry' },
  outdir,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  // A chunk per dynamic import: the embedded clusters' tooling loads only when it runs.
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node22.19',
  // Whitespace and syntax only: identifiers stay, so class names (NestJS logs and resolves
  // providers by them) and the function names in stack traces are the source's.
  minifyWhitespace: true,
  minifySyntax: true,
  keepNames: true,
  legalComments: 'none',
  external: optional,
  // The CommonJS packages inside an ES module bundle still call require().
  banner: {
    js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
  },
  plugins: [lazyNestLoggerClock, builtinsByRequire, clientNodeEntry],
  metafile: true,
  logLevel: 'warning',
});

packagesLoadedAtRunTime(Object.keys(result.metafile.outputs));
const outputs = Object.entries(result.metafile.outputs).map(
  ([file, o]) => `${file} (${(o.bytes / 1024).toFixed(0)} KiB)`,
);
console.log(`bundled ${entry} → ${outputs.join(', ')}`);
