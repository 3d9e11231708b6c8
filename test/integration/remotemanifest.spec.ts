import { join } from 'node:path';
import { ApiextensionsV1Api, CoreV1Api, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import type { ClusterManifestStatus, RemoteManifest } from '../../src/app/remotemanifest/api.js';
import { labelValue } from '../../src/app/remotemanifest/markers.js';
import { KubeApiError } from '../../src/client/errors.js';
import { packageRoot } from '../../src/envtest/binaries.js';
import { installCrd, loadCrds } from '../../src/envtest/crd.js';
import { issueClientCert } from '../../src/envtest/pki.js';
import { CapturedLogs, ManageApi, startApp, testSettings } from '../support/app.js';
import { testClusters, uniqueName, type TestCluster } from '../support/clusters.js';
import { widgetCrd } from '../support/crds.js';
import { certUser, kubeconfigDoc } from '../support/kubeconfig.js';
import { cmPath, conditionOf, configMap, ManifestApi, managers, RemoteObjects } from '../support/manifests.js';
import { eventually } from '../support/poll.js';
import { TcpProxy } from '../support/tcp-proxy.js';

const clusters = testClusters();
const [remote1, remote2] = [clusters.remotes[0]!, clusters.remotes[1]!];
const manage = new ManageApi(clusters.manage.kubeConfig());
const ns = uniqueName('rmf');
const shard = uniqueName('shard');
const selector = `clusterregistry.dev/test-shard=${shard}`;
const rcName = (s: string): string => `${shard}-${s}`;
/** The namespace the manifests land in, in both remote clusters. */
const target = uniqueName('target');
const DELETE_TIMEOUT_MS = 4_000;
const rms = new ManifestApi(manage.kc, ns);
const objects1 = new RemoteObjects(remote1.kubeConfig(), 'admin-1');
const objects2 = new RemoteObjects(remote2.kubeConfig(), 'admin-2');
/** Only r1 and r2 carry it: clusters registered by single tests are never fanned out to. */
const fleet = { 'clusterregistry.dev/test-fleet': shard };
const R1 = rcName('r1');
const R2 = rcName('r2');

/** The app under test (whatever kind of Nest application startApp makes). */
let app: Awaited<ReturnType<typeof startApp>>['app'];
let logs: CapturedLogs;
let settings: ReturnType<typeof testSettings>;

/** A Secret and a RemoteCluster for `kubeconfig`, labelled for this file's app. */
async function register(name: string, kubeconfig: string, labels: Record<string, string> = {}): Promise<void> {
  await manage.putSecret(ns, name, { kubeconfig });
  await manage.createRemoteCluster(
    name,
    { 'clusterregistry.dev/test-shard': shard, ...labels },
    { namespace: ns, name, key: 'kubeconfig' },
  );
}

/** A user of `cluster` with only `verbs` on ConfigMaps, registered as RemoteCluster `name` and
 * Ready; returns the user's name, and a function that gives the user other verbs instead. */
async function configMapUser(
  cluster: TestCluster,
  name: string,
  verbs: string[],
): Promise<{ user: string; setVerbs: (verbs: string[]) => Promise<unknown> }> {
  const user = uniqueName(name);
  const rbac = cluster.kubeConfig().makeApiClient(RbacAuthorizationV1Api);
  const role = (v: string[]) => ({
    metadata: { name: user },
    rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: v }],
  });
  await rbac.createClusterRole({ body: role(verbs) });
  await rbac.createClusterRoleBinding({
    body: {
      metadata: { name: user },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: user },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }],
    },
  });
  const cert = await issueClientCert(cluster.info.ca, `CN=${user}`);
  await register(rcName(name), kubeconfigDoc(cluster, { user: certUser(cert) }));
  await manage.ready(rcName(name), 'True', 'Synced');
  return { user, setVerbs: (other) => rbac.replaceClusterRole({ name: user, body: role(other) }) };
}

async function setClusterLabels(name: string, labels: Record<string, string | null>): Promise<void> {
  await manage.objects.patch(
    { apiVersion: 'clusterregistry.dev/v1alpha1', kind: 'RemoteCluster', metadata: { name, labels } } as never,
    undefined,
    undefined,
    undefined,
    undefined,
    'application/merge-patch+json',
  );
}

function entry(rm: RemoteManifest | undefined, cluster: string): ClusterManifestStatus | undefined {
  return rm?.status?.clusters?.find((c) => c.cluster === cluster);
}

async function remoteNamespace(cluster: TestCluster): Promise<void> {
  await cluster
    .kubeConfig()
    .makeApiClient(CoreV1Api)
    .createNamespace({ body: { metadata: { name: target } } })
    .catch((e: { code?: number }) => {
      if (e.code !== 409) throw e;
    });
}

beforeAll(async () => {
  for (const crd of loadCrds(join(packageRoot(), 'deploy', 'crd.yaml'))) await installCrd(manage.kc, crd);
  await manage.namespace(ns);
  await remoteNamespace(remote1);
  await remoteNamespace(remote2);
  logs = new CapturedLogs();
  settings = testSettings(ns, selector, {
    remoteManifestDeleteTimeoutMs: DELETE_TIMEOUT_MS,
    exampleReconcilers: false,
    probeIntervalMs: 1_000,
  });
  ({ app } = await startApp(manage.kc, settings, logs));
  await register(R1, remote1.kubeconfigText(), { ...fleet, tier: 'a' });
  await register(R2, remote2.kubeconfigText(), { ...fleet, tier: 'b' });
  await manage.ready(R1, 'True', 'Synced');
  await manage.ready(R2, 'True', 'Synced');
});

