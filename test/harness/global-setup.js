// Jest global setup of the integration project: real control planes, started once per run.
// Jest loads this file (and what it imports) natively, outside its module mapper, so it uses
// the compiled product code in dist/ (the test command builds first).
// Set CLUSTERREGISTRY_TEST_CLUSTERS to the clusters.json of `npm run clusters -- up` to reuse
// running clusters instead.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlServer } from '../../dist/src/envtest/control-server.js';
import { LocalClusters } from '../../dist/src/envtest/local-clusters.js';

export default async function globalSetup() {
  if (process.env.CLUSTERREGISTRY_TEST_CLUSTERS) return;
  const count = Number(process.env.CLUSTERREGISTRY_TEST_CLUSTER_COUNT ?? 3);
  const dir = mkdtempSync(join(tmpdir(), 'clusterregistry-test-'));
  const started = Date.now();
  const clusters = await LocalClusters.up({ count, dir, readyTimeoutMs: 90_000 });
  // If jest dies without running the teardown, the control planes die with it.
  process.on('exit', () => clusters.killNow());
  const control = await ControlServer.listen(clusters);
  clusters.writeManifest({ url: control.url, token: control.token });
  process.env.CLUSTERREGISTRY_TEST_CLUSTERS = clusters.manifestPath;
  globalThis.__clusterregistryTest = { clusters, control };
  process.stderr.write(
    `\n[harness] ${count} clusters ready in ${((Date.now() - started) / 1000).toFixed(1)} s (${dir})\n`,
  );
}
