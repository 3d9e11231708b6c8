import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { loadSettings } from '../../../src/app/settings.js';
import { packageRoot } from '../../../src/envtest/binaries.js';
import { shardingLeaseNames } from '../../../src/sharding/options.js';

interface Doc {
  kind: string;
  spec?: {
    replicas?: number;
    maxUnavailable?: number;
    template?: { spec: { containers: { env?: { name: string; value?: string }[] }[] } };
  };
  rules?: { apiGroups: string[]; resources: string[]; resourceNames?: string[]; verbs: string[] }[];
}

const docs = (file: string): Doc[] =>
  parseAllDocuments(readFileSync(join(packageRoot(), 'deploy', file), 'utf8')).map((d) => d.toJSON() as Doc);

describe('deploy/', () => {
  const deployment = docs('deployment.yaml').find((d) => d.kind === 'Deployment')!;
  const env = Object.fromEntries(
    (deployment.spec!.template!.spec.containers[0]!.env ?? []).flatMap((e) =>
      e.value === undefined ? [] : [[e.name, e.value]],
    ),
  );
  const settings = loadSettings(env);

  it('runs three sharded replicas with a PodDisruptionBudget that lets one go at a time', () => {
    expect(deployment.spec!.replicas).toBe(3);
    expect(settings.shards).toBeGreaterThan(0);
    const pdb = docs('pdb.yaml').find((d) => d.kind === 'PodDisruptionBudget')!;
    expect(pdb.spec!.maxUnavailable).toBe(1);
    expect(settings.maxReplicas).toBeGreaterThanOrEqual(deployment.spec!.replicas! + 1); // a rolling update's surge
  });

  it('limits every Lease write to the names the deployment uses: the leader, its member slots and its shards', () => {
    const role = docs('rbac.yaml').find((d) => d.kind === 'Role')!;
    const leaseRules = role.rules!.filter((r) => r.apiGroups.includes('coordination.k8s.io'));
    const named = leaseRules.filter((r) => r.resourceNames);
    const unnamed = leaseRules.filter((r) => !r.resourceNames);
    // create cannot be limited by name; list and watch only in the app's own namespace (a Role).
    expect(unnamed.flatMap((r) => r.verbs).sort()).toEqual(['create', 'list', 'watch']);
    expect(named.flatMap((r) => r.verbs).sort()).toEqual(['get', 'update']);
    const names = shardingLeaseNames({
      leasePrefix: settings.shardLeasePrefix,
      shards: settings.shards,
      maxReplicas: settings.maxReplicas,
    });
    expect(named.flatMap((r) => r.resourceNames!).sort()).toEqual(
      [settings.leaseName, ...names.members, ...names.shards].sort(),
    );
  });
});
