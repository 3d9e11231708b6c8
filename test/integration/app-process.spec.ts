import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  CoreV1Api,
  KubeConfig,
  KubernetesObjectApi,
  loadAllYaml,
  loadYaml,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { ClusterClient } from '../../src/client/cluster-client.js';
import { packageRoot } from '../../src/envtest/binaries.js';
import { fetchText } from '../../src/envtest/http.js';
import {
  APP_BUNDLE,
  ManageApi,
  probeUrl,
  runMain,
  stopProcess as stop,
  waitOutput,
  type MainProcess,
} from '../support/app.js';
import { testClusters, uniqueName } from '../support/clusters.js';
import { configMap, ManifestApi, RemoteObjects } from '../support/manifests.js';
import { eventually } from '../support/poll.js';
import { installCrds } from '../../src/testing/register.js';
import { testPod } from '../support/recorder.js';

const clusters = testClusters();
const [remote1, remote2] = [clusters.remotes[0]!, clusters.remotes[1]!];
const manage = new ManageApi(clusters.manage.kubeConfig());
const DEPLOY_NS = 'clusterregistry-system';

/** A kubeconfig for the manage cluster that authenticates with a bearer token. */
function tokenKubeconfig(token: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'manage',
        cluster: {
          server: clusters.manage.info.server,
          'certificate-authority-data': Buffer.from(clusters.manage.info.ca.cert).toString('base64'),
        },
      },
    ],
    users: [{ name: 'sa', user: { token } }],
    contexts: [{ name: 'sa', context: { cluster: 'manage', user: 'sa' } }],
    'current-context': 'sa',
  });
}

/** An environment variable of the container in deploy/deployment.yaml. */
function deploymentEnv(name: string): string {
  const deployment = loadYaml<{
    spec: { template: { spec: { containers: { env?: { name: string; value?: string }[] }[] } } };
  }>(readFileSync(join(packageRoot(), 'deploy', 'deployment.yaml'), 'utf8'));
  const value = deployment.spec.template.spec.containers[0]!.env?.find((e) => e.name === name)?.value;
  if (value === undefined) throw new Error(`deploy/deployment.yaml sets no ${name}`);
  return value;
}

/** Every manifest of deploy/ applied as it is; returns how many objects. */
async function applyDeploy(): Promise<number> {
  const objects = clusters.manage.kubeConfig().makeApiClient(KubernetesObjectApi);
  const kustomization = loadYaml<{ resources: string[] }>(
    readFileSync(join(packageRoot(), 'deploy', 'kustomization.yaml'), 'utf8'),
  );
  let applied = 0;
  for (const file of kustomization.resources) {
    for (const doc of loadAllYaml(readFileSync(join(packageRoot(), 'deploy', file), 'utf8')) as KubernetesObject[]) {
      await objects.patch(doc, undefined, undefined, 'clusterregistry-test', true, 'application/apply-patch+yaml');
      applied++;
    }
    // The CRDs must be served before objects of them can be created.
    if (file === 'crd.yaml') {
      for (const name of ['remoteclusters.clusterregistry.dev', 'remotemanifests.clusterregistry.dev']) {
        await eventually(`CRD ${name} established`, async () => {
          const crd = (await objects.read({
            apiVersion: 'apiextensions.k8s.io/v1',
            kind: 'CustomResourceDefinition',
            metadata: { name },
          })) as { status?: { conditions?: { type: string; status: string }[] } };
          return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')
            ? true
            : undefined;
        });
      }
    }
  }
  return applied;
}

