import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Inject, type INestApplicationContext } from '@nestjs/common';
import { CoreV1Api } from '@kubernetes/client-node';
import { packageRoot } from '../../src/envtest/binaries.js';
import { installCrd, loadCrds } from '../../src/envtest/crd.js';
import type { ClusterEventRecorder } from '../../src/events/event-recorder.js';
import type { EventRecorder } from '../../src/events/types.js';
import { PrometheusMetrics } from '../../src/metrics/prometheus-metrics.js';
import { Reconciler } from '../../src/reconcile/reconciler.decorator.js';
import type { Reconcile, ReconcileContext, ReconcileRequest } from '../../src/reconcile/types.js';
import { RemoteClusterRegistry } from '../../src/registry/remote-cluster.registry.js';
import type { ClusterTransition } from '../../src/registry/types.js';
import { REMOTECLUSTER_EVENT_SOURCE } from '../../src/remotecluster/remote-cluster.reconciler.js';
import { EVENT_RECORDER } from '../../src/runtime/tokens.js';
import { CapturedLogs, ManageApi, startApp, testSettings } from '../support/app.js';
import { testClusters, uniqueName, type TestCluster } from '../support/clusters.js';
import { kubeconfigDoc } from '../support/kubeconfig.js';
import { eventually } from '../support/poll.js';

const clusters = testClusters();
const [remote1, remote2] = [clusters.remotes[0]!, clusters.remotes[1]!];
const manage = new ManageApi(clusters.manage.kubeConfig());
const ns = uniqueName('ev');
const shard = uniqueName('evshard');
const labels = { 'clusterregistry.dev/test-shard': shard };
const selector = `clusterregistry.dev/test-shard=${shard}`;
const rcName = (s: string): string => `${shard}-${s}`;
const ref = (name: string) => ({ namespace: ns, name, key: 'kubeconfig' });
/** The namespace the test reconciler watches in remote clusters. */
const watched = uniqueName('evwatch');

interface ApiEvent {
  metadata: { name: string; namespace: string };
  reason: string;
  type: string;
  note: string;
  action: string;
  reportingController: string;
  reportingInstance: string;
  regarding: { kind?: string; name?: string; uid?: string; namespace?: string };
  series?: { count: number; lastObservedTime: string };
  eventTime: string;
}

/** Every events.k8s.io Event in `namespace` of `cluster` about the object with `uid`. */
async function eventsOf(cluster: TestCluster, namespace: string, uid: string): Promise<ApiEvent[]> {
  const client = cluster.kubeConfig().makeApiClient(CoreV1Api);
  // What kubectl describe asks for (core v1 Events, by the object's uid, every namespace)…
  const core = await client.listEventForAllNamespaces({ fieldSelector: `involvedObject.uid=${uid}` });
  // …and the same Events through events.k8s.io/v1, where the series are.
  const res = await fetchEvents(cluster, namespace);
  const all = res.filter((e) => e.regarding.uid === uid);
  expect(new Set(core.items.map((e) => e.metadata?.name))).toEqual(new Set(all.map((e) => e.metadata.name)));
  return all.sort((a, b) => a.eventTime.localeCompare(b.eventTime));
}

async function fetchEvents(cluster: TestCluster, namespace: string): Promise<ApiEvent[]> {
  const kc = cluster.kubeConfig();
  const { ClusterClient } = await import('../../src/client/cluster-client.js');
  const client = new ClusterClient({ name: cluster.name, kubeConfig: kc });
  try {
    const list = await client.request<{ items: ApiEvent[] }>(
      'GET',
      `/apis/events.k8s.io/v1/namespaces/${namespace}/events`,
    );
    return list.items;
  } finally {
    await client.close();
  }
}

/** Reason → occurrences (series.count, or 1). */
function occurrences(events: ApiEvent[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of events) out[e.reason] = (out[e.reason] ?? 0) + (e.series?.count ?? 1);
  return out;
}

/** kubectl describe's Events table, from the API (for the figures; kubectl itself is used when there). */
function table(events: ApiEvent[]): string {
  return events
    .map((e) => {
      const count = e.series ? ` (x${e.series.count})` : '';
      return `  ${e.type.padEnd(8)} ${e.reason.padEnd(18)} ${e.reportingController}  ${e.note}${count}`;
    })
    .join('\n');
}

/** Calls of the test reconciler, across every cluster context. */
const calls: { cluster: string; name: string }[] = [];

/** A remote reconciler that tells of every reconcile through ctx.recorder, and once through the
 * injected EVENT_RECORDER. */
@Reconciler({ apiVersion: 'v1', kind: 'ConfigMap', namespace: watched, name: 'events-test' })
class EventfulReconciler implements Reconcile {
  private told = false;

  constructor(@Inject(EVENT_RECORDER) private readonly recorder: EventRecorder) {}

