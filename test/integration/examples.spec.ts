import { CoreV1Api } from '@kubernetes/client-node';
import type { INestApplicationContext } from '@nestjs/common';
import { HelloWorld } from '../../src/app/examples/hello-world.reconciler.js';
import { PodMirror, POD_MIRROR_NAMESPACE } from '../../src/app/examples/pod-mirror.reconciler.js';
import { installCrds, registerRemoteCluster } from '../../src/testing/index.js';
import { CapturedLogs, ManageApi, startApp, testSettings } from '../support/app.js';
import { testClusters, uniqueName } from '../support/clusters.js';
import { eventually } from '../support/poll.js';

// The README's examples, as files the build compiles, in an app against real clusters.
const clusters = testClusters();
const [remote1, remote2] = [clusters.remotes[0]!, clusters.remotes[1]!];
const manage = new ManageApi(clusters.manage.kubeConfig());
const ns = uniqueName('examples');
const shard = uniqueName('shard');
let app: INestApplicationContext;

beforeAll(async () => {
  await installCrds(manage.kc);
  await manage.namespace(ns);
  ({ app } = await startApp(
    manage.kc,
    testSettings(ns, `clusterregistry.dev/test-shard=${shard}`, { exampleReconcilers: false }),
    new CapturedLogs(),
    [PodMirror],
    { providers: [HelloWorld], remoteProviders: [{ provide: POD_MIRROR_NAMESPACE, useValue: ns }] },
  ));
  for (const remote of [remote1, remote2]) {
    await registerRemoteCluster(manage.kc, {
      name: `${shard}-${remote.name}`,
      kubeconfig: remote.kubeconfigText(),
      namespace: ns,
      labels: { 'clusterregistry.dev/test-shard': shard },
    });
  }
});

afterAll(async () => {
  await app?.close();
});

describe('the README examples', () => {
  it('hello-world: a manage reconciler creates a pod in every remote cluster through withClient', async () => {
    for (const remote of [remote1, remote2]) {
      const core = remote.kubeConfig().makeApiClient(CoreV1Api);
      const pod = await eventually(`hello-world in ${remote.name}`, () =>
        core.readNamespacedPod({ namespace: 'default', name: 'hello-world' }).catch(() => undefined),
      );
      expect(pod.spec!.containers[0]!.command).toEqual(['cowsay', 'Hello World']);
    }
  });

  it('pod-mirror: a remote reconciler keeps a ConfigMap per pod in the manage cluster, idempotently', async () => {
    const core = remote1.kubeConfig().makeApiClient(CoreV1Api);
    const pod = uniqueName('pay');
    await core.createNamespacedPod({
      namespace: 'default',
      body: {
        metadata: { name: pod, labels: { team: 'payments' } },
        spec: { containers: [{ name: 'c', image: 'x' }] },
      },
    });
    const mirrorName = `${shard}-${remote1.name}.default.${pod}`;
    const mirror = await eventually('mirror written', () =>
      manage.core.readNamespacedConfigMap({ namespace: ns, name: mirrorName }).catch(() => undefined),
    );
    expect(mirror.data).toEqual({ cluster: `${shard}-${remote1.name}`, namespace: 'default', pod, phase: 'Pending' });
    // Changed again: applied again, no conflict, still one object.
    await core.patchNamespacedPod({
      namespace: 'default',
      name: pod,
      body: [{ op: 'add', path: '/metadata/labels/again', value: 'yes' }],
    });
    await core.deleteNamespacedPod({ namespace: 'default', name: pod, gracePeriodSeconds: 0 });
    await eventually('mirror gone with its pod', () =>
      manage.core
        .readNamespacedConfigMap({ namespace: ns, name: mirrorName })
        .then(() => undefined)
        .catch((err: { code?: number }) => (err.code === 404 ? true : undefined)),
    );
    const rc = await manage.read(`${shard}-${remote1.name}`);
    expect(rc!.status!.conditions!.find((c) => c.type === 'ReconcilersHealthy')).toMatchObject({ status: 'True' });
  });
});
