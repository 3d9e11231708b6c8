import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface ControlPlaneBinaries {
  kubeApiserver: string;
  etcd: string;
}

/** The directory holding package.json, from wherever this file was compiled to. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (
      existsSync(manifest) &&
      (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'clusterregistry'
    ) {
      return dir;
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the clusterregistry package root');
    dir = parent;
  }
}

/**
 * Finds kube-apiserver and etcd: KUBEBUILDER_ASSETS when set, else the version-keyed cache,
 * else builds them from the Go module proxy (minutes, once). The build script's progress
 * goes to our stderr.
 */
export async function resolveControlPlaneBinaries(): Promise<ControlPlaneBinaries> {
  const dir = await runBinariesScript('controlplane-binaries.sh');
  return { kubeApiserver: join(dir, 'kube-apiserver'), etcd: join(dir, 'etcd') };
}

/** Runs scripts/<name> (find in the cache or build, progress on our stderr) and resolves with the
 * directory it prints last. */
export function runBinariesScript(name: string): Promise<string> {
  const script = join(packageRoot(), 'scripts', name);
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) => {
      const dir = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || !dir) {
        reject(new Error(`${script} failed (exit ${code}); see the messages above`));
        return;
      }
      resolve(dir);
    });
  });
}