  reconcile(req: ReconcileRequest, ctx: ReconcileContext): void {
    const cm = ctx.cache.get(req.namespace, req.name);
    if (!cm) return;
    calls.push({ cluster: req.cluster, name: req.name });
    ctx.recorder.normal(cm, 'Seen', 'the ConfigMap was reconciled');
    if (!this.told) {
      this.told = true;
      this.recorder.forController('example.com/injected').warning(cm, 'Injected', 'from the injected recorder');
    }
  }
}

let app: INestApplicationContext;

/** Reconciles of the RemoteCluster controller so far (the app's own metrics, in process). */
async function reconciles(): Promise<number> {
  const metric = app.get(PrometheusMetrics).registry.getSingleMetric('controller_runtime_reconcile_total');
  const { values } = await metric!.get();
  return values
    .filter((v) => v.labels.controller === 'remotecluster' && v.labels.cluster === 'manage')
    .reduce((sum, v) => sum + v.value, 0);
}
const logs = new CapturedLogs();
let kubectl: string | undefined;
let manageKubeconfigPath = '';

beforeAll(async () => {
  for (const crd of loadCrds(join(packageRoot(), 'deploy', 'crd.yaml'))) await installCrd(manage.kc, crd);
  await manage.namespace(ns);
  ({ app } = await startApp(manage.kc, testSettings(ns, selector), logs, [EventfulReconciler]));
  kubectl = ['/usr/bin/kubectl', '/usr/local/bin/kubectl'].find((p) => existsSync(p));
  manageKubeconfigPath = join(tmpdir(), `${uniqueName('manage')}.kubeconfig`);
  writeFileSync(manageKubeconfigPath, clusters.manage.kubeconfigText(), { mode: 0o600 });
});

afterAll(async () => {
  await app?.close();
});

describe('Events of the RemoteCluster controller', () => {
  it('shows each transition of a break and a fix once on the object, where kubectl describe finds them', async () => {
    const name = rcName('bf');
    await manage.putSecret(ns, 'bf', { kubeconfig: remote1.kubeconfigText() });
    await manage.createRemoteCluster(name, labels, ref('bf'));
    const rc = await manage.ready(name, 'True', 'Synced');
    const uid = rc.metadata!.uid!;
    const started = Date.now();
    // Break: the Secret now points at a port nobody listens on.
    await manage.putSecret(ns, 'bf', { kubeconfig: kubeconfigDoc(remote1, { server: 'https://127.0.0.1:1' }) });
    await manage.ready(name, 'False', 'Unreachable');
    // Fix.
    await manage.putSecret(ns, 'bf', { kubeconfig: remote1.kubeconfigText() });
    await manage.ready(name, 'True', 'Synced');
    const final = await eventually(
      'Recovered recorded',
      async () => {
        const list = await eventsOf(clusters.manage, 'default', uid);
        return list.some((e) => e.reason === 'Recovered') ? list : undefined;
      },
      30_000,
      200,
    );
    // Three spawns (create, break, fix), two kubeconfig changes, one failure, one recovery.
    expect(occurrences(final)).toEqual({ RuntimeStarted: 3, KubeconfigChanged: 2, Degraded: 1, Recovered: 1 });
    const degraded = final.find((e) => e.reason === 'Degraded')!;
    expect(degraded.type).toBe('Warning');
    expect(degraded.note).toMatch(/^Unreachable: .*ECONNREFUSED/);
    for (const e of final) {
      expect(e.reportingController).toBe(REMOTECLUSTER_EVENT_SOURCE);
      expect(e.regarding).toMatchObject({ kind: 'RemoteCluster', name, uid });
      expect(e.metadata.namespace).toBe('default');
    }
    process.stderr.write(
      `[figures] events of ${name} over a break and a fix (${Date.now() - started} ms):\n${table(final)}\n`,
    );
    if (kubectl) {
      const describe = execFileSync(kubectl, ['--kubeconfig', manageKubeconfigPath, 'describe', 'rcl', name], {
        encoding: 'utf8',
      });
      const section = describe.slice(describe.indexOf('Events:'));
      for (const reason of ['RuntimeStarted', 'KubeconfigChanged', 'Degraded', 'Recovered']) {
        expect(section).toContain(reason);
      }
      process.stderr.write(`[figures] kubectl describe rcl ${name}:\n${section}\n`);
    }

    // Deleted: the runtime is stopped, and said so. One writer sends a recorder's events in the
    // order they were recorded, so once RuntimeStopped is in the API, a late duplicate of an
    // earlier transition would be there too: the counts are final.
    await manage.deleteRemoteCluster(name);
    await manage.gone(name);
    const stopped = await eventually('RuntimeStopped recorded', async () => {
      const list = await eventsOf(clusters.manage, 'default', uid);
      return list.some((e) => e.reason === 'RuntimeStopped') ? list : undefined;
    });
    expect(occurrences(stopped)).toEqual({
      RuntimeStarted: 3,
      KubeconfigChanged: 2,
      Degraded: 1,
      Recovered: 1,
      RuntimeStopped: 1,
    });
  });

  it('tells a kubeconfig that cannot be used once, however often it is reconciled', async () => {
    const name = rcName('nokey');
    await manage.putSecret(ns, 'nokey', { other: 'x' });
    await manage.createRemoteCluster(name, labels, ref('nokey'));
    const rc = await manage.ready(name, 'False', 'KeyNotFound');
    const uid = rc.metadata!.uid!;
    // More reconciles of the same state: Secret changes that do not fix it, each reconciled.
    const first = await reconciles();
    for (let i = 0; i < 3; i++) {
      const before = await reconciles();
      await manage.putSecret(ns, 'nokey', { other: `x${i}` });
      await eventually(`reconcile after change ${i}`, async () => ((await reconciles()) > before ? true : undefined));
    }
    expect((await reconciles()) - first).toBeGreaterThanOrEqual(3);
    // Then fixed: RuntimeStarted is recorded after every reconcile of the broken state, so once it
    // is in the API the count of KeyNotFound is final (one writer, in order).
    await manage.putSecret(ns, 'nokey', { kubeconfig: remote1.kubeconfigText() });
    const events = await eventually('RuntimeStarted recorded', async () => {
      const list = await eventsOf(clusters.manage, 'default', uid);
      return list.some((e) => e.reason === 'RuntimeStarted') ? list : undefined;
    });
    expect(occurrences(events)).toEqual({ KeyNotFound: 1, RuntimeStarted: 1 });
    const keyNotFound = events.find((e) => e.reason === 'KeyNotFound')!;
    expect(keyNotFound.type).toBe('Warning');
    expect(keyNotFound.note).toMatch(/has no key "kubeconfig"/);
    await manage.deleteRemoteCluster(name);
  });
});