/** A token of the deploy ServiceAccount. */
async function deployToken(): Promise<string> {
  const token = await manage.core.createNamespacedServiceAccountToken({
    namespace: DEPLOY_NS,
    name: 'clusterregistry',
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  expect(token.status?.token).toBeTruthy();
  return token.status!.token!;
}

/** The app as the Deployment runs it: the deploy ServiceAccount's token, the deploy namespace. */
async function runAsDeployed(shard: string): Promise<MainProcess> {
  const app = runMain(tokenKubeconfig(await deployToken()), {
    POD_NAMESPACE: DEPLOY_NS,
    POD_NAME: `${shard}-pod`,
    PROBE_PORT: '0',
    METRICS_PORT: '0',
    BIND_ADDRESS: '127.0.0.1',
    LEASE_NAME: 'clusterregistry-leader',
    REMOTECLUSTER_SELECTOR: `shard=${shard}`,
    // As deployment.yaml runs it: sharded, so the member and shard Leases go through the RBAC.
    SHARDS: deploymentEnv('SHARDS'),
  });
  await waitOutput(app, /joined as member clusterregistry-member-\d+/);
  return app;
}

describe('deploy/ and the app with the ServiceAccount of the manifests', () => {
  let applied = 0;
  const running: MainProcess[] = [];

  beforeAll(async () => {
    applied = await applyDeploy();
  });

  afterAll(async () => {
    for (const app of running) await stop(app);
  });

  it('applies every manifest of deploy/ as it is', async () => {
    expect(applied).toBe(13);
    const objects = clusters.manage.kubeConfig().makeApiClient(KubernetesObjectApi);
    const deployment = (await objects.read({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'clusterregistry', namespace: DEPLOY_NS },
    })) as { spec: { template: { spec: { containers: { securityContext: object }[] } } } };
    expect(deployment.spec.template.spec.containers[0]!.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
    });
  });

  it('does its whole job with a token of the deploy ServiceAccount (the RBAC is enough, sharding included)', async () => {
    const shard = uniqueName('deploy');
    const name = `${shard}-r1`;
    const app = await runAsDeployed(shard);
    running.push(app);
    await manage.putSecret(DEPLOY_NS, name, { kubeconfig: remote1.kubeconfigText() });
    await manage.createRemoteCluster(name, { shard }, { namespace: DEPLOY_NS, name, key: 'kubeconfig' });
    await manage.ready(name, 'True', 'Synced');
    // Its events are written with the SA too (events.k8s.io in "default", for a cluster-scoped object).
    await eventually('RuntimeStarted event written with the SA token', async () => {
      const events = await manage.core.listNamespacedEvent({ namespace: 'default' });
      return events.items.some((e) => e.involvedObject.name === name && e.reason === 'RuntimeStarted')
        ? true
        : undefined;
    });
    // The example reconciler writes its summary into the app's namespace.
    await remote1
      .kubeConfig()
      .makeApiClient(CoreV1Api)
      .createNamespacedPod({ namespace: 'default', body: testPod(uniqueName('deploy-pod')) });
    await eventually('summary ConfigMap written with the SA token', () =>
      manage.core.readNamespacedConfigMap({ namespace: DEPLOY_NS, name: `pods-${name}` }).catch(() => undefined),
    );
    const ready = await fetchText(`${probeUrl(app)!}/readyz`);
    expect(ready.status).toBe(200);
    // Once ready, it gave the boot's memory back: V8's committed heap shrank (the young
    // generation the boot grew to 32 MiB goes back to its smallest size).
    await waitOutput(app, /released the boot's memory/);
    const released = /V8 heap committed ([\d.]+) → ([\d.]+) MiB/.exec(app.output());
    expect(released).not.toBeNull();
    expect(Number(released![1]) - Number(released![2])).toBeGreaterThan(4);

    // A RemoteManifest with the same token: finalizer, status by server-side apply, removal.
    const rms = new ManifestApi(manage.kc, DEPLOY_NS);
    const rm = `${shard}-rm`;
    await rms.create(rm, { cluster: name, manifests: [configMap(rm, { k: 'v' }, 'default')] });
    await rms.condition(rm, 'Applied', 'True', 'Applied');
    const remote = new RemoteObjects(remote1.kubeConfig(), 'deploy-remote-1');
    try {
      expect(await remote.configMap('default', rm)).toBeDefined();
      await rms.delete(rm);
      await rms.gone(rm);
      await remote.gone('default', rm);
    } finally {
      await remote.close();
    }
    // The Event that says what a deletion left behind may go to any RemoteManifest's namespace.
    const sa = new KubeConfig();
    sa.loadFromString(tokenKubeconfig(await deployToken()));
    const client = new ClusterClient({ name: 'sa', kubeConfig: sa });
    try {
      const review = await client.request<{ status?: { allowed?: boolean } }>(
        'POST',
        '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
        {
          body: {
            apiVersion: 'authorization.k8s.io/v1',
            kind: 'SelfSubjectAccessReview',
            spec: { resourceAttributes: { namespace: 'default', resource: 'events', verb: 'create' } },
          },
        },
      );
      expect(review.status?.allowed).toBe(true);
    } finally {
      await client.close();
    }

    await manage.deleteRemoteCluster(name);
    await manage.gone(name);
    expect(app.output()).not.toMatch(/forbidden/i);
    // Its Leases are released at once for the next app of this file.
    app.child.kill('SIGTERM');
    expect((await app.exited).code).toBe(0);
  });

  it('stops every runtime on SIGTERM within the shutdown timeout', async () => {
    const shard = uniqueName('deploy');
    const second = `${shard}-r2`;
    const app = await runAsDeployed(shard);
    await manage.putSecret(DEPLOY_NS, second, { kubeconfig: remote2.kubeconfigText() });
    await manage.createRemoteCluster(second, { shard }, { namespace: DEPLOY_NS, name: second, key: 'kubeconfig' });
    await manage.ready(second, 'True', 'Synced');
    const started = Date.now();
    app.child.kill('SIGTERM');
    const exit = await app.exited;
    const took = Date.now() - started;
    expect(exit.code).toBe(0);
    expect(took).toBeLessThan(20_000);
    expect(app.output()).toMatch(new RegExp(`cluster ${second}: runtime stopped`));
    expect(app.output()).toMatch(/released its member Lease/);
    expect(app.output()).toMatch(/released clusterregistry-shard-\d+/);
    process.stderr.write(`[figures] SIGTERM to exit with a running runtime: ${took} ms\n`);
    // Leave the object to nobody: remove our finalizer's owner first, then the object.
    await manage.setFinalizers(second, null);
    await manage.deleteRemoteCluster(second);
  });
});

describe("the image's bundle (scripts/bundle-app.mjs)", () => {
  // Preloaded into the app: counts the Intl objects made and, on SIGUSR2, prints them and whether
  // Node's own copy of undici was loaded (README, "Benchmarks": each costs RSS before any runtime).
  const probe = join(tmpdir(), `${uniqueName('lean')}.mjs`);
  beforeAll(async () => {
    writeFileSync(
      probe,
      [
        'let made = 0;',
        'for (const name of Object.getOwnPropertyNames(Intl)) {',
        "  if (typeof Intl[name] !== 'function' || !Intl[name].prototype) continue;",
        '  Intl[name] = new Proxy(Intl[name], {',
        '    construct: (target, args, newTarget) => { made++; return Reflect.construct(target, args, newTarget); },',
        '    apply: (target, self, args) => { made++; return Reflect.apply(target, self, args); },',
        '  });',
        '}',
        "process.on('SIGUSR2', () => {",
        "  const nodeUndici = process.moduleLoadList.includes('NativeModule internal/deps/undici/undici');",
        '  process.stdout.write(`LEAN ${JSON.stringify({ intl: made, nodeUndici })}\\n`);',
        '});',
      ].join('\n'),
    );
    await installCrds(clusters.manage.kubeConfig());
  });
  afterAll(() => rmSync(probe, { force: true }));

  async function startupOf(script: string): Promise<{ intl: number; nodeUndici: boolean }> {
    const app = runMain(
      clusters.manage.kubeconfigText(),
      {
        POD_NAMESPACE: 'default',
        POD_NAME: uniqueName('lean'),
        PROBE_PORT: '0',
        METRICS_PORT: '0',
        BIND_ADDRESS: '127.0.0.1',
        LEADER_ELECTION: 'false',
        REMOTECLUSTER_SELECTOR: `shard=${uniqueName('lean')}`,
        NODE_OPTIONS: `--import ${pathToFileURL(probe).href}`,
      },
      script,
    );
    try {
      await waitOutput(app, /ready: released the boot's memory/);
      app.child.kill('SIGUSR2');
      await waitOutput(app, /^LEAN /m);
      // Either entry point stops cleanly too.
      app.child.kill('SIGTERM');
      expect((await app.exited).code).toBe(0);
      return JSON.parse(/^LEAN (.*)$/m.exec(app.output())![1]!) as { intl: number; nodeUndici: boolean };
    } finally {
      await stop(app);
    }
  }

  it("starts without an Intl object or Node's own undici, which the unbundled entry point loads", async () => {
    expect(await startupOf(APP_BUNDLE)).toEqual({ intl: 0, nodeUndici: false });
    // The same probe sees both in dist/src/main.js (the package's bin): it can tell them apart.
    // (Node's undici comes with an ES module import of node:http, nodejs/node#59686: a Node that
    // stops that makes this line fail, and the bundle's builtins plugin unneeded.)
    const unbundled = await startupOf(join(packageRoot(), 'dist', 'src', 'main.js'));
    expect(unbundled.intl).toBeGreaterThanOrEqual(2);
    expect(unbundled.nodeUndici).toBe(true);
  });
});

describe('leader election with two app processes', () => {
  const shard = uniqueName('ha');
  const ns = uniqueName('ha');
  const procs: MainProcess[] = [];

  afterAll(async () => {
    await Promise.all(procs.map(stop));
  });

  it('the standby takes over within the lease duration when the leader is killed', async () => {
    await manage.namespace(ns);
    const env = (id: string) => ({
      POD_NAMESPACE: ns,
      POD_NAME: id,
      PROBE_PORT: '0',
      METRICS_PORT: '0',
      BIND_ADDRESS: '127.0.0.1',
      LEASE_DURATION_MS: '4000',
      RENEW_DEADLINE_MS: '3000',
      RETRY_PERIOD_MS: '500',
      REMOTECLUSTER_SELECTOR: `shard=${shard}`,
      EXAMPLE_RECONCILERS: 'false',
    });
    const kubeconfig = clusters.manage.kubeconfigText();
    procs.push(runMain(kubeconfig, env('replica-a')));
    await waitOutput(procs[0]!, /replica-a became leader/);
    procs.push(runMain(kubeconfig, env('replica-b')));
    await eventually('b serves probes', () => probeUrl(procs[1]!));

    const names = [`${shard}-1`, `${shard}-2`];
    for (const [i, cluster] of [remote1, remote2].entries()) {
      await manage.putSecret(ns, names[i]!, { kubeconfig: cluster.kubeconfigText() });
      await manage.createRemoteCluster(names[i]!, { shard }, { namespace: ns, name: names[i]!, key: 'kubeconfig' });
    }
    for (const n of names) await manage.ready(n, 'True', 'Synced');
    expect(procs[1]!.output()).not.toMatch(/replica-b became leader/);

    const killedAt = Date.now();
    procs[0]!.child.kill('SIGKILL'); // no release: b must wait for the lease to expire
    await eventually(
      'b leads',
      () => (/replica-b became leader/.test(procs[1]!.output()) ? true : undefined),
      20_000,
      50,
    );
    const failover = Date.now() - killedAt;
    const url = `${probeUrl(procs[1]!)!}/readyz`;
    const body = await eventually('b runs every cluster, synced', async () => {
      const res = await fetchText(url);
      const parsed = JSON.parse(res.body) as {
        info?: { clusters?: { active: boolean; clusters: Record<string, { phase: string }> } };
      };
      const runtimes = parsed.info?.clusters?.clusters ?? {};
      return res.status === 200 && names.every((n) => runtimes[n]?.phase === 'synced') ? parsed : undefined;
    });
    const allReady = Date.now() - killedAt;
    expect(body.info!.clusters!.active).toBe(true);
    for (const n of names) await manage.ready(n, 'True', 'Synced');
    // Lease of 4 s, measured from b's own observation of the last renewal, plus one retry period.
    expect(failover).toBeLessThan(4_000 + 500 + 1_500);
    process.stderr.write(
      `[figures] failover: leader killed to standby leading ${failover} ms; to every cluster synced ${allReady} ms\n`,
    );
    for (const n of names) {
      await manage.deleteRemoteCluster(n);
      await manage.gone(n);
    }
  });
});
