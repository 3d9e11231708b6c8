// RemoteManifests with sharding, against real apiservers: three app processes (the ready-made
// app, SHARDS > 0, leader election on) share two RemoteClusters owned by two different replicas
// (the third owns neither). One RemoteManifest selects both. Every replica runs the manage
// reconciler; each applies to the clusters it owns only, each cluster's runtime writes its own
// entry of status.clusters, and the leader alone sums them up. A watch on the RemoteManifest
// records every version of it over the whole test: Applied ends True with both entries, and
// once True it never turns False, and no entry that appeared ever disappears, while every
// replica is made to reconcile it again and again (RemoteManifest and RemoteCluster changes).
// Deleting it removes what it applied in both clusters, without waiting for the deletion
// timeout and without anything left behind.
import { CoreV1Api, Watch } from '@kubernetes/client-node';
import type { RemoteManifest } from '../../src/app/remotemanifest/api.js';
import { fetchText } from '../../src/envtest/http.js';
import { assign, shardOf } from '../../src/sharding/hash.js';
import { installCrds } from '../../src/testing/register.js';
import { ManageApi, runMain, stopProcess, waitOutput, type MainProcess } from '../support/app.js';
import { testClusters, uniqueName } from '../support/clusters.js';
import { conditionOf, configMap, ManifestApi, RemoteObjects } from '../support/manifests.js';
import { eventually } from '../support/poll.js';

const clusters = testClusters();
const remotes = [clusters.remotes[0]!, clusters.remotes[1]!];
const manage = new ManageApi(clusters.manage.kubeConfig());

const SHARDS = 12;
/** Long on purpose: a deletion that completes proves every owner cleaned up, not the timeout. */
const DELETE_TIMEOUT_MS = 300_000;
const REPLICAS = ['rms-a', 'rms-b', 'rms-c'];

const prefix = uniqueName('rmsh');
const ns = prefix;
const target = prefix;
const rms = new ManifestApi(manage.kc, ns);
const remoteObjects = remotes.map((r, i) => new RemoteObjects(r.kubeConfig(), `admin-${i + 1}`));

/** Two cluster names, the first owned by REPLICAS[0], the second by REPLICAS[1] (their shards). */
const owners = assign(REPLICAS, SHARDS);
function nameOwnedBy(replica: string): string {
  for (let i = 0; ; i++) {
    const name = `${prefix}-${i}`;
    if (owners[shardOf(name, SHARDS)] === replica) return name;
  }
}
const names = [nameOwnedBy(REPLICAS[0]!), nameOwnedBy(REPLICAS[1]!)];

const procs = new Map<string, MainProcess>();

function start(name: string): MainProcess {
  const proc = runMain(clusters.manage.kubeconfigText(), {
    POD_NAMESPACE: ns,
    POD_NAME: name,
    PROBE_PORT: '0',
    METRICS_PORT: '0',
    BIND_ADDRESS: '127.0.0.1',
    SHARDS: String(SHARDS),
    LEASE_NAME: `${prefix}-leader`,
    LEASE_DURATION_MS: '10000',
    RENEW_DEADLINE_MS: '6000',
    RETRY_PERIOD_MS: '1000',
    REMOTECLUSTER_SELECTOR: `rmsh=${prefix}`,
    EXAMPLE_RECONCILERS: 'false',
    CLUSTER_STOP_TIMEOUT_MS: '5000',
    REMOTEMANIFEST_DELETE_TIMEOUT_MS: String(DELETE_TIMEOUT_MS),
  });
  procs.set(name, proc);
  return proc;
}

