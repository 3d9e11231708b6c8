import { join } from 'node:path';
import type { INestApplicationContext } from '@nestjs/common';
import { CoreV1Api } from '@kubernetes/client-node';
import { packageRoot } from '../../src/envtest/binaries.js';
import { installCrd, loadCrds } from '../../src/envtest/crd.js';
import { PodSummaryReconciler, SUMMARY_PREFIX } from '../../src/app/examples/pod-summary.reconciler.js';
import { issueClientCert } from '../../src/envtest/pki.js';
import { fetchText } from '../../src/envtest/http.js';
import { RemoteClusterRegistry } from '../../src/registry/remote-cluster.registry.js';
import { FINALIZER } from '../../src/remotecluster/types.js';
import { CapturedLogs, ManageApi, probeUrlOf, startApp, testSettings } from '../support/app.js';
import { testClusters, uniqueName } from '../support/clusters.js';
import { certUser, kubeconfigDoc } from '../support/kubeconfig.js';
import { eventually } from '../support/poll.js';
import { testPod } from '../support/recorder.js';
import { TcpProxy } from '../support/tcp-proxy.js';

const clusters = testClusters();
const [remote1, remote2] = [clusters.remotes[0]!, clusters.remotes[1]!];
const manage = new ManageApi(clusters.manage.kubeConfig());
const ns = uniqueName('rc');
const shard = uniqueName('shard');
const labels = { 'clusterregistry.dev/test-shard': shard };
const selector = `clusterregistry.dev/test-shard=${shard}`;
const rcName = (s: string): string => `${shard}-${s}`;
const ref = (name: string, key = 'kubeconfig') => ({ namespace: ns, name, key });

let app: INestApplicationContext;
let logs: CapturedLogs;

async function start(): Promise<void> {
  logs = new CapturedLogs();
  ({ app } = await startApp(manage.kc, testSettings(ns, selector), logs, [PodSummaryReconciler]));
}

beforeAll(async () => {
  // The CRD as shipped; installing it again (another test file did) only replaces it.
  for (const crd of loadCrds(join(packageRoot(), 'deploy', 'crd.yaml'))) await installCrd(manage.kc, crd);
  await manage.namespace(ns);
  await start();
});

afterAll(async () => {
  await app?.close();
});

/** A Secret and a RemoteCluster for `kubeconfig`, and Ready=True; returns the object's name. */
async function registered(key: string, kubeconfig: string, finalizers?: string[]): Promise<string> {
  const name = rcName(key);
  await manage.putSecret(ns, key, { kubeconfig });
  await manage.createRemoteCluster(name, labels, ref(key), finalizers);
  await manage.ready(name, 'True', 'Synced');
  return name;
}