describe('the short name', () => {
  it('rcl is RemoteCluster and nothing else in the cluster; rc stays ReplicationControllers', async () => {
    const { ClusterClient } = await import('../../src/client/cluster-client.js');
    const client = new ClusterClient({ name: 'manage', kubeConfig: clusters.manage.kubeConfig() });
    const claims: Record<string, string[]> = {};
    try {
      const lists = [await client.request<{ resources: Resource[] }>('GET', '/api/v1')];
      const groups = await client.request<{ groups: { preferredVersion: { groupVersion: string } }[] }>('GET', '/apis');
      for (const g of groups.groups) {
        lists.push(await client.request<{ resources: Resource[] }>('GET', `/apis/${g.preferredVersion.groupVersion}`));
      }
      for (const r of lists.flatMap((l) => l.resources)) {
        for (const short of r.shortNames ?? []) (claims[short] ??= []).push(r.name);
      }
    } finally {
      await client.close();
    }
    expect(claims.rcl).toEqual(['remoteclusters']);
    expect(claims.rc).toEqual(expect.arrayContaining(['replicationcontrollers', 'remoteclusters']));
    if (kubectl) {
      const name = rcName('short');
      await manage.putSecret(ns, 'short', { other: 'x' });
      await manage.createRemoteCluster(name, labels, ref('short'));
      const out = (args: string[]) =>
        execFileSync(kubectl!, ['--kubeconfig', manageKubeconfigPath, ...args], { encoding: 'utf8' });
      expect(out(['get', 'rcl', name])).toMatch(new RegExp(`^NAME +READY +REASON +OWNER +AGE\\n${name} `));
      expect(out(['get', 'clusterregistry', '-o', 'name'])).toContain(`remotecluster.clusterregistry.dev/${name}`);
      await manage.deleteRemoteCluster(name);
    }
  });
});

interface Resource {
  name: string;
  shortNames?: string[];
}

