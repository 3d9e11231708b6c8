import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { parse, parseAllDocuments } from 'yaml';
import { packageRoot } from '../../src/envtest/binaries.js';
import { installCrd, loadCrds } from '../../src/envtest/crd.js';
import {
  LocalPrometheus,
  promtoolCheckRules,
  resolvePrometheusBinaries,
  type PromAlert,
  type PrometheusBinaries,
} from '../../src/envtest/prometheus.js';
import { ManageApi, runMain, stopProcess, waitOutput, type MainProcess } from '../support/app.js';
import { testClusters, uniqueName } from '../support/clusters.js';
import { kubeconfigDoc } from '../support/kubeconfig.js';
import { eventually } from '../support/poll.js';
import { testPod } from '../support/recorder.js';

const clusters = testClusters();
const [remote1, remote2] = [clusters.remotes[0]!, clusters.remotes[1]!];
const manage = new ManageApi(clusters.manage.kubeConfig());
const ALERTS = join(packageRoot(), 'deploy', 'monitoring', 'alerts.yaml');
const DASHBOARD = join(packageRoot(), 'deploy', 'monitoring', 'dashboard.json');
const ALERT_TESTS = join(packageRoot(), 'test', 'monitoring', 'alerts.test.yaml');

interface Panel {
  id: number;
  type: string;
  title: string;
  description?: string;
  gridPos: { h: number; w: number; x: number; y: number };
  targets?: { expr: string; refId: string; legendFormat?: string }[];
}
interface Dashboard {
  title: string;
  uid: string;
  panels: Panel[];
  templating: { list: { name: string; type: string; query?: unknown; includeAll?: boolean; multi?: boolean }[] };
}
interface RuleFile {
  groups: { name: string; rules: { alert?: string; expr: string; for?: string }[] }[];
}

const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;

/** A panel's query as Grafana would send it with every cluster selected. */
function asSent(expr: string): string {
  return expr.replaceAll('$cluster', '.*').replaceAll('$__rate_interval', '1m');
}

function promtoolTestRules(binaries: PrometheusBinaries, file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(binaries.promtool, ['test', 'rules', file], { timeout: 60_000 }, (err, stdout, stderr) => {
      const output = `${stdout}${stderr}`.trim();
      if (err) reject(new Error(`promtool test rules failed:\n${output}`, { cause: err }));
      else resolve(output);
    });
  });
}

