import { join } from 'node:path';
import type { INestApplicationContext } from '@nestjs/common';
import { CoreV1Api, RbacAuthorizationV1Api, Watch } from '@kubernetes/client-node';
import { PodSummaryReconciler, summaryName } from '../../src/app/examples/pod-summary.reconciler.js';
import { Reconciler } from '../../src/reconcile/reconciler.decorator.js';
import type { Settings } from '../../src/app/settings.js';
import { packageRoot } from '../../src/envtest/binaries.js';
import { installCrd, loadCrds } from '../../src/envtest/crd.js';
import { fetchText } from '../../src/envtest/http.js';
import { issueClientCert } from '../../src/envtest/pki.js';
import { RemoteClusterRegistry } from '../../src/registry/remote-cluster.registry.js';
import { API_VERSION, PLURAL, type RemoteCluster } from '../../src/remotecluster/types.js';
import { CapturedLogs, ManageApi, probeUrlOf, startApp, testSettings } from '../support/app.js';
import { testClusters, uniqueName } from '../support/clusters.js';
import { ConnectProxy } from '../support/connect-proxy.js';
import { certUser, kubeconfigDoc } from '../support/kubeconfig.js';
import { eventually } from '../support/poll.js';
import { testPod } from '../support/recorder.js';

const clusters = testClusters();
const [remote1, remote2] = [clusters.remotes[0]!, clusters.remotes[1]!];
const manage = new ManageApi(clusters.manage.kubeConfig());
const ns = uniqueName('hard');
const b64 = (s: string): string => Buffer.from(s).toString('base64');

/** One app of its own per block (settings differ), running only the RemoteClusters of its shard. */
class ShardApp {
  readonly shard = uniqueName('shard');
  readonly labels = { 'clusterregistry.dev/test-shard': this.shard };
  app?: INestApplicationContext;
  logs = new CapturedLogs();

  constructor(private readonly overrides: Partial<Settings> = {}) {}

  async start(remoteReconcilers: Parameters<typeof startApp>[3] = [PodSummaryReconciler]): Promise<void> {
    this.logs = new CapturedLogs();
    ({ app: this.app } = await startApp(
      manage.kc,
      testSettings(ns, `clusterregistry.dev/test-shard=${this.shard}`, this.overrides),
      this.logs,
      remoteReconcilers,
    ));
  }

  async stop(): Promise<void> {
    await this.app?.close();
    this.app = undefined;
  }

  /** A Secret holding `kubeconfig` and a RemoteCluster of this shard using it. */
  async register(key: string, kubeconfig: string, name = `${this.shard}-${key}`): Promise<string> {
    await manage.putSecret(ns, `${this.shard}-${key}`, { kubeconfig });
    await manage.createRemoteCluster(name, this.labels, {
      namespace: ns,
      name: `${this.shard}-${key}`,
      key: 'kubeconfig',
    });
    return name;
  }

  get registry(): RemoteClusterRegistry {
    return this.app!.get(RemoteClusterRegistry);
  }
}

beforeAll(async () => {
  for (const crd of loadCrds(join(packageRoot(), 'deploy', 'crd.yaml'))) await installCrd(manage.kc, crd);
  await manage.namespace(ns);
});

