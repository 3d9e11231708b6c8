// Control-plane start-up and footprint: for 1 and for 3 local clusters, the time from start to
// every /readyz answering, and the resident memory of each etcd and kube-apiserver.
// Run: npm run bench:controlplane
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveControlPlaneBinaries } from '../src/envtest/binaries.js';
import { LocalClusters } from '../src/envtest/local-clusters.js';

function rssMiB(pid: number | undefined): string {
  if (pid === undefined) return 'n/a';
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'));
  return line ? (Number(line.split(/\s+/)[1]) / 1024).toFixed(0) : 'n/a';
}

async function run(count: number): Promise<void> {
  const binaries = await resolveControlPlaneBinaries();
  const dir = mkdtempSync(join(tmpdir(), 'cr-bench-cp-'));
  const started = performance.now();
  const clusters = await LocalClusters.up({ count, dir, binaries, readyTimeoutMs: 120_000 });
  const readyMs = performance.now() - started;
  try {
    console.log(`\n${count} cluster(s): all /readyz answered after ${(readyMs / 1000).toFixed(2)} s`);
    console.log('cluster      etcd RSS MiB   kube-apiserver RSS MiB');
    for (const c of clusters.clusters) {
      console.log(
        `${c.name.padEnd(12)} ${rssMiB(c.pids.etcd).padStart(12)}   ${rssMiB(c.pids.apiserver).padStart(22)}`,
      );
    }
  } finally {
    await clusters.down();
    rmSync(dir, { recursive: true, force: true });
  }
}

// Binaries first, so their (cached) lookup is not part of the start-up time.
await resolveControlPlaneBinaries();
for (const count of [1, 3]) await run(count);