describe('deploy/monitoring', () => {
  let binaries: PrometheusBinaries;
  const dir = mkdtempSync(join(tmpdir(), 'clusterregistry-monitoring-'));

  beforeAll(async () => {
    binaries = await resolvePrometheusBinaries();
  }, 30 * 60_000);

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('promtool accepts the alert rules, and each alert fires on its own series only (promtool test rules)', async () => {
    expect(await promtoolCheckRules([ALERTS], binaries)).toContain('SUCCESS: 6 rules found');
    expect(await promtoolTestRules(binaries, ALERT_TESTS)).toContain('SUCCESS');
    const rules = parse(readFileSync(ALERTS, 'utf8')) as RuleFile;
    const alerts = rules.groups.flatMap((g) => g.rules.map((r) => r.alert));
    expect(alerts).toEqual([
      'RemoteClusterNotReady',
      'ClusterRegistryReconcileErrors',
      'ClusterRegistryWatchRestartsLooping',
      'ClusterRegistryWorkQueueGrowing',
      'ClusterRegistryNoLeader',
      'ClusterRegistryEventLoopBlocked',
    ]);
  });

  it('kubectl kustomize deploy/monitoring renders the dashboard and the rules as ConfigMaps', () => {
    const kubectl = ['/usr/bin/kubectl', '/usr/local/bin/kubectl'].find((p) => existsSync(p));
    if (!kubectl) {
      process.stderr.write('[monitoring] kubectl not found: the kustomization is not rendered\n');
      return;
    }
    const docs = parseAllDocuments(
      execFileSync(kubectl, ['kustomize', join(packageRoot(), 'deploy', 'monitoring')], { encoding: 'utf8' }),
    ).map(
      (d) =>
        d.toJS() as {
          kind: string;
          metadata: { name: string; labels?: Record<string, string> };
          data: Record<string, string>;
        },
    );
    expect(docs.map((d) => [d.kind, d.metadata.name])).toEqual([
      ['ConfigMap', 'clusterregistry-alerts'],
      ['ConfigMap', 'clusterregistry-dashboard'],
    ]);
    const dashboardMap = docs.find((d) => d.metadata.name === 'clusterregistry-dashboard')!;
    expect(dashboardMap.metadata.labels?.grafana_dashboard).toBe('1');
    expect(JSON.parse(dashboardMap.data['clusterregistry.json']!)).toEqual(dashboard);
    expect(docs[0]!.data['alerts.yaml']).toBe(readFileSync(ALERTS, 'utf8'));
  });

  it('the dashboard has a cluster variable, and rows of panels that each have a query', () => {
    const cluster = dashboard.templating.list.find((v) => v.name === 'cluster');
    expect(cluster).toMatchObject({ type: 'query', includeAll: true, multi: true });
    const rows = dashboard.panels.filter((p) => p.type === 'row').map((p) => p.title.split(':')[0]);
    expect(rows).toEqual(['Clusters', 'Reconciles', 'Work queues', 'Watches', 'Kubernetes Events', 'Process']);
    const panels = dashboard.panels.filter((p) => p.type !== 'row');
    expect(new Set(dashboard.panels.map((p) => p.id)).size).toBe(dashboard.panels.length);
    for (const panel of panels) {
      expect(panel.targets?.length).toBeGreaterThan(0);
      expect(panel.description).toBeTruthy();
      expect(panel.gridPos.x + panel.gridPos.w).toBeLessThanOrEqual(24);
    }
    // Every per-cluster metric is filtered by the variable.
    for (const target of panels.flatMap((p) => p.targets ?? [])) {
      if (/cluster_phase|remotecluster_ready|reconcile_|workqueue_|watch_|relists|events_/.test(target.expr)) {
        expect(target.expr).toContain('cluster=~"$cluster"');
      }
    }
  });

  describe('a real Prometheus scraping the app on real clusters', () => {
    const ns = uniqueName('mon');
    const shard = uniqueName('monshard');
    const names = { r1: `${shard}-r1`, r2: `${shard}-r2` };
    let app: MainProcess | undefined;
    let prom: LocalPrometheus | undefined;

    afterAll(async () => {
      await prom?.stop();
      if (app) {
        app.child.kill('SIGTERM');
        await Promise.race([app.exited, new Promise((r) => setTimeout(r, 20_000))]);
        await stopProcess(app);
      }
      for (const name of Object.values(names)) await manage.deleteRemoteCluster(name);
    });

    it('scrapes it; every panel query returns data; an unreachable cluster fires RemoteClusterNotReady', async () => {
      for (const crd of loadCrds(join(packageRoot(), 'deploy', 'crd.yaml'))) await installCrd(manage.kc, crd);
      await manage.namespace(ns);
      app = runMain(clusters.manage.kubeconfigText(), {
        POD_NAMESPACE: ns,
        POD_NAME: `${shard}-pod`,
        LEASE_NAME: `${shard}-leader`,
        PROBE_PORT: '0',
        METRICS_PORT: '0',
        BIND_ADDRESS: '127.0.0.1',
        REMOTECLUSTER_SELECTOR: `shard=${shard}`,
      });
      await waitOutput(app, /became leader/);
      await waitOutput(app, /metrics on http:\/\/127\.0\.0\.1:\d+\/metrics/);
      const metricsPort = /metrics on http:\/\/127\.0\.0\.1:(\d+)\/metrics/.exec(app.output())![1]!;
      for (const [key, remote] of [
        ['r1', remote1],
        ['r2', remote2],
      ] as const) {
        await manage.putSecret(ns, names[key], { kubeconfig: remote.kubeconfigText() });
        await manage.createRemoteCluster(names[key], { shard }, { namespace: ns, name: names[key], key: 'kubeconfig' });
      }
      for (const name of Object.values(names)) await manage.ready(name, 'True', 'Synced');
      // Work for the example reconciler in both remote clusters.
      for (const remote of [remote1, remote2]) {
        await remote
          .kubeConfig()
          .makeApiClient(CoreV1Api)
          .createNamespacedPod({ namespace: 'default', body: testPod(uniqueName('mon')) });
      }

      // The rules as shipped, but with RemoteClusterNotReady's `for:` shortened to 10 s.
      const rules = parse(readFileSync(ALERTS, 'utf8')) as RuleFile;
      const notReady = rules.groups.flatMap((g) => g.rules).find((r) => r.alert === 'RemoteClusterNotReady')!;
      expect(notReady.for).toBe('5m');
      notReady.for = '10s';
      const rulesFile = join(mkdtempSync(join(tmpdir(), 'clusterregistry-rules-')), 'alerts.yaml');
      writeFileSync(rulesFile, JSON.stringify(rules, null, 2));
      prom = await LocalPrometheus.start({
        scrapeTargets: [`127.0.0.1:${metricsPort}`],
        ruleFiles: [rulesFile],
        scrapeIntervalMs: 1_000,
        evaluationIntervalMs: 1_000,
        binaries: await resolvePrometheusBinaries(),
      });
      const p = prom;
      await eventually(
        'both RemoteClusters Ready in Prometheus',
        async () => {
          const ready = await p.query(`clusterregistry_remotecluster_ready{cluster=~"${shard}-.*"} == 1`);
          return ready.length === 2 ? true : undefined;
        },
        30_000,
        250,
      );
      expect(await p.targets()).toEqual([expect.objectContaining({ health: 'up' })]);
      // A rule is 'unknown' until its group's first evaluation; then every one must be 'ok'.
      const groups = await eventually(
        'every rule evaluated once',
        async () => {
          const all = await p.rules();
          return all.every((g) => g.rules.every((r) => r.health !== 'unknown')) ? all : undefined;
        },
        30_000,
        250,
      );
      for (const group of groups) {
        for (const rule of group.rules)
          expect({ rule: rule.name, health: rule.health }).toEqual({ rule: rule.name, health: 'ok' });
      }

      // Break remote-2: its Secret now points at a port nobody listens on.
      const broken = Date.now();
      await manage.putSecret(ns, names.r2, { kubeconfig: kubeconfigDoc(remote2, { server: 'https://127.0.0.1:1' }) });
      const states: string[] = [];
      const firing = await eventually<PromAlert>(
        'RemoteClusterNotReady firing',
        async () => {
          const alert = (await p.alerts()).find(
            (a) => a.labels.alertname === 'RemoteClusterNotReady' && a.labels.cluster === names.r2,
          );
          if (alert && states.at(-1) !== alert.state) states.push(alert.state);
          return alert?.state === 'firing' ? alert : undefined;
        },
        90_000,
        250,
      );
      const toFiring = Date.now() - broken;
      // Pending first, then firing: the `for:` was honoured (Prometheus's clock, not the test's).
      expect(states).toEqual(['pending', 'firing']);
      expect(firing.labels).toMatchObject({ severity: 'warning', cluster: names.r2 });
      expect(firing.annotations.description).toContain(`RemoteCluster ${names.r2} is not Ready (Unreachable)`);
      process.stderr.write(
        `[figures] remote cluster made unreachable -> RemoteClusterNotReady firing: ${toFiring} ms ` +
          `(for: 10s; 1 s scrape and evaluation)\n`,
      );

      // Every query of every panel, as Grafana sends it with all clusters selected, returns data.
      const panels = dashboard.panels.filter((panel) => panel.type !== 'row');
      const empty: string[] = [];
      let queries = 0;
      for (const panel of panels) {
        for (const target of panel.targets ?? []) {
          queries++;
          const samples = await p.query(asSent(target.expr));
          const finite = samples.filter((s) => Number.isFinite(Number(s.value[1])));
          if (finite.length === 0) empty.push(`${panel.title} [${target.refId}]: ${asSent(target.expr)}`);
        }
      }
      expect(empty).toEqual([]);
      const variable = await p.query('count by (cluster) (controller_runtime_reconcile_total)');
      expect(variable.map((s) => s.metric.cluster)).toEqual(
        expect.arrayContaining(['manage', ...Object.values(names)]),
      );
      process.stderr.write(
        `[figures] dashboard: ${panels.length} panels, ${queries} queries, every one returned data\n`,
      );
      // Nothing else fires: the leader is there, nothing loops or grows. The unreachable cluster's
      // failing watches may count towards a pending WatchRestartsLooping of its own (its `for:` is
      // 15 m; a loaded machine retries more often): part of the same outage.
      const others = (await p.alerts()).filter(
        (a) =>
          a.labels.alertname !== 'RemoteClusterNotReady' &&
          !(a.labels.alertname === 'ClusterRegistryWatchRestartsLooping' && a.labels.cluster === names.r2),
      );
      expect(others).toEqual([]);

      // Fixed: the alert goes away.
      const fixed = Date.now();
      await manage.putSecret(ns, names.r2, { kubeconfig: remote2.kubeconfigText() });
      await eventually(
        'RemoteClusterNotReady resolved',
        async () => ((await p.alerts()).some((a) => a.labels.alertname === 'RemoteClusterNotReady') ? undefined : true),
        60_000,
        250,
      );
      process.stderr.write(`[figures] cluster fixed -> alert resolved: ${Date.now() - fixed} ms\n`);
    }, 300_000);
  });
});