describe('every kubeconfig shape gets a decided condition', () => {
  const shard = new ShardApp();
  beforeAll(() => shard.start());
  afterAll(() => shard.stop());

  const cases: [string, string, string, RegExp][] = [
    ['users-map', kubeconfigDoc(remote1, { mutate: (d) => (d.users = {}) }), 'InvalidKubeconfig', /^users: /],
    ['contexts-map', kubeconfigDoc(remote1, { mutate: (d) => (d.contexts = {}) }), 'InvalidKubeconfig', /^contexts: /],
    [
      'cluster-null',
      kubeconfigDoc(remote1, { mutate: (d) => (d.clusters = [null]) }),
      'InvalidKubeconfig',
      /clusters\[0\]/,
    ],
    ['file-url', kubeconfigDoc(remote1, { server: 'file:///etc/passwd' }), 'InvalidKubeconfig', /cluster\.server/],
    [
      'unix-url',
      kubeconfigDoc(remote1, { server: 'unix:///var/run/docker.sock' }),
      'InvalidKubeconfig',
      /cluster\.server/,
    ],
    ['garbage-url', kubeconfigDoc(remote1, { server: 'ht!tp:// no url' }), 'InvalidKubeconfig', /cluster\.server/],
    ['http', kubeconfigDoc(remote1, { server: 'http://127.0.0.1:8080' }), 'InsecureTransport', /cluster\.server/],
    ['query', kubeconfigDoc(remote1, { server: `${remote1.info.server}/?dropped=1` }), 'InvalidKubeconfig', /query/],
    [
      'skip-verify',
      kubeconfigDoc(remote1, {
        cluster: { 'insecure-skip-tls-verify': true, 'certificate-authority-data': undefined },
      }),
      'InsecureTransport',
      /insecure-skip-tls-verify/,
    ],
    [
      'bad-key',
      kubeconfigDoc(remote1, { user: { ...certUser(remote1.info.admin), 'client-key-data': b64('no key here') } }),
      'InvalidKubeconfig',
      /client-key-data/,
    ],
    [
      'bad-ca',
      kubeconfigDoc(remote1, { cluster: { 'certificate-authority-data': b64('-----BEGIN CERTIFICATE-----\nAAAA\n') } }),
      'InvalidKubeconfig',
      /certificate-authority-data/,
    ],
    [
      'socks',
      kubeconfigDoc(remote1, { cluster: { 'proxy-url': 'socks5://127.0.0.1:1080' } }),
      'UnsupportedProxy',
      /proxy-url/,
    ],
  ];

  it.each(cases)('%s', async (key, kubeconfig, reason, message) => {
    const name = await shard.register(key, kubeconfig);
    const rc = await manage.ready(name, 'False', reason);
    const ready = rc.status!.conditions!.find((c) => c.type === 'Ready')!;
    expect(ready.message).toMatch(message);
    // Node's advice about the system CA store is wrong here: the kubeconfig is what to fix.
    expect(ready.message).not.toMatch(/use-system-ca|--/);
    expect(shard.registry.has(name)).toBe(false);
  });

  it('never keeps /readyz waiting on a cluster whose condition is decided', async () => {
    const url = `${probeUrlOf(shard.app!)}/readyz`;
    const ready = await eventually('readyz 200', async () => {
      const res = await fetchText(url);
      return res.status === 200 ? res : undefined;
    });
    expect(JSON.parse(ready.body)).toMatchObject({ status: 'ok' });
  });
});

describe('transport policy', () => {
  const shard = new ShardApp();
  let proxy: ConnectProxy;
  beforeAll(async () => {
    proxy = await ConnectProxy.start();
    await shard.start();
  });
  afterAll(async () => {
    await shard.stop();
    await proxy.close();
  });

  it('honours proxy-url: the runtime talks to its cluster through the CONNECT proxy', async () => {
    const name = await shard.register('proxied', kubeconfigDoc(remote2, { cluster: { 'proxy-url': proxy.url } }));
    await manage.ready(name, 'True', 'Synced');
    expect(proxy.tunnels).toBeGreaterThan(0);
    expect(proxy.targets).toContain(new URL(remote2.info.server).host);
    expect(proxy.plainRequests).toBe(0);
  });

  it('never bypasses a proxy that does not answer', async () => {
    const name = await shard.register(
      'dead-proxy',
      kubeconfigDoc(remote2, { cluster: { 'proxy-url': 'http://127.0.0.1:1' } }),
    );
    const rc = await manage.ready(name, 'False', 'Unreachable');
    expect(rc.status!.conditions!.find((c) => c.type === 'Ready')!.message).toMatch(/ECONNREFUSED/);
  });

  describe('with insecure transport allowed by the operator', () => {
    const insecure = new ShardApp({ allowInsecureKubeconfigTls: true });
    beforeAll(() => insecure.start());
    afterAll(() => insecure.stop());

    it('accepts insecure-skip-tls-verify', async () => {
      const name = await insecure.register(
        'skip',
        kubeconfigDoc(remote1, {
          cluster: { 'insecure-skip-tls-verify': true, 'certificate-authority-data': undefined },
        }),
      );
      await manage.ready(name, 'True', 'Synced');
    });
  });

  describe('with the remote networks restricted by the operator', () => {
    const restricted = new ShardApp({ remoteDeniedNetworks: ['127.0.0.0/8'] });
    beforeAll(() => restricted.start());
    afterAll(() => restricted.stop());

    it('refuses a server in a denied network with its own reason', async () => {
      const name = await restricted.register('denied', remote1.kubeconfigText());
      const rc = await manage.ready(name, 'False', 'NetworkNotAllowed');
      expect(rc.status!.conditions!.find((c) => c.type === 'Ready')!.message).toMatch(/127\.0\.0\.0\/8/);
    });
  });
});