describe('RemoteCluster lifecycle', () => {
  it('adds its finalizer, spawns the runtime and reports Ready=True', async () => {
    // Someone else's finalizer, set at creation: it must survive everything we do.
    const name = await registered('life', remote1.kubeconfigText(), ['example.com/keep']);
    const rc = (await manage.read(name))!;
    expect(rc.metadata?.finalizers).toEqual(expect.arrayContaining([FINALIZER, 'example.com/keep']));
    const ready = rc.status!.conditions!.find((c) => c.type === 'Ready')!;
    expect(ready.message).toBe('connected; caches synced (Pod)');
    expect(Date.parse(ready.lastTransitionTime)).not.toBeNaN();
    expect(rc.status!.observedGeneration).toBe(rc.metadata!.generation);
    expect(rc.status!.conditions!.map((c) => [c.type, c.status, c.reason])).toEqual([
      ['Ready', 'True', 'Synced'],
      ['ReconcilersHealthy', 'True', 'Succeeding'],
    ]);
    const registry = app.get(RemoteClusterRegistry);
    expect(await registry.withClient(name, (c) => c.server)).toBe(remote1.info.server);
    // Each change written once: a reconcile right after a write does not repeat it from a stale cache.
    const said = (what: string) => logs.lines.filter((l) => l.includes(`${name}: Ready=${what}`)).length;
    expect([said('Unknown (Connecting)'), said('True (Synced)')]).toEqual([1, 1]);
  });

  it('writes to the manage cluster from the example remote reconciler', async () => {
    const name = await registered('summary', remote1.kubeconfigText());
    await remote1
      .kubeConfig()
      .makeApiClient(CoreV1Api)
      .createNamespacedPod({ namespace: 'default', body: testPod(uniqueName('summary')) });
    const summary = await eventually('pod summary written', () =>
      manage.core.readNamespacedConfigMap({ namespace: ns, name: `${SUMMARY_PREFIX}${name}` }).catch(() => undefined),
    );
    expect(summary.metadata?.labels?.['clusterregistry.dev/cluster']).toBe(name);
    expect(Number(summary.data?.default)).toBeGreaterThanOrEqual(1);
  });

  it('restarts the runtime when the Secret kubeconfig changes', async () => {
    const name = await registered('switch', remote1.kubeconfigText());
    await manage.putSecret(ns, 'switch', { kubeconfig: remote2.kubeconfigText() });
    const registry = app.get(RemoteClusterRegistry);
    await eventually('runtime now on remote-2', async () =>
      (await registry.withClient(name, (c) => c.server).catch(() => undefined)) === remote2.info.server
        ? true
        : undefined,
    );
    await manage.ready(name, 'True', 'Synced');
  });

  it('rebuilds every runtime after the app restarts', async () => {
    const name = await registered('restart', remote2.kubeconfigText());
    await app.close();
    await start();
    const registry = app.get(RemoteClusterRegistry);
    await eventually('respawned and synced', () => (registry.status(name)?.phase === 'synced' ? true : undefined));
    expect(await registry.withClient(name, (c) => c.server)).toBe(remote2.info.server);
  });

  it('stops the runtime on delete and removes only its own finalizer', async () => {
    const name = await registered('delete', remote1.kubeconfigText(), ['example.com/keep']);
    const registry = app.get(RemoteClusterRegistry);
    await manage.deleteRemoteCluster(name);
    await eventually('our finalizer removed', async () => {
      const rc = await manage.read(name);
      return rc && !rc.metadata?.finalizers?.includes(FINALIZER) ? rc : undefined;
    });
    expect(registry.has(name)).toBe(false);
    expect((await manage.read(name))?.metadata?.finalizers).toEqual(['example.com/keep']);
    await manage.setFinalizers(name, null);
    await manage.gone(name);
  });

  it('lets an object go when its Secret is gone and its cluster unreachable (bounded stop)', async () => {
    const doomed = rcName('doomed');
    await manage.putSecret(ns, 'doomed', { kubeconfig: kubeconfigDoc(remote1, { server: 'https://127.0.0.1:1' }) });
    await manage.createRemoteCluster(doomed, labels, ref('doomed'));
    await manage.ready(doomed, 'False', 'Unreachable');
    await manage.core.deleteNamespacedSecret({ namespace: ns, name: 'doomed' });
    const started = Date.now();
    await manage.deleteRemoteCluster(doomed);
    await manage.gone(doomed, 15_000);
    expect(Date.now() - started).toBeLessThan(15_000);
  });
});