afterAll(async () => {
  // Nothing of this file may hold up another: every RemoteManifest goes, finalizers and all.
  const list = (await rms.objects.list('clusterregistry.dev/v1alpha1', 'RemoteManifest', ns)) as {
    items: RemoteManifest[];
  };
  for (const rm of list.items) await rms.delete(rm.metadata!.name!);
  for (const rm of list.items) await rms.gone(rm.metadata!.name!, 20_000).catch(() => undefined);
  await app?.close();
  if (process.env.RMF_LOGS) (await import('node:fs')).writeFileSync(process.env.RMF_LOGS, logs.lines.join('\n'));
  await objects1.close();
  await objects2.close();
});

describe('RemoteManifest apply and status', () => {
  it('applies to one cluster by name with its markers and field manager, and mirrors the status back', async () => {
    await rms.create('one', { cluster: R1, manifests: [configMap('one-a', { k: 'v' }, target)] });
    const rm = await rms.condition('one', 'Applied', 'True', 'Applied');

    const cm = (await objects1.configMap(target, 'one-a'))!;
    expect(cm.data).toEqual({ k: 'v' });
    expect(cm.metadata?.labels?.['clusterregistry.dev/manifest']).toBe(`${ns}.one`);
    expect(cm.metadata?.annotations?.['clusterregistry.dev/remotemanifest']).toBe(`${ns}/one`);
    expect(managers(cm)).toEqual([`clusterregistry.dev/${ns}.one:Apply`]);
    expect(await objects2.configMap(target, 'one-a')).toBeUndefined();

    expect(rm.metadata?.finalizers).toEqual(['clusterregistry.dev/remotemanifest']);
    expect(rm.status?.clusters).toEqual([
      {
        cluster: R1,
        observedGeneration: 1,
        objects: [
          { apiVersion: 'v1', kind: 'ConfigMap', namespace: target, name: 'one-a', applied: true, reason: 'Applied' },
        ],
      },
    ]);
    expect(rm.status?.conditions?.map((c) => [c.type, c.status, c.reason])).toEqual([
      ['Applied', 'True', 'Applied'],
      ['Available', 'True', 'Available'],
      ['Degraded', 'False', 'AsExpected'],
    ]);
    expect(rm.status?.summary).toEqual({ clusters: 1, objects: 1, applied: 1, available: 1 });
  });

  it('fans out to every cluster a selector picks, and follows the RemoteClusters labels', async () => {
    await rms.create('fan', {
      clusterSelector: { matchLabels: fleet },
      manifests: [configMap('fan-a', { k: 'v' }, target)],
    });
    const rm = await rms.condition('fan', 'Applied', 'True');
    expect(rm.status?.clusters?.map((c) => c.cluster).sort()).toEqual([R1, R2]);
    expect(await objects1.configMap(target, 'fan-a')).toBeDefined();
    expect(await objects2.configMap(target, 'fan-a')).toBeDefined();

    // A selector on tier: only r1; relabelling r2 brings it in, and out again.
    await rms.create('tier', {
      clusterSelector: { matchLabels: fleet, matchExpressions: [{ key: 'tier', operator: 'In', values: ['a'] }] },
      manifests: [configMap('tier-a', { k: 'v' }, target)],
    });
    await rms.condition('tier', 'Applied', 'True');
    expect((await rms.read('tier'))!.status?.clusters?.map((c) => c.cluster)).toEqual([R1]);
    expect(await objects2.configMap(target, 'tier-a')).toBeUndefined();
    try {
      await setClusterLabels(R2, { tier: 'a' });
      await eventually('tier applied to both', async () =>
        (await objects2.configMap(target, 'tier-a')) ? true : undefined,
      );
      await eventually('both report', async () => {
        const t = await rms.read('tier');
        return t?.status?.summary?.clusters === 2 && entry(t, R2) && conditionOf(t, 'Applied')?.status === 'True'
          ? t
          : undefined;
      });
    } finally {
      await setClusterLabels(R2, { tier: 'b' });
    }
    // No longer selected: deleted there, its entry gone.
    await objects2.gone(target, 'tier-a');
    await eventually('r2 entry retired', async () => {
      const t = await rms.read('tier');
      return t?.status?.clusters?.length === 1 && !entry(t, R2) ? t : undefined;
    });
    expect(await objects1.configMap(target, 'tier-a')).toBeDefined();
  });

  it('copies status feedback and the object conditions back, and sums them up in Available', async () => {
    const deployment = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: target },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: { containers: [{ name: 'main', image: 'registry.invalid/web:1' }] },
        },
      },
    };
    await rms.create('feedback', {
      cluster: R1,
      manifests: [deployment, configMap('feedback-cm', { mode: 'blue' }, target)],
      statusFeedback: [
        { name: 'ready', jsonPath: '.status.readyReplicas', kind: 'Deployment' },
        { name: 'available', jsonPath: '{.status.conditions[?(@.type=="Available")].status}' },
        { name: 'mode', jsonPath: ".data['mode']", kind: 'ConfigMap' },
      ],
    });
    // No controller-manager in the test clusters: nothing reports on the Deployment yet.
    let rm = await rms.condition('feedback', 'Available', 'False', 'NotAvailable');
    expect(conditionOf(rm, 'Applied')?.status).toBe('True');
    expect(entry(rm, R1)!.objects[1]).toMatchObject({ name: 'feedback-cm', feedback: { mode: 'blue' } });

    // Play the Deployment controller: observedGeneration, replicas, Available=True.
    await objects1.mergePatch(`/apis/apps/v1/namespaces/${target}/deployments/web/status`, {
      status: {
        observedGeneration: 1,
        replicas: 2,
        readyReplicas: 2,
        availableReplicas: 2,
        conditions: [{ type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable', message: 'ok' }],
      },
    });
    rm = await rms.condition('feedback', 'Available', 'True', 'Available');
    expect(entry(rm, R1)!.objects[0]).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      namespace: target,
      name: 'web',
      applied: true,
      reason: 'Applied',
      generation: 1,
      observedGeneration: 1,
      conditions: [{ type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable', message: 'ok' }],
      feedback: { ready: '2', available: 'True' },
    });
  });

  it('reports a bad statusFeedback path as Degraded', async () => {
    await rms.create('badpath', {
      cluster: R1,
      manifests: [configMap('badpath', { k: 'v' }, target)],
      statusFeedback: [{ name: 'x', jsonPath: '.data[*]' }],
    });
    await rms.condition('badpath', 'Applied', 'True');
    const rm = await rms.condition('badpath', 'Degraded', 'True', 'InvalidStatusFeedback');
    expect(conditionOf(rm, 'Degraded')?.message).toMatch(/statusFeedback x: unsupported JSONPath/);
  });
});