describe('permissions revoked at runtime', () => {
  const probeIntervalMs = 2_000;
  const shard = new ShardApp({ probeIntervalMs });
  const rbac = remote1.kubeConfig().makeApiClient(RbacAuthorizationV1Api);
  const user = uniqueName('probe-user');
  const binding = {
    metadata: { name: user },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: user },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }],
  };
  beforeAll(async () => {
    await rbac.createClusterRole({
      body: {
        metadata: { name: user },
        rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }],
      },
    });
    await rbac.createClusterRoleBinding({ body: binding });
    await shard.start();
  });
  afterAll(() => shard.stop());

  it('says Forbidden, naming the resource, within two probe intervals, and recovers without a restart', async () => {
    const pair = await issueClientCert(remote1.info.ca, `CN=${user}`);
    const name = await shard.register('rbac', kubeconfigDoc(remote1, { user: certUser(pair) }));
    await manage.ready(name, 'True', 'Synced');

    const revoked = Date.now();
    await rbac.deleteClusterRoleBinding({ name: user });
    const rc = await manage.ready(name, 'False', 'Forbidden', 2 * probeIntervalMs + 10_000);
    const tookMs = Date.now() - revoked;
    expect(rc.status!.conditions!.find((c) => c.type === 'Ready')!.message).toMatch(/may no longer (list|watch) pods/);
    process.stderr.write(`[figures] RBAC revoked to Forbidden: ${tookMs} ms (probe interval ${probeIntervalMs} ms)\n`);

    await rbac.createClusterRoleBinding({ body: binding });
    await manage.ready(name, 'True', 'Synced', 2 * probeIntervalMs + 10_000);
  });
});

describe('caches before workers: restarts never flap a condition', () => {
  const shard = new ShardApp();
  const count = 50;
  const restarts = 10;
  const falseTransitions: string[] = [];
  let abortWatch: (() => void) | undefined;

  beforeAll(async () => {
    // An observer of its own, independent of the app: every Ready that goes to False is counted.
    const last = new Map<string, string>();
    const req = await new Watch(manage.kc).watch(
      `/apis/${API_VERSION}/${PLURAL}`,
      { labelSelector: `clusterregistry.dev/test-shard=${shard.shard}` },
      (_type: string, rc: RemoteCluster) => {
        const status = rc.status?.conditions?.find((c) => c.type === 'Ready')?.status ?? 'none';
        const name = rc.metadata!.name!;
        if (status === 'False' && last.get(name) !== 'False')
          falseTransitions.push(`${name}: ${JSON.stringify(rc.status)}`);
        last.set(name, status);
      },
      () => undefined,
    );
    abortWatch = () => req.abort();
  });
  afterAll(async () => {
    abortWatch?.();
    await shard.stop();
  });

  it(`${count} RemoteClusters, the app restarted ${restarts} times: zero transitions to False`, async () => {
    await shard.start();
    const names = await Promise.all(
      Array.from({ length: count }, (_, i) => shard.register(`c${i}`, (i % 2 ? remote1 : remote2).kubeconfigText())),
    );
    for (const name of names) await manage.ready(name, 'True', 'Synced', 60_000);
    for (let i = 0; i < restarts; i++) {
      await shard.stop();
      await shard.start();
      await eventually(
        `restart ${i + 1}: every runtime synced`,
        () => (names.every((n) => shard.registry.status(n)?.phase === 'synced') ? true : undefined),
        60_000,
        100,
      );
    }
    for (const name of names) await manage.ready(name, 'True', 'Synced');
    expect(falseTransitions).toEqual([]);
    process.stderr.write(
      `[figures] restart loop: ${count} RemoteClusters x ${restarts} restarts, ${falseTransitions.length} transitions to False\n`,
    );
  }, 600_000);
});