/** Reconciles of `controller` a replica did, from its /metrics (any result). */
async function reconciles(replica: string, controller: string): Promise<number> {
  const m = /metrics on (http:\/\/[^\s"]+\/metrics)/.exec(procs.get(replica)!.output());
  if (!m) throw new Error(`${replica}: no metrics URL in its output yet`);
  const res = await fetchText(m[1]!, { timeoutMs: 5_000 });
  return res.body
    .split('\n')
    .filter((l) => l.startsWith('controller_runtime_reconcile_total{') && l.includes(`controller="${controller}"`))
    .reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
}

/** Every version of the RemoteManifest the watch delivered, in order. */
const seen: { type: string; rm: RemoteManifest }[] = [];
let watching: AbortController | undefined;
let stopWatching = false;

async function watchManifest(name: string, resourceVersion?: string): Promise<void> {
  const watch = new Watch(manage.kc);
  let last = resourceVersion;
  watching = await watch.watch(
    `/apis/clusterregistry.dev/v1alpha1/namespaces/${ns}/remotemanifests`,
    { fieldSelector: `metadata.name=${name}`, ...(last ? { resourceVersion: last } : {}) },
    (type: string, rm: RemoteManifest) => {
      seen.push({ type, rm });
      last = rm.metadata?.resourceVersion ?? last;
    },
    () => {
      // A watch the server ends (its timeout) resumes where it was: nothing is missed.
      if (!stopWatching) void watchManifest(name, last);
    },
  );
}

/** Waits until the watch delivered a version of the object that satisfies `check`. */
async function watched(what: string, check: (rm: RemoteManifest) => boolean, timeoutMs = 60_000): Promise<void> {
  await eventually(what, () => (seen.some((e) => check(e.rm)) ? true : undefined), timeoutMs, 50);
}

/** Annotates, then waits until every replica's manage reconciler and the leader's summary
 * reconciler ran again after it, and the watch saw the annotation. */
async function everyReplicaReconciles(change: () => Promise<void>, mark: string): Promise<void> {
  const before = await Promise.all(REPLICAS.map((r) => reconciles(r, 'remotemanifest')));
  const summaries = await Promise.all(REPLICAS.map((r) => reconciles(r, 'remotemanifest-summary')));
  await change();
  await eventually(
    `every replica reconciled after ${mark}`,
    async () => {
      const now = await Promise.all(REPLICAS.map((r) => reconciles(r, 'remotemanifest')));
      const sums = await Promise.all(REPLICAS.map((r) => reconciles(r, 'remotemanifest-summary')));
      const all = now.every((n, i) => n > before[i]!);
      const leader = sums.reduce((a, b) => a + b, 0) > summaries.reduce((a, b) => a + b, 0);
      return all && leader ? true : undefined;
    },
    60_000,
    100,
  );
}

beforeAll(async () => {
  await installCrds(manage.kc);
  await manage.namespace(ns);
  for (const [i, remote] of remotes.entries()) {
    await manage.putSecret(ns, `remote-${i + 1}`, { kubeconfig: remote.kubeconfigText() });
    await remote
      .kubeConfig()
      .makeApiClient(CoreV1Api)
      .createNamespace({ body: { metadata: { name: target } } });
  }
  for (const [i, name] of names.entries()) {
    await manage.createRemoteCluster(
      name,
      { rmsh: prefix },
      { namespace: ns, name: `remote-${i + 1}`, key: 'kubeconfig' },
    );
  }
}, 120_000);

afterAll(async () => {
  stopWatching = true;
  watching?.abort();
  await rms.delete('fan');
  await rms.gone('fan', 60_000).catch(() => rms.patch('fan', { metadata: { finalizers: null } }));
  for (const name of names) await manage.deleteRemoteCluster(name).catch(() => undefined);
  for (const name of names) await manage.gone(name, 60_000).catch(() => manage.setFinalizers(name, null));
  for (const proc of procs.values()) if (proc.child.exitCode === null) proc.child.kill('SIGTERM');
  await Promise.all([...procs.values()].map((p) => Promise.race([p.exited, stopProcess(p)])));
  for (const proc of procs.values()) await stopProcess(proc);
  for (const objects of remoteObjects) await objects.close();
}, 180_000);

describe('RemoteManifest with sharding: three replicas, clusters owned by different replicas', () => {
  it('ends Applied with every cluster entry, without flapping, and deletes from every owner', async () => {
    for (const name of REPLICAS) start(name);
    for (const proc of procs.values()) await waitOutput(proc, /probes on/, 60_000);
    // Each cluster Ready on the replica that owns its shard.
    for (const [i, name] of names.entries()) {
      await eventually(
        `${name} Ready on ${REPLICAS[i]}`,
        async () => {
          const rc = await manage.read(name);
          const ready = rc?.status?.conditions?.find((c) => c.type === 'Ready');
          return ready?.status === 'True' && (rc?.status as { owner?: string })?.owner === REPLICAS[i]
            ? true
            : undefined;
        },
        90_000,
        100,
      );
    }

    await rms.create('fan', {
      clusterSelector: { matchLabels: { rmsh: prefix } },
      manifests: [configMap('fan-cm', { k: 'v' }, target)],
    });
    await watchManifest('fan');
    const complete = (rm: RemoteManifest): boolean =>
      conditionOf(rm, 'Applied')?.status === 'True' &&
      names.every((n) => rm.status?.clusters?.find((c) => c.cluster === n)?.objects.every((o) => o.applied));
    await watched('Applied=True with both entries', complete, 90_000);
    for (const objects of remoteObjects) expect((await objects.configMap(target, 'fan-cm'))?.data).toEqual({ k: 'v' });

    // Every replica reconciles it again, several times: changes of the RemoteManifest, and of
    // each RemoteCluster (which brings the RemoteManifests it concerns back on every replica).
    for (let i = 0; i < 3; i++) {
      await everyReplicaReconciles(
        () => rms.patch('fan', { metadata: { annotations: { nudge: String(i) } } }),
        `nudge ${i}`,
      );
      for (const name of names) {
        await everyReplicaReconciles(async () => {
          await manage.objects.patch(
            {
              apiVersion: 'clusterregistry.dev/v1alpha1',
              kind: 'RemoteCluster',
              metadata: { name, annotations: { nudge: String(i) } },
            } as never,
            undefined,
            undefined,
            undefined,
            undefined,
            'application/merge-patch+json',
          );
        }, `${name} nudge ${i}`);
      }
    }
    // A last mark: the watch delivers in order, so once it is seen every write before it was.
    await rms.patch('fan', { metadata: { annotations: { end: 'yes' } } });
    await watched('the end mark', (rm) => rm.metadata?.annotations?.end === 'yes');

    // The flap check, over every version the watch delivered.
    const versions = seen.map((e) => e.rm);
    const first = versions.findIndex(complete);
    expect(first).toBeGreaterThanOrEqual(0);
    const flaps: string[] = [];
    // Before it is Applied, it only waits for its clusters to report: never "not Ready" (what a
    // replica that does not own a cluster would have said).
    for (const rm of versions.slice(0, first)) {
      const applied = conditionOf(rm, 'Applied');
      if (applied && applied.reason !== 'Progressing')
        flaps.push(`before: Applied=${applied.status} ${applied.reason}`);
    }
    const present = new Set<string>();
    for (const rm of versions.slice(first)) {
      for (const [type, status] of [
        ['Applied', 'True'],
        ['Available', 'True'],
        ['Degraded', 'False'],
      ] as const) {
        const c = conditionOf(rm, type);
        if (c?.status !== status) flaps.push(`rv ${rm.metadata?.resourceVersion}: ${type}=${c?.status} ${c?.reason}`);
      }
      const entries = new Set((rm.status?.clusters ?? []).map((c) => c.cluster));
      for (const cluster of present)
        if (!entries.has(cluster)) flaps.push(`rv ${rm.metadata?.resourceVersion}: entry ${cluster} gone`);
      for (const cluster of entries) present.add(cluster);
    }
    process.stderr.write(
      `[figures] remotemanifest sharding: ${versions.length} versions watched, ${versions.length - first} after Applied=True, flaps: ${flaps.length}\n`,
    );
    expect(flaps).toEqual([]);
    expect([...present].sort()).toEqual([...names].sort());
    // One writer of the summary: the leader alone logged Applied transitions.
    const writers = [...procs].filter(([, p]) => /Applied=(True|False)/.test(p.output())).map(([r]) => r);
    expect(writers).toHaveLength(1);

    // Deletion: each owner removes its objects and retires its entry; then the finalizer goes,
    // long before the deletion timeout, with nothing left behind.
    await rms.delete('fan');
    await rms.gone('fan', 90_000);
    for (const objects of remoteObjects) expect(await objects.configMap(target, 'fan-cm')).toBeUndefined();
    // Its last state: each owner said it had cleaned its cluster up before the finalizer went.
    await eventually('the watch saw it deleted', () => seen.find((e) => e.type === 'DELETED'), 30_000);
    const last = seen.find((e) => e.type === 'DELETED')!.rm;
    expect(Object.fromEntries((last.status?.clusters ?? []).map((c) => [c.cluster, c.cleanedUp === true]))).toEqual(
      Object.fromEntries(names.map((n) => [n, true])),
    );
    for (const [replica, proc] of procs) {
      expect([replica, /left behind|not waiting any longer/.test(proc.output())]).toEqual([replica, false]);
    }
  }, 600_000);
});