describe('RemoteManifest lifecycle', () => {
  it('deletes an object removed from the list; with Orphan leaves it without the markers', async () => {
    await rms.create('prune', {
      cluster: R1,
      manifests: [configMap('prune-keep', { k: 'v' }, target), configMap('prune-drop', { k: 'v' }, target)],
    });
    await rms.condition('prune', 'Applied', 'True');
    await rms.patch('prune', { spec: { manifests: [configMap('prune-keep', { k: 'v' }, target)] } });
    await objects1.gone(target, 'prune-drop');
    const rm = await rms.condition('prune', 'Applied', 'True');
    expect(entry(rm, R1)!.objects.map((o) => o.name)).toEqual(['prune-keep']);

    await rms.create('orphan', {
      cluster: R1,
      deletionPolicy: 'Orphan',
      manifests: [configMap('orphan-a', { k: 'v' }, target), configMap('orphan-b', { k: 'v' }, target)],
    });
    await rms.condition('orphan', 'Applied', 'True');
    await rms.patch('orphan', { spec: { manifests: [configMap('orphan-a', { k: 'v' }, target)] } });
    const left = await eventually('orphan-b released', async () => {
      const cm = await objects1.configMap(target, 'orphan-b');
      return cm && !cm.metadata?.labels?.['clusterregistry.dev/manifest'] ? cm : undefined;
    });
    expect(left.data).toEqual({ k: 'v' });
    expect(left.metadata?.annotations?.['clusterregistry.dev/remotemanifest']).toBeUndefined();
    expect(managers(left)).not.toContain(`clusterregistry.dev/${ns}.orphan:Apply`);

    // Deleting an Orphan RemoteManifest leaves its objects too.
    await rms.delete('orphan');
    await rms.gone('orphan');
    const kept = (await objects1.configMap(target, 'orphan-a'))!;
    expect(kept.metadata?.labels?.['clusterregistry.dev/manifest']).toBeUndefined();
  });

  it('with Orphan leaves its objects in a cluster no longer selected, without the markers', async () => {
    await rms.create('orphan-sel', {
      clusterSelector: { matchLabels: { ...fleet, tier: 'b' } },
      deletionPolicy: 'Orphan',
      manifests: [configMap('orphan-sel', { k: 'v' }, target)],
    });
    await rms.condition('orphan-sel', 'Applied', 'True');
    expect(await objects2.configMap(target, 'orphan-sel')).toBeDefined();
    expect(await objects1.configMap(target, 'orphan-sel')).toBeUndefined();

    // Now r1 is selected instead of r2.
    await rms.patch('orphan-sel', { spec: { clusterSelector: { matchLabels: { tier: 'a' } } } });
    await eventually('applied to r1', () => objects1.configMap(target, 'orphan-sel'));
    const left = await eventually('released in r2', async () => {
      const cm = await objects2.configMap(target, 'orphan-sel');
      return cm && !cm.metadata?.labels?.['clusterregistry.dev/manifest'] ? cm : undefined;
    });
    expect(left.data).toEqual({ k: 'v' });
    expect(left.metadata?.annotations?.['clusterregistry.dev/remotemanifest']).toBeUndefined();
    expect(managers(left)).not.toContain(`clusterregistry.dev/${ns}.orphan-sel:Apply`);
    await eventually('only r1 reports', async () => {
      const rm = await rms.read('orphan-sel');
      return rm?.status?.clusters?.map((c) => c.cluster).join() === R1 && conditionOf(rm, 'Applied')?.status === 'True'
        ? rm
        : undefined;
    });
  });

  it('deleting it deletes what it applied, removing only its own finalizer', async () => {
    await rms.create(
      'doomed',
      { clusterSelector: { matchLabels: fleet }, manifests: [configMap('doomed-a', { k: 'v' }, target)] },
      ['example.com/keep'],
    );
    await rms.condition('doomed', 'Applied', 'True');
    expect((await rms.read('doomed'))!.metadata?.finalizers).toEqual([
      'example.com/keep',
      'clusterregistry.dev/remotemanifest',
    ]);
    await rms.delete('doomed');
    await objects1.gone(target, 'doomed-a');
    await objects2.gone(target, 'doomed-a');
    const rm = await eventually('our finalizer removed', async () => {
      const r = await rms.read('doomed');
      return r && !r.metadata?.finalizers?.includes('clusterregistry.dev/remotemanifest') ? r : undefined;
    });
    expect(rm.metadata?.finalizers).toEqual(['example.com/keep']);
    await rms.patch('doomed', { metadata: { finalizers: null } });
    await rms.gone('doomed');
  });

  it('restores an applied object that was edited, stripped of its label or deleted in the cluster', async () => {
    await rms.create('drift', { cluster: R2, manifests: [configMap('drift-a', { k: 'v' }, target)] });
    await rms.condition('drift', 'Applied', 'True');
    const restored = async (what: string) =>
      eventually(`restored after ${what}`, async () => {
        const cm = await objects2.configMap(target, 'drift-a');
        return cm?.data?.k === 'v' && cm.metadata?.labels?.['clusterregistry.dev/manifest'] === `${ns}.drift`
          ? cm
          : undefined;
      });

    await objects2.mergePatch(cmPath(target, 'drift-a'), { data: { k: 'edited', extra: 'x' } });
    const edited = await restored('an edit');
    // Fields the manifest does not set are not ours to take away.
    expect(edited.data).toEqual({ k: 'v', extra: 'x' });

    await objects2.mergePatch(cmPath(target, 'drift-a'), {
      metadata: { labels: { 'clusterregistry.dev/manifest': null } },
    });
    await restored('the label was removed');

    const before = (await objects2.configMap(target, 'drift-a'))!.metadata!.uid;
    await objects2.client.request('DELETE', cmPath(target, 'drift-a'));
    const recreated = await restored('a delete');
    expect(recreated.metadata?.uid).not.toBe(before);
    await rms.condition('drift', 'Applied', 'True');
  });

  it('never touches an object that no RemoteManifest applied', async () => {
    await objects1.client.request('POST', cmPath(target), {
      body: { metadata: { name: 'theirs' }, data: { k: 'mine' } },
    });
    const before = (await objects1.configMap(target, 'theirs'))!;
    await rms.create('intruder', {
      cluster: R1,
      manifests: [configMap('theirs', { k: 'taken' }, target), configMap('intruder-ok', { k: 'v' }, target)],
    });
    const rm = await rms.condition('intruder', 'Applied', 'False', 'AlreadyExists');
    expect(entry(rm, R1)!.objects.map((o) => [o.name, o.applied, o.reason])).toEqual([
      ['theirs', false, 'AlreadyExists'],
      ['intruder-ok', true, 'Applied'],
    ]);
    expect(conditionOf(rm, 'Applied')?.message).toMatch(
      /ConfigMap .*\/theirs: exists and no RemoteManifest applied it/,
    );
    await rms.delete('intruder');
    await rms.gone('intruder');
    await objects1.gone(target, 'intruder-ok');
    const after = (await objects1.configMap(target, 'theirs'))!;
    expect(after.metadata?.resourceVersion).toBe(before.metadata?.resourceVersion);
    expect(after.data).toEqual({ k: 'mine' });
  });

  it('deletes an object removed from the list after its last apply failed', async () => {
    await rms.create('broken', {
      cluster: R1,
      manifests: [configMap('broken-keep', { k: 'v' }, target), configMap('broken-x', { k: 'v' }, target)],
    });
    await rms.condition('broken', 'Applied', 'True');
    // An edit the apiserver refuses: the object stays as last applied, its entry says Invalid.
    await rms.patch('broken', {
      spec: {
        manifests: [configMap('broken-keep', { k: 'v' }, target), configMap('broken-x', { 'bad key!': 'v' }, target)],
      },
    });
    const failed = await rms.condition('broken', 'Applied', 'False', 'Invalid');
    expect(entry(failed, R1)!.objects.map((o) => [o.name, o.applied, o.reason])).toEqual([
      ['broken-keep', true, 'Applied'],
      ['broken-x', false, 'Invalid'],
    ]);
    // A new app, which never saw those applies: what it removes comes from the status.
    await app.close();
    ({ app } = await startApp(manage.kc, settings, logs));
    await rms.condition('broken', 'Applied', 'False', 'Invalid');
    // Taken out of the list to mend it: what was applied before still goes.
    await rms.patch('broken', { spec: { manifests: [configMap('broken-keep', { k: 'v' }, target)] } });
    await objects1.gone(target, 'broken-x');
    await rms.delete('broken');
    await rms.gone('broken');
  });

  it('records a removal it could not do in the status, and an app restarted later still does it', async () => {
    const verbs = ['get', 'list', 'watch', 'create', 'patch'];
    const { setVerbs } = await configMapUser(remote1, 'nodelete', verbs);
    const nodelete = rcName('nodelete');
    try {
      await rms.create('sticky', {
        cluster: nodelete,
        manifests: [configMap('sticky-keep', { k: 'v' }, target), configMap('sticky-drop', { k: 'v' }, target)],
      });
      await rms.condition('sticky', 'Applied', 'True');
      await rms.patch('sticky', { spec: { manifests: [configMap('sticky-keep', { k: 'v' }, target)] } });
      // The delete is refused: the object is still there, so the status says so (Degraded, and
      // the removal with its reason); what is listed is applied.
      const refused = await rms.condition('sticky', 'Degraded', 'True', 'RemovalPending');
      expect(refused.status?.conditions?.find((c) => c.type === 'Applied')?.status).toBe('True');
      const { objects, removals } = entry(refused, nodelete)!;
      expect(objects.map((o) => o.name)).toEqual(['sticky-keep']);
      expect(removals?.map((r) => [r.kind, r.namespace, r.name, r.reason])).toEqual([
        ['ConfigMap', target, 'sticky-drop', 'Forbidden'],
      ]);
      expect(await objects1.configMap(target, 'sticky-drop')).toBeDefined();
      // Each retry fails the same way and writes nothing: the status stays as it is.
      const tries = () =>
        logs.lines.filter((l) => l.includes('could not remove ConfigMap') && l.includes('sticky-drop')).length;
      const seen = tries();
      await eventually('another refused retry', () => tries() > seen, 40_000);
      expect((await rms.read('sticky'))!.metadata!.resourceVersion).toBe(refused.metadata!.resourceVersion);

      // A new app, which never saw the removal fail, finds it in the status once it may delete.
      await app.close();
      await setVerbs([...verbs, 'delete']);
      ({ app } = await startApp(manage.kc, settings, logs));
      await objects1.gone(target, 'sticky-drop');
      const done = await rms.condition('sticky', 'Degraded', 'False', 'AsExpected');
      expect(entry(done, nodelete)!.removals).toBeUndefined();
      expect(entry(done, nodelete)!.objects.map((o) => o.name)).toEqual(['sticky-keep']);
    } finally {
      await rms.delete('sticky');
      await rms.gone('sticky');
      await manage.deleteRemoteCluster(nodelete);
    }
  });

  it('leaves no removal pending for an object its apply never wrote, even once it may not read it', async () => {
    const verbs = ['get', 'list', 'watch', 'create', 'patch', 'delete'];
    const { setVerbs } = await configMapUser(remote1, 'noread', verbs);
    const noread = rcName('noread');
    try {
      await rms.create('unwritten', {
        cluster: noread,
        manifests: [
          configMap('unwritten-keep', { k: 'v' }, target),
          configMap('unwritten-bad', { 'bad key!': 'v' }, target),
        ],
      });
      // A new object refused as invalid: the status says nothing of ours is there.
      const refused = await rms.condition('unwritten', 'Applied', 'False', 'Invalid');
      expect(entry(refused, noread)!.objects.map((o) => [o.name, o.applied, o.reason, o.owned])).toEqual([
        ['unwritten-keep', true, 'Applied', undefined],
        ['unwritten-bad', false, 'Invalid', false],
      ]);
      // Reading ConfigMaps taken away, the invalid one dropped from the list: a removal of it
      // would fail on the read for as long as the right is missing (Degraded, retried).
      await setVerbs(verbs.filter((v) => v !== 'get'));
      await rms.patch('unwritten', { spec: { manifests: [configMap('unwritten-keep', { k: 'v' }, target)] } });
      const settled = await eventually('the new generation reported, no removal under way', async () => {
        const rm = await rms.read('unwritten');
        const mine = entry(rm, noread);
        const current = mine?.observedGeneration === rm?.metadata?.generation;
        return current && !mine?.removals?.some((r) => r.reason === 'Removing') ? rm : undefined;
      });
      expect(entry(settled, noread)!.removals).toBeUndefined();
      expect(entry(settled, noread)!.objects.map((o) => [o.name, o.applied])).toEqual([['unwritten-keep', true]]);
      const asExpected = await rms.condition('unwritten', 'Degraded', 'False', 'AsExpected');
      expect(conditionOf(asExpected, 'Applied')?.status).toBe('True');
    } finally {
      await setVerbs(verbs);
      await rms.delete('unwritten');
      await rms.gone('unwritten');
      await manage.deleteRemoteCluster(noread);
    }
  });

  it('removes an object of its own whose later apply failed before it could look at it', async () => {
    const verbs = ['get', 'list', 'watch', 'create', 'patch', 'delete'];
    const { setVerbs } = await configMapUser(remote1, 'blind', verbs);
    const blind = rcName('blind');
    try {
      await rms.create('inherit', {
        cluster: blind,
        manifests: [configMap('inherit-keep', { k: 'v' }, target), configMap('inherit-x', { k: 'v' }, target)],
      });
      await rms.condition('inherit', 'Applied', 'True');
      // A new app that may not read ConfigMaps (nor watch them): its applies fail on the read,
      // before they learn whose the objects are. The status keeps them ours, from the record.
      await app.close();
      await setVerbs(['create', 'patch', 'delete']);
      ({ app } = await startApp(manage.kc, settings, logs));
      const failed = await eventually('the reads refused', async () => {
        const rm = await rms.read('inherit');
        const objects = entry(rm, blind)?.objects ?? [];
        return objects.length === 2 && objects.every((o) => o.reason === 'Forbidden') ? rm : undefined;
      });
      expect(entry(failed, blind)!.objects.map((o) => [o.name, o.applied, o.owned])).toEqual([
        ['inherit-keep', false, true],
        ['inherit-x', false, true],
      ]);
      // Reading allowed again, inherit-x leaves the list: it is removed.
      await setVerbs(verbs);
      await rms.patch('inherit', { spec: { manifests: [configMap('inherit-keep', { k: 'v' }, target)] } });
      await objects1.gone(target, 'inherit-x');
      await rms.condition('inherit', 'Applied', 'True');
      expect(await objects1.configMap(target, 'inherit-keep')).toBeDefined();
    } finally {
      await setVerbs(verbs);
      await rms.delete('inherit');
      await rms.gone('inherit');
      await manage.deleteRemoteCluster(blind);
    }
  });

  it('removes an object applied as a version its CRD stopped serving, as the version still served', async () => {
    const group = `${uniqueName('rmv')}.example.com`;
    const crd = widgetCrd(group, ['v1alpha1', 'v1']);
    const widget = (name: string) => ({
      apiVersion: `${group}/v1alpha1`,
      kind: 'Widget',
      metadata: { name, namespace: target },
      spec: { size: 1 },
    });
    const served = (v: string, name: string) => `/apis/${group}/${v}/namespaces/${target}/widgets/${name}`;
    const api = remote1.kubeConfig().makeApiClient(ApiextensionsV1Api);
    await installCrd(remote1.kubeConfig(), crd);
    try {
      await rms.create('versions', { cluster: R1, manifests: [widget('w-keep'), widget('w-drop')] });
      await rms.condition('versions', 'Applied', 'True');
      // The CRD stops serving v1alpha1: the objects stay, as v1 (their storage version).
      await api.patchCustomResourceDefinition({
        name: crd.metadata!.name!,
        body: [{ op: 'replace', path: '/spec/versions/0/served', value: false }],
      });
      await eventually('v1alpha1 no longer served', () =>
        objects1.client.request('GET', `/apis/${group}/v1alpha1`).then(
          () => undefined,
          (err: unknown) => (err instanceof KubeApiError && err.status === 404 ? true : undefined),
        ),
      );
      await rms.patch('versions', { spec: { manifests: [widget('w-keep')] } });
      await eventually('w-drop gone', () =>
        objects1.client.request('GET', served('v1', 'w-drop')).then(
          () => undefined,
          (err: unknown) => (err instanceof KubeApiError && err.status === 404 ? true : undefined),
        ),
      );
      const rm = await rms.read('versions');
      expect(entry(rm, R1)!.removals).toBeUndefined();
      expect(await objects1.client.request('GET', served('v1', 'w-keep'))).toBeDefined();
    } finally {
      await rms.delete('versions');
      await rms.gone('versions');
      await api.deleteCustomResourceDefinition({ name: crd.metadata!.name! });
    }
  });

  it('removes an object of its own whose last apply was refused, once it leaves the list', async () => {
    const verbs = ['get', 'list', 'watch', 'create', 'patch', 'delete'];
    const { setVerbs } = await configMapUser(remote1, 'nopatch', verbs);
    const nopatch = rcName('nopatch');
    try {
      await rms.create('held', {
        cluster: nopatch,
        manifests: [configMap('held-keep', { k: 'v' }, target), configMap('held-x', { k: 'v' }, target)],
      });
      await rms.condition('held', 'Applied', 'True');
      // The patch right goes (as a webhook's denial would): the changed object cannot be applied.
      await setVerbs(verbs.filter((v) => v !== 'patch'));
      await rms.patch('held', {
        spec: { manifests: [configMap('held-keep', { k: 'v' }, target), configMap('held-x', { k: 'new' }, target)] },
      });
      const refused = await rms.condition('held', 'Applied', 'False', 'Forbidden');
      const x = entry(refused, nopatch)!.objects.find((o) => o.name === 'held-x');
      expect([x?.applied, x?.reason, x?.owned]).toEqual([false, 'Forbidden', true]);
      // A new app reads that from the status; the object leaves the list and goes.
      await app.close();
      ({ app } = await startApp(manage.kc, settings, logs));
      await rms.condition('held', 'Applied', 'False', 'Forbidden');
      await rms.patch('held', { spec: { manifests: [configMap('held-keep', { k: 'v' }, target)] } });
      await objects1.gone(target, 'held-x');
      expect(await objects1.configMap(target, 'held-keep')).toBeDefined();
    } finally {
      await rms.delete('held');
      await rms.gone('held');
      await manage.deleteRemoteCluster(nopatch);
    }
  });

  it('never deletes an object that only claims to be its own (labels, annotation and managedFields forged)', async () => {
    // Whoever may write ConfigMaps in the remote cluster makes one look applied by 'forge': the
    // apiserver takes managedFields from an update or a patch (not from a create).
    const manager = `clusterregistry.dev/${labelValue(ns, 'forge')}`;
    await objects1.client.request('POST', cmPath(target), {
      body: {
        metadata: {
          name: 'forged',
          labels: { 'clusterregistry.dev/manifest': labelValue(ns, 'forge') },
          annotations: { 'clusterregistry.dev/remotemanifest': `${ns}/forge` },
        },
        data: { k: 'victim' },
      },
    });
    const forged = {
      manager,
      operation: 'Apply',
      apiVersion: 'v1',
      time: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      fieldsType: 'FieldsV1',
      fieldsV1: { 'f:data': { 'f:k': {} } },
    };
    await objects1.client.request('PATCH', cmPath(target, 'forged'), {
      body: { metadata: { managedFields: [forged] } },
      contentType: 'application/merge-patch+json',
    });
    const before = (await objects1.configMap(target, 'forged'))!;
    // The forgery holds: the apiserver kept the managedFields it was sent.
    expect(managers(before)).toContain(`${manager}:Apply`);

    await rms.create('forge', {
      cluster: R1,
      manifests: [configMap('forge-keep', { k: 'v' }, target), configMap('forge-drop', { k: 'v' }, target)],
    });
    await rms.condition('forge', 'Applied', 'True');
    // A prune, then the deletion of the RemoteManifest: each removes what it applied, only that.
    await rms.patch('forge', { spec: { manifests: [configMap('forge-keep', { k: 'v' }, target)] } });
    await objects1.gone(target, 'forge-drop');
    await rms.delete('forge');
    await rms.gone('forge');
    await objects1.gone(target, 'forge-keep');
    const after = (await objects1.configMap(target, 'forged'))!;
    expect(after.metadata?.resourceVersion).toBe(before.metadata?.resourceVersion);
    expect(after.data).toEqual({ k: 'victim' });
  });

  it('reports a conflict on the second of two RemoteManifests claiming one object, and they never fight', async () => {
    await rms.create('first', { cluster: R1, manifests: [configMap('shared', { owner: 'first' }, target)] });
    await rms.condition('first', 'Applied', 'True');
    await rms.create('second', { cluster: R1, manifests: [configMap('shared', { owner: 'second' }, target)] });
    const second = await rms.condition('second', 'Applied', 'False', 'Conflict');
    expect(conditionOf(second, 'Applied')?.message).toContain(`: already applied by RemoteManifest ${ns}/first`);
    expect(conditionOf(second, 'Degraded')).toMatchObject({ status: 'True', reason: 'Conflict' });
    const cm = (await objects1.configMap(target, 'shared'))!;
    // Both reconciled again (a new generation each, reported by the cluster), and nothing moved:
    // no tug of war.
    await rms.patch('first', {
      spec: { manifests: [configMap('shared', { owner: 'first' }, target), configMap('first-b', { k: 'v' }, target)] },
    });
    await rms.patch('second', {
      spec: { manifests: [configMap('shared', { owner: 'second', again: 'yes' }, target)] },
    });
    for (const name of ['first', 'second']) {
      await eventually(`${name} reported generation 2`, async () =>
        entry(await rms.read(name), R1)?.observedGeneration === 2 ? true : undefined,
      );
    }
    await rms.condition('second', 'Applied', 'False', 'Conflict');
    const still = (await objects1.configMap(target, 'shared'))!;
    expect(still.data).toEqual({ owner: 'first' });
    expect(still.metadata?.resourceVersion).toBe(cm.metadata?.resourceVersion);
    expect(conditionOf(await rms.read('first'), 'Applied')?.status).toBe('True');

    // Created at the same moment, exactly one of two wins; the other reports the conflict.
    await Promise.all([
      rms.create('race-a', { cluster: R2, manifests: [configMap('raced', { owner: 'a' }, target)] }),
      rms.create('race-b', { cluster: R2, manifests: [configMap('raced', { owner: 'b' }, target)] }),
    ]);
    const outcome = await eventually('one wins, one conflicts', async () => {
      const reasons = await Promise.all(
        ['race-a', 'race-b'].map(async (n) => conditionOf(await rms.read(n), 'Applied')?.reason),
      );
      return reasons.sort().join() === 'Applied,Conflict' ? reasons : undefined;
    });
    expect(outcome).toHaveLength(2);
    const raced = (await objects2.configMap(target, 'raced'))!;
    const winner = raced.data!.owner!;
    expect(conditionOf(await rms.read(`race-${winner}`), 'Applied')?.reason).toBe('Applied');
  });
  it('after an app restart applies again without changing anything, and still corrects drift', async () => {
    await rms.create('steady', {
      cluster: R1,
      manifests: [configMap('steady-a', { k: 'v' }, target), configMap('steady-b', { k: 'v' }, target)],
    });
    const before = await rms.condition('steady', 'Applied', 'True');
    const a = (await objects1.configMap(target, 'steady-a'))!;
    await app.close();
    ({ app } = await startApp(manage.kc, settings, logs));
    // The new app is at work once it restores a deleted object…
    await objects1.client.request('DELETE', cmPath(target, 'steady-b'));
    await eventually('steady-b restored', () => objects1.configMap(target, 'steady-b'));
    // …and it applied the other one again on its way (in manifest order) without changing it.
    expect((await objects1.configMap(target, 'steady-a'))!.metadata?.resourceVersion).toBe(a.metadata?.resourceVersion);
    const after = await rms.condition('steady', 'Applied', 'True');
    expect(conditionOf(after, 'Applied')!.lastTransitionTime).toBe(conditionOf(before, 'Applied')!.lastTransitionTime);
  });
});