describe('names', () => {
  const shard = new ShardApp();
  beforeAll(() => shard.start());
  afterAll(() => shard.stop());

  it('refuses the name of the manage runtime with its own reason', async () => {
    const name = await shard.register('reserved', remote1.kubeconfigText(), 'manage');
    try {
      const rc = await manage.ready(name, 'False', 'ReservedName');
      expect(rc.status!.conditions!.find((c) => c.type === 'Ready')!.message).toMatch(
        /reserved for the manage cluster/,
      );
      expect(shard.registry.has('manage')).toBe(false);
    } finally {
      await manage.setFinalizers(name, null);
      await manage.deleteRemoteCluster(name);
    }
  });

  it('keeps derived names valid for the longest name the API allows', async () => {
    const prefix = `${shard.shard}-long-`;
    const name = prefix + 'x'.repeat(253 - prefix.length);
    expect(name).toHaveLength(253);
    await shard.register('long', remote2.kubeconfigText(), name);
    await manage.ready(name, 'True', 'Synced');
    await remote2
      .kubeConfig()
      .makeApiClient(CoreV1Api)
      .createNamespacedPod({ namespace: 'default', body: testPod(uniqueName('long')) });
    const summary = await eventually('summary of the long-named cluster', () =>
      manage.core.readNamespacedConfigMap({ namespace: ns, name: summaryName(name) }).catch(() => undefined),
    );
    expect(summary.metadata!.name!.length).toBeLessThanOrEqual(253);
    expect(summary.metadata!.annotations!['clusterregistry.dev/cluster-name']).toBe(name);
    expect(summary.metadata!.labels!['clusterregistry.dev/cluster']!.length).toBeLessThanOrEqual(63);
    const rc = await manage.read(name);
    expect(rc!.status!.conditions!.find((c) => c.type === 'ReconcilersHealthy')).toMatchObject({ status: 'True' });
  });
});

describe('reconcilers that keep failing', () => {
  // The example writes its summary into a namespace that does not exist: every write is refused.
  const shard = new ShardApp({ podNamespace: uniqueName('missing') });
  beforeAll(() => shard.start());
  afterAll(() => shard.stop());

  it('shows it on the RemoteCluster, not only in metrics', async () => {
    const name = await shard.register('failing', remote1.kubeconfigText());
    await manage.ready(name, 'True', 'Synced');
    await remote1
      .kubeConfig()
      .makeApiClient(CoreV1Api)
      .createNamespacedPod({ namespace: 'default', body: testPod(uniqueName('failing')) });
    const rc = await eventually('ReconcilersHealthy=False', async () => {
      const current = await manage.read(name);
      const c = current?.status?.conditions?.find((x) => x.type === 'ReconcilersHealthy');
      return c?.status === 'False' ? current : undefined;
    });
    const condition = rc.status!.conditions!.find((c) => c.type === 'ReconcilersHealthy')!;
    expect(condition.reason).toBe('NotFound');
    expect(condition.message).toMatch(/^pod-summary: \d+ failing; last: pod-summary /);
    // The cluster itself is fine.
    expect(rc.status!.conditions!.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True' });
  });
});

describe('a runtime that fails to start', () => {
  // A remote reconciler whose constructor throws: every cluster context fails as it is built.
  let built = 0;
  @Reconciler({ apiVersion: 'v1', kind: 'Pod', name: 'broken' })
  class Broken {
    constructor() {
      built++;
      throw new Error('broken on purpose');
    }
    reconcile(): void {}
  }
  const shard = new ShardApp();
  beforeAll(() => shard.start([Broken]));
  afterAll(() => shard.stop());

  it('is retried with backoff, not at once (its own stop must not bring it back)', async () => {
    const name = await shard.register('broken', remote1.kubeconfigText());
    await manage.ready(name, 'False', 'RuntimeFailed');
    const first = built;
    await new Promise((resolve) => setTimeout(resolve, 4_000));
    // Backoff from 500 ms, doubling: about 3 tries in 4 s. Without it, a try per event-loop turn.
    expect(built - first).toBeGreaterThanOrEqual(1);
    expect(built - first).toBeLessThanOrEqual(5);
  });
});
