// Finds Go and the Go controller-runtime peer's sources, and builds the peer once per content:
// the binary lives in a cache directory named by a hash of go.mod, go.sum and main.go, outside
// the repository (the peer's code and binaries are never part of it).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

const SOURCES = ['go.mod', 'go.sum', 'main.go'] as const;
const PEER = join('shared', 'peers', 'go-controller-runtime');

/** `go version`'s answer, or undefined when there is no usable go on PATH (or in $GO). */
export function findGo(go = process.env.GO ?? 'go'): { go: string; version: string } | undefined {
  const r = spawnSync(go, ['version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return undefined;
  return { go, version: r.stdout.trim() };
}

/** The peer's source directory: the flag, $GOCR_PEER_DIR, or `../shared/peers/…` next to the
 * repository (one level further up too, for a git worktree in a sibling directory). */
export function findPeerDir(root: string, flag?: string): string | undefined {
  const candidates = [flag, process.env.GOCR_PEER_DIR, join(root, '..', PEER), join(root, '..', '..', PEER)];
  return candidates
    .filter((d): d is string => !!d)
    .map((d) => resolve(d))
    .find((d) => SOURCES.every((f) => existsSync(join(d, f))));
}

export function peerHash(dir: string): string {
  const h = createHash('sha256');
  for (const f of SOURCES)
    h.update(f)
      .update('\0')
      .update(readFileSync(join(dir, f)))
      .update('\0');
  return h.digest('hex').slice(0, 16);
}

/** The peer's binary, built now if this content has not been built before. */
export function buildPeer(go: string, dir: string, log: (line: string) => void): string {
  const cache = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'clusterregistry', 'peers');
  const out = join(cache, `gocr-${peerHash(dir)}`);
  const binary = join(out, 'gocr');
  if (existsSync(binary)) {
    log(`Go peer: ${binary} (cached)`);
    return binary;
  }
  log(`building the Go peer (once)… from ${dir} into ${out}`);
  const started = performance.now();
  // A writable copy: the shared sources are read-only and -mod=mod may touch go.sum.
  const src = join(out, 'src');
  rmSync(src, { recursive: true, force: true });
  mkdirSync(src, { recursive: true });
  for (const f of SOURCES) {
    writeFileSync(join(src, f), readFileSync(join(dir, f)));
    chmodSync(join(src, f), 0o644);
  }
  const tmp = join(out, `gocr.tmp-${process.pid}`);
  // The README's build command; the module proxy is the only download.
  const r = spawnSync(go, ['build', '-o', tmp, '.'], {
    cwd: src,
    env: { ...process.env, GOTOOLCHAIN: 'local', GOFLAGS: '-mod=mod', CGO_ENABLED: '0' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (r.error || r.status !== 0) {
    rmSync(tmp, { force: true });
    throw new Error(`go build of the peer failed (${r.error?.message ?? `exit ${r.status}`})`);
  }
  // Renamed into place only when complete, so an interrupted build is never taken as cached.
  renameSync(tmp, binary);
  log(`Go peer built in ${((performance.now() - started) / 1000).toFixed(0)} s: ${binary}`);
  return binary;
}