describe('RemoteCluster bad input', () => {
  const goodName = rcName('good');
  let goodSince = '';
  /** Credentials the cases below put into Secrets: none may show up in a status or a log. */
  const secrets: string[] = [];
  const clusterKeyMaterial = (): string[] =>
    clusters.all.flatMap((c) => [
      c.info.admin.key.slice(40, 80),
      Buffer.from(c.info.admin.key).toString('base64').slice(40, 80),
      Buffer.from(c.info.admin.cert).toString('base64').slice(40, 80),
    ]);

  beforeAll(async () => {
    await manage.putSecret(ns, 'good', { kubeconfig: remote1.kubeconfigText() });
    await manage.createRemoteCluster(goodName, labels, ref('good'));
    const rc = await manage.ready(goodName, 'True', 'Synced');
    goodSince = rc.status!.conditions!.find((c) => c.type === 'Ready')!.lastTransitionTime;
  });

  /** A RemoteCluster whose Secret holds `data` gets Ready=False with `reason`; the message never
   * carries a credential, the good cluster's Ready never moves, and no log line has key material. */
  async function expectReason(key: string, data: Record<string, string> | undefined, reason: string, message: RegExp) {
    const name = rcName(`bad-${key}`);
    if (data) await manage.putSecret(ns, `bad-${key}`, data);
    await manage.createRemoteCluster(name, labels, ref(`bad-${key}`));
    const rc = await manage.ready(name, 'False', reason);
    const ready = rc.status!.conditions!.find((c) => c.type === 'Ready')!;
    expect(ready.message).toMatch(message);
    const good = await manage.ready(goodName, 'True', 'Synced');
    expect(good.status!.conditions!.find((c) => c.type === 'Ready')!.lastTransitionTime).toBe(goodSince);
    const text = logs.lines.join('\n');
    // The logs do talk about the failure (so the checks below look at something)…
    expect(text).toContain(`${name}: Ready=False (${reason})`);
    // …but never with key, certificate or token material.
    for (const secret of [...secrets, ...clusterKeyMaterial()]) {
      expect(ready.message).not.toContain(secret);
      expect(text).not.toContain(secret);
    }
    return name;
  }

  it('Secret missing, then created: Ready without a restart', async () => {
    const name = await expectReason('missing', undefined, 'SecretNotFound', /Secret .*bad-missing does not exist/);
    await manage.putSecret(ns, 'bad-missing', { kubeconfig: remote2.kubeconfigText() });
    await manage.ready(name, 'True', 'Synced');
  });

  it('key missing', async () => {
    await expectReason('nokey', { other: 'x' }, 'KeyNotFound', /has no key "kubeconfig" \(keys: other\)/);
  });

  it('not a kubeconfig', async () => {
    await expectReason(
      'notyaml',
      { kubeconfig: 'clusters: [unclosed' },
      'InvalidKubeconfig',
      /not valid YAML or JSON at line 1/,
    );
    await expectReason('notkc', { kubeconfig: 'hello: world' }, 'NoUsableContext', /current-context: is not set/);
  });

  it('kubeconfig without a usable context', async () => {
    await expectReason(
      'noctx',
      { kubeconfig: kubeconfigDoc(remote1, { currentContext: 'nowhere' }) },
      'NoUsableContext',
      /current-context: no entry in contexts has this name/,
    );
  });

  it('server unreachable, then fixed: Ready without a restart', async () => {
    const name = await expectReason(
      'unreachable',
      { kubeconfig: kubeconfigDoc(remote1, { server: 'https://127.0.0.1:1' }) },
      'Unreachable',
      /ECONNREFUSED/,
    );
    await manage.putSecret(ns, 'bad-unreachable', { kubeconfig: remote1.kubeconfigText() });
    await manage.ready(name, 'True', 'Synced');
  });

  it('wrong CA', async () => {
    await expectReason(
      'wrongca',
      { kubeconfig: kubeconfigDoc(remote1, { caCert: remote2.info.ca.cert }) },
      'ServerCertificateUntrusted',
      /certificate/i,
    );
  });

  it('invalid client certificate', async () => {
    const foreign = remote2.info.admin; // signed by another cluster's CA
    secrets.push(foreign.key.slice(40, 80));
    await expectReason(
      'badcert',
      {
        kubeconfig: kubeconfigDoc(remote1, {
          user: certUser(foreign),
        }),
      },
      'ClientCertificateRejected',
      /did not accept the client certificate.*401/,
    );
  });

  it('token rejected (401)', async () => {
    const token = 'not-a-token-' + 'x'.repeat(20);
    secrets.push(token);
    await expectReason('token', { kubeconfig: kubeconfigDoc(remote1, { user: { token } }) }, 'TokenRejected', /401/);
  });

  it('credentials that may not watch what the reconcilers need (403)', async () => {
    const nobody = await issueClientCert(remote1.info.ca, 'CN=nobody');
    secrets.push(nobody.key.slice(40, 80));
    await expectReason(
      'forbidden',
      {
        kubeconfig: kubeconfigDoc(remote1, {
          user: certUser(nobody),
        }),
      },
      'Forbidden',
      /User "nobody" cannot (list|watch) resource "pods"/,
    );
  });

  it('local files, exec and auth-provider plugins are refused', async () => {
    const cases: [string, Record<string, unknown>, RegExp][] = [
      [
        'certfile',
        { 'client-certificate': '/etc/passwd', 'client-key': '/etc/passwd' },
        /users\[0\]\.user\.client-certificate: names a local file/,
      ],
      ['tokenfile', { 'token-file': '/etc/hostname' }, /users\[0\]\.user\.token-file: names a local file/],
      [
        'exec',
        { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'touch', args: ['/tmp/pwned'] } },
        /users\[0\]\.user\.exec: /,
      ],
      ['authprovider', { 'auth-provider': { name: 'oidc', config: {} } }, /users\[0\]\.user\.auth-provider: /],
    ];
    for (const [key, user, message] of cases) {
      await expectReason(key, { kubeconfig: kubeconfigDoc(remote1, { user }) }, 'UnsafeKubeconfig', message);
    }
  });
});

describe('readiness', () => {
  it('answers 503 while a cluster is still syncing and 200 once it is synced', async () => {
    const proxy = await TcpProxy.start({ host: '127.0.0.1', port: Number(new URL(remote2.info.server).port) });
    proxy.hold();
    const slow = rcName('slow');
    try {
      await manage.putSecret(ns, 'slow', { kubeconfig: kubeconfigDoc(remote2, { server: proxy.url }) });
      await manage.createRemoteCluster(slow, labels, ref('slow'));
      const url = `${probeUrlOf(app)}/readyz`;
      const held = await eventually('503 while slow is connecting', async () => {
        const res = await fetchText(url);
        return res.status === 503 && res.body.includes(slow) ? res : undefined;
      });
      expect(JSON.parse(held.body)).toMatchObject({ status: 'error' });
      proxy.release();
      const ok = await eventually('200 once synced', async () => {
        const res = await fetchText(url);
        return res.status === 200 ? res : undefined;
      });
      const body = JSON.parse(ok.body) as { info: { clusters: { clusters: Record<string, unknown> } } };
      expect(body.info.clusters.clusters[slow]).toMatchObject({ phase: 'synced' });
      expect((await fetchText(url.replace('readyz', 'healthz'))).status).toBe(200);
    } finally {
      await manage.deleteRemoteCluster(slow);
      await manage.gone(slow);
      await proxy.close();
    }
  });
});