describe('Events of remote reconcilers', () => {
  it('go to the cluster the object lives in, reporting as the reconciler, aggregated into one series', async () => {
    const name = rcName('rr');
    await remote2
      .kubeConfig()
      .makeApiClient(CoreV1Api)
      .createNamespace({ body: { metadata: { name: watched } } });
    await manage.putSecret(ns, 'rr', { kubeconfig: remote2.kubeconfigText() });
    await manage.createRemoteCluster(name, labels, ref('rr'));
    await manage.ready(name, 'True', 'Synced');
    const core = remote2.kubeConfig().makeApiClient(CoreV1Api);
    const cm = await core.createNamespacedConfigMap({
      namespace: watched,
      body: { metadata: { name: 'watched' }, data: { n: '0' } },
    });
    // Five reconciles: the create and four updates, each waited for.
    for (let i = 1; i <= 4; i++) {
      await eventually(`reconcile ${i}`, () => (calls.length >= i ? true : undefined));
      await core.replaceNamespacedConfigMap({
        namespace: watched,
        name: 'watched',
        body: { metadata: { name: 'watched' }, data: { n: String(i) } },
      });
    }
    await eventually('fifth reconcile', () => (calls.length >= 5 ? true : undefined));
    const seen = await eventually(
      'series of 5 written',
      async () => {
        const list = await eventsOf(remote2, watched, cm.metadata!.uid!);
        const s = list.find((e) => e.reason === 'Seen');
        return s && (s.series?.count ?? 1) >= calls.length ? list : undefined;
      },
      30_000,
      200,
    );
    expect(calls.every((c) => c.cluster === name)).toBe(true);
    const series = seen.filter((e) => e.reason === 'Seen');
    expect(series).toHaveLength(1);
    expect(series[0]).toMatchObject({
      type: 'Normal',
      reportingController: 'events-test',
      regarding: { kind: 'ConfigMap', name: 'watched', namespace: watched },
      series: { count: calls.length },
    });
    expect(seen.find((e) => e.reason === 'Injected')).toMatchObject({
      type: 'Warning',
      reportingController: 'example.com/injected',
    });
    // Nothing about it went to the manage cluster.
    expect((await fetchEvents(clusters.manage, watched).catch(() => [])).length).toBe(0);
    await manage.deleteRemoteCluster(name);
  });
});

describe('a flapping cluster', () => {
  it('does not make an event storm: a minute of flapping is a few Events with counts, writes bounded', async () => {
    const name = rcName('flap');
    const registry = app.get(RemoteClusterRegistry);
    const recorder = app.get<ClusterEventRecorder>(EVENT_RECORDER);
    const transitions: ClusterTransition[] = [];
    const off = registry.onStateChange((t) => {
      if (t.cluster === name && (t.to === 'degraded' || t.to === 'synced')) transitions.push(t);
    });
    const good = remote1.kubeconfigText();
    const bad = kubeconfigDoc(remote1, { server: 'https://127.0.0.1:1' });
    try {
      await manage.putSecret(ns, 'flap', { kubeconfig: good });
      await manage.createRemoteCluster(name, labels, ref('flap'));
      const rc = await manage.ready(name, 'True', 'Synced');
      const uid = rc.metadata!.uid!;
      const before = recorder.stats();
      const started = Date.now();
      // A minute of a cluster that is reachable, then not, then again, every 2 s: its Secret
      // alternates between the real server and a port nobody listens on.
      let flips = 0;
      while (Date.now() - started < 60_000) {
        await manage.putSecret(ns, 'flap', { kubeconfig: flips % 2 === 0 ? bad : good });
        flips++;
        await new Promise((r) => setTimeout(r, 2_000));
      }
      if (flips % 2 === 1) await manage.putSecret(ns, 'flap', { kubeconfig: good });
      await manage.ready(name, 'True', 'Synced', 60_000);
      // Ready=True is written after the transition that recorded Recovered: wait for its write.
      await recorder.idle();
      const after = recorder.stats();
      const events = await eventsOf(clusters.manage, 'default', uid);
      const inApi = occurrences(events);
      const degraded = transitions.filter((t) => t.to === 'degraded' && t.from !== 'degraded').length;
      const recorded = after.recorded - before.recorded;
      const writes = after.created - before.created + (after.patched - before.patched);
      process.stderr.write(
        `[figures] a minute of flapping (${flips} Secret flips): degraded ${degraded} times; ${recorded} events ` +
          `recorded; ${events.length} Event objects in the API, counts there ${JSON.stringify(inApi)}; ` +
          `${writes} API writes (${after.created - before.created} creates, ${after.patched - before.patched} ` +
          `patches); dropped ${JSON.stringify(after.dropped)}\n${table(events)}\n`,
      );
      // It did flap, and every transition was recorded…
      expect(degraded).toBeGreaterThanOrEqual(10);
      expect(recorded).toBeGreaterThanOrEqual(3 * degraded);
      // …as a handful of Events with counts, not one Event per flap…
      expect(events.length).toBeLessThanOrEqual(6);
      expect(new Set(events.map((e) => e.reason))).toEqual(
        new Set(['RuntimeStarted', 'KubeconfigChanged', 'Degraded', 'Recovered']),
      );
      // …written with at most the object's burst (25) plus one per 5 minutes.
      expect(writes).toBeLessThanOrEqual(26);
      expect(Object.values(inApi).reduce((a, b) => a + b, 0)).toBeGreaterThan(events.length);
    } finally {
      off();
      await manage.deleteRemoteCluster(name);
    }
  }, 180_000);
});