describe('RemoteManifest and its clusters', () => {
  it('waits for an unknown cluster, then for it to be Ready, and proceeds', async () => {
    const late = rcName('late');
    await rms.create('waiting', { cluster: late, manifests: [configMap('waiting-a', { k: 'v' }, target)] });
    let rm = await rms.condition('waiting', 'Applied', 'False', 'ClusterNotFound');
    expect(conditionOf(rm, 'Applied')?.message).toContain(`RemoteCluster ${late} does not exist`);

    await register(late, kubeconfigDoc(remote2, { server: 'https://127.0.0.1:1' }));
    rm = await eventually('waiting for a cluster that is not Ready', async () => {
      const r = await rms.condition('waiting', 'Applied', 'False', 'ClusterNotReady');
      return /Unreachable/.test(conditionOf(r, 'Applied')!.message) ? r : undefined;
    });
    expect(conditionOf(rm, 'Applied')?.message).toMatch(/is not Ready \(Ready=False, Unreachable: .*ECONNREFUSED/);
    expect(conditionOf(rm, 'Degraded')).toMatchObject({ status: 'True', reason: 'ClusterNotReady' });

    await manage.putSecret(ns, late, { kubeconfig: remote2.kubeconfigText() });
    await rms.condition('waiting', 'Applied', 'True', 'Applied');
    expect(await objects2.configMap(target, 'waiting-a')).toBeDefined();
  });

  it('gives an invalid manifest its own reason with the apiserver message, without blocking the others', async () => {
    // A user of remote-2 that may do anything with ConfigMaps and nothing with Secrets.
    const limited = rcName('limited');
    const { user } = await configMapUser(remote2, 'limited', ['get', 'list', 'watch', 'create', 'patch', 'delete']);

    await rms.create('mixed', {
      cluster: limited,
      manifests: [
        configMap('mixed-ok', { k: 'v' }, target),
        { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w', namespace: target } },
        configMap('mixed-invalid', { 'bad key!': 'v' }, target),
        {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: 'mixed-secret', namespace: target },
          stringData: { a: 'b' },
        },
      ],
    });
    const rm = await rms.condition('mixed', 'Applied', 'False', 'ApplyFailed');
    const objects = entry(rm, limited)!.objects;
    expect(objects.map((o) => [o.name, o.applied, o.reason])).toEqual([
      ['mixed-ok', true, 'Applied'],
      ['w', false, 'KindNotServed'],
      ['mixed-invalid', false, 'Invalid'],
      ['mixed-secret', false, 'Forbidden'],
    ]);
    expect(objects[1]!.message).toMatch(/does not serve example.com\/v1/);
    expect(objects[2]!.message).toMatch(/ConfigMap "mixed-invalid" is invalid: data\[bad key!\]: Invalid value/);
    expect(objects[3]!.message).toMatch(new RegExp(`User "${user}" cannot get resource "secrets"`));
    expect(conditionOf(rm, 'Degraded')).toMatchObject({ status: 'True', reason: 'ApplyFailed' });
    expect(await objects2.configMap(target, 'mixed-ok')).toBeDefined();
    // Deleted, it removes what it applied; the entries of objects it never had hold nothing up.
    await rms.delete('mixed');
    await rms.gone('mixed');
    await objects2.gone(target, 'mixed-ok');
  });

  it('deletes within the bounded time when a cluster is unreachable, and says what it left behind', async () => {
    const proxy = await TcpProxy.start({ host: '127.0.0.1', port: Number(new URL(remote1.info.server).port) });
    const cut = rcName('cut');
    try {
      await register(cut, kubeconfigDoc(remote1, { server: proxy.url }));
      await manage.ready(cut, 'True', 'Synced');
      await rms.create('stranded', {
        cluster: cut,
        manifests: [configMap('stranded-a', { k: 'v' }, target), configMap('stranded-b', { k: 'v' }, target)],
      });
      await rms.condition('stranded', 'Applied', 'True');

      proxy.freeze();
      const started = Date.now();
      await rms.delete('stranded');
      await rms.gone('stranded', 30_000);
      const took = Date.now() - started;
      process.stderr.write(`[figures] RemoteManifest deleted with its cluster unreachable: ${took} ms\n`);
      // It waited for the cluster until the configured deadline (deletionTimestamp has whole
      // seconds: the deadline may start up to 1 s before the delete), then gave up: gone() polls
      // for 30 s, half the default timeout (60 s), so the setting is what bounded it.
      expect(took).toBeGreaterThanOrEqual(DELETE_TIMEOUT_MS - 1_000);
      // Logged once the finalizer is gone: the object may be seen gone a moment before.
      await eventually('deletion logged', () => logs.lines.find((l) => l.includes(`${ns}/stranded: deleted`)));
      expect(logs.lines.join('\n')).toContain(`${ns}/stranded: deleted (left objects in ${cut})`);
      const said = `left behind in cluster ${cut}`;
      expect(logs.lines.join('\n')).toContain(said);
      const events = await manage.core.listNamespacedEvent({ namespace: ns });
      const event = events.items.find((e) => e.involvedObject.name === 'stranded' && e.reason === 'LeftBehind');
      expect(event?.type).toBe('Warning');
      expect(event?.message).toContain(said);
      expect(event?.message).toContain(`ConfigMap ${target}/stranded-a`);
      expect(event?.message).toContain(`ConfigMap ${target}/stranded-b`);
      // Left behind indeed: still there, still marked.
      expect(await objects1.configMap(target, 'stranded-a')).toBeDefined();
    } finally {
      await proxy.close();
      await manage.deleteRemoteCluster(cut);
    }
  });

  it('deletes within the bounded time when a cluster hangs (accepts connections, never answers)', async () => {
    const proxy = await TcpProxy.start({ host: '127.0.0.1', port: Number(new URL(remote2.info.server).port) });
    const hung = rcName('hung');
    try {
      await register(hung, kubeconfigDoc(remote2, { server: proxy.url }));
      await manage.ready(hung, 'True', 'Synced');
      await rms.create('hanging', { cluster: hung, manifests: [configMap('hanging-a', { k: 'v' }, target)] });
      await rms.condition('hanging', 'Applied', 'True');

      // Drop every connection, then hold new ones open without an answer.
      proxy.freeze();
      proxy.thaw();
      proxy.hold();
      const started = Date.now();
      await rms.delete('hanging');
      await rms.gone('hanging', 30_000);
      const took = Date.now() - started;
      process.stderr.write(`[figures] RemoteManifest deleted with its cluster hanging: ${took} ms\n`);
      expect(logs.lines.join('\n')).toMatch(new RegExp(`left behind in cluster ${hung} \\(Timeout`));
      // Logged once the finalizer is gone: the object may be seen gone a moment before.
      await eventually('deletion logged', () => logs.lines.find((l) => l.includes(`${ns}/hanging: deleted`)));
      expect(logs.lines.join('\n')).toContain(`${ns}/hanging: deleted (left objects in ${hung})`);
    } finally {
      await proxy.close();
      await manage.deleteRemoteCluster(hung);
    }
  });

  it('lets go of a cluster whose RemoteCluster is deleted, saying what stays there', async () => {
    const gone = rcName('gone');
    await register(gone, remote2.kubeconfigText());
    await manage.ready(gone, 'True', 'Synced');
    await rms.create('orphaned', { cluster: gone, manifests: [configMap('orphaned-a', { k: 'v' }, target)] });
    await rms.condition('orphaned', 'Applied', 'True');
    await manage.deleteRemoteCluster(gone);
    await manage.gone(gone);
    const rm = await rms.condition('orphaned', 'Applied', 'False', 'ClusterNotFound');
    expect(rm.status?.clusters ?? []).toEqual([]);
    await eventually('left-behind event', async () => {
      const events = await manage.core.listNamespacedEvent({ namespace: ns });
      return events.items.find((e) => e.involvedObject.name === 'orphaned' && e.reason === 'LeftBehind');
    });
    // Deleting the RemoteManifest now has nothing to wait for: it goes without a round of waiting.
    await rms.delete('orphaned');
    await rms.gone('orphaned');
    await eventually('deletion logged', () => logs.lines.find((l) => l.includes(`${ns}/orphaned: deleted`)));
    const said = logs.lines.filter((l) => l.includes(`${ns}/orphaned: delet`));
    expect(said.map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual([`${ns}/orphaned: deleted`]);
  });
});
