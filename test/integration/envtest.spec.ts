import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiException, CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { packageRoot, resolveControlPlaneBinaries } from '../../src/envtest/binaries.js';
import { installCrd } from '../../src/envtest/crd.js';
import { fetchText } from '../../src/envtest/http.js';
import { LocalCluster } from '../../src/envtest/local-cluster.js';
import { freePort } from '../../src/envtest/ports.js';
import { testClusters, uniqueName } from '../support/clusters.js';
import { widgetCrd } from '../support/crds.js';
import { eventually } from '../support/poll.js';

const clusters = testClusters();

async function status(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return 200;
  } catch (err) {
    if (err instanceof ApiException) return err.code;
    throw err;
  }
}

describe('local control planes', () => {
  const ns = uniqueName('harness');

  it('runs three separate clusters, each with its own namespace and ConfigMap', async () => {
    for (const cluster of clusters.all) {
      const core = cluster.kubeConfig().makeApiClient(CoreV1Api);
      await core.createNamespace({ body: { metadata: { name: ns } } });
      await core.createNamespacedConfigMap({
        namespace: ns,
        body: { metadata: { name: 'owner' }, data: { cluster: cluster.name } },
      });
    }
    for (const cluster of clusters.all) {
      const core = cluster.kubeConfig().makeApiClient(CoreV1Api);
      const cm = await core.readNamespacedConfigMap({ namespace: ns, name: 'owner' });
      // Each cluster holds its own object, written by its own client: the stores are separate.
      expect(cm.data).toEqual({ cluster: cluster.name });
    }
    const servers = new Set(clusters.all.map((c) => c.info.server));
    expect(servers.size).toBe(clusters.all.length);
  });

  it('keeps an object of one cluster out of the others', async () => {
    const [first, ...others] = clusters.all;
    const name = uniqueName('only-here');
    await first!
      .kubeConfig()
      .makeApiClient(CoreV1Api)
      .createNamespace({ body: { metadata: { name } } });
    expect(await status(first!.kubeConfig().makeApiClient(CoreV1Api).readNamespace({ name }))).toBe(200);
    for (const other of others) {
      expect(await status(other.kubeConfig().makeApiClient(CoreV1Api).readNamespace({ name }))).toBe(404);
    }
  });

  it('establishes a CRD and serves its custom objects', async () => {
    const cluster = clusters.remotes[0]!;
    const kc: KubeConfig = cluster.kubeConfig();
    const group = `${uniqueName('harness')}.example.com`;
    await installCrd(kc, widgetCrd(group));
    const objects = kc.makeApiClient(CustomObjectsApi);
    await objects.createNamespacedCustomObject({
      group,
      version: 'v1',
      namespace: ns,
      plural: 'widgets',
      body: { apiVersion: `${group}/v1`, kind: 'Widget', metadata: { name: 'w1' }, spec: { size: 3 } },
    });
    const read = (await objects.getNamespacedCustomObject({
      group,
      version: 'v1',
      namespace: ns,
      plural: 'widgets',
      name: 'w1',
    })) as {
      spec: { size: number };
    };
    expect(read.spec.size).toBe(3);
    // Installing the same CRD again replaces it and still waits for Established.
    await installCrd(kc, widgetCrd(group));
  });

  it('restarts one apiserver and keeps its content', async () => {
    const cluster = clusters.remotes[1]!;
    const core = cluster.kubeConfig().makeApiClient(CoreV1Api);
    const before = await core.readNamespacedConfigMap({ namespace: ns, name: 'owner' });
    await cluster.restartApiserver();
    const after = await cluster
      .kubeConfig()
      .makeApiClient(CoreV1Api)
      .readNamespacedConfigMap({ namespace: ns, name: 'owner' });
    expect(after.metadata?.uid).toBe(before.metadata?.uid);
    expect(after.data).toEqual({ cluster: cluster.name });
  });

  it('compacts etcd: a resourceVersion from before is gone afterwards', async () => {
    const cluster = clusters.remotes[0]!;
    const core = cluster.kubeConfig().makeApiClient(CoreV1Api);
    const cm = await core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: 'compact-me' }, data: { v: '1' } },
    });
    const oldVersion = cm.metadata!.resourceVersion!;
    await core.replaceNamespacedConfigMap({ namespace: ns, name: 'compact-me', body: { ...cm, data: { v: '2' } } });
    const revision = await cluster.compactEtcd();
    expect(revision).toBeGreaterThan(Number(oldVersion));
    // etcd itself refuses the old revision now…
    const range = await fetchText(`${cluster.info.etcdUrl}/v3/kv/range`, {
      body: JSON.stringify({ key: Buffer.from('/').toString('base64'), revision: oldVersion }),
    });
    expect(range.body).toMatch(/required revision has been compacted/);
    // …and once the apiserver's watch cache no longer covers it (after a restart), so does
    // the apiserver: an exact read at that resourceVersion is 410 Gone.
    await cluster.restartApiserver();
    const fresh = cluster.kubeConfig().makeApiClient(CoreV1Api);
    expect(
      await status(
        fresh.listNamespacedConfigMap({ namespace: ns, resourceVersion: oldVersion, resourceVersionMatch: 'Exact' }),
      ),
    ).toBe(410);
  });
});

describe('LocalCluster start-up failures', () => {
  it('retries a port another process took between probe and bind', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cr-port-'));
    const squatter: Server = createServer();
    await new Promise<void>((r) => squatter.listen(0, '127.0.0.1', r));
    const taken = (squatter.address() as { port: number }).port;
    let calls = 0;
    const cluster = await LocalCluster.start({
      name: 'port-race',
      dir,
      binaries: await resolveControlPlaneBinaries(),
      // The first port handed out is busy: etcd fails to bind it and must be retried.
      pickPort: async () => (++calls === 1 ? taken : freePort()),
    });
    try {
      expect(calls).toBeGreaterThan(3);
      expect(cluster.etcdUrl).not.toContain(`:${taken}`);
      expect(readFileSync(join(dir, 'port-race', 'etcd.log'), 'utf8')).toMatch(/address already in use/);
      expect(cluster.info().server).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    } finally {
      await cluster.stop();
      squatter.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails with the tail of the apiserver log when the apiserver cannot start', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cr-bad-'));
    try {
      await expect(
        LocalCluster.start({
          name: 'bad-flag',
          dir,
          binaries: await resolveControlPlaneBinaries(),
          apiserverArgs: ['--no-such-flag=1'],
        }),
      ).rejects.toThrow(/exited early[\s\S]*kube-apiserver\.log[\s\S]*unknown flag: --no-such-flag/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** Processes whose command line names `needle` (our etcd data dirs and cluster dirs are unique). */
/** The program a process runs, for a message; '?' once it is gone. */
function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0] ?? '?';
  } catch {
    return '?';
  }
}

function processesMentioning(needle: string): number[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(needle);
      } catch {
        return false;
      }
    })
    .map(Number);
}

function runCli(args: string[], env: NodeJS.ProcessEnv = {}) {
  const child = spawn(process.execPath, [join(packageRoot(), 'dist', 'src', 'envtest', 'cli.js'), ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

describe('npm run clusters -- up', () => {
  it('starts clusters in the foreground and leaves no process behind after SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cr-cli-'));
    try {
      const cli = runCli(['up', '--count', '2', '--dir', dir]);
      await eventually('clusters ready', () => (/ready in/.test(cli.output()) ? true : undefined), 90_000, 100);
      expect(cli.output()).toMatch(/^manage\s+https:\/\/127\.0\.0\.1:\d+/m);
      expect(cli.output()).toMatch(/^remote-1\s+https:\/\/127\.0\.0\.1:\d+/m);
      const manifest = JSON.parse(readFileSync(join(dir, 'clusters.json'), 'utf8')) as {
        clusters: { dataDir: string }[];
      };
      expect(manifest.clusters).toHaveLength(2);
      const started = manifest.clusters.flatMap((c) => processesMentioning(c.dataDir)).concat(processesMentioning(dir));
      // One etcd and one apiserver per cluster, plus the CLI itself (its argv names the dir).
      expect(started.length).toBeGreaterThanOrEqual(5);

      cli.child.kill('SIGTERM');
      expect(await cli.exited).toBe(0);
      const left = manifest.clusters.flatMap((c) => processesMentioning(c.dataDir)).concat(processesMentioning(dir));
      expect(left).toEqual([]);
      for (const c of manifest.clusters) expect(() => readdirSync(c.dataDir)).toThrow();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('exits non-zero with the apiserver log tail when an apiserver fails to start', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cr-cli-bad-'));
    try {
      const cli = runCli(['up', '--count', '1', '--dir', dir], { CLUSTERREGISTRY_APISERVER_ARGS: '--no-such-flag=1' });
      expect(await cli.exited).toBe(1);
      expect(cli.output()).toMatch(/unknown flag: --no-such-flag/);
      expect(processesMentioning(dir)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the testing kit leaves nothing behind when a test run is interrupted', () => {
  /** A process that starts one cluster through the kit, as a user's jest global setup does. */
  function runKit() {
    const kit = join(packageRoot(), 'dist', 'src', 'testing', 'index.js');
    const script = `import(${JSON.stringify(kit)}).then(async (k) => {
      await k.setupTestClusters({ count: 1 });
      console.log('READY ' + process.env.CLUSTERREGISTRY_TEST_CLUSTERS);
      setInterval(() => undefined, 60_000);
    });`;
    const env = { ...process.env };
    delete env.CLUSTERREGISTRY_TEST_CLUSTERS;
    const child = spawn(process.execPath, ['-e', script], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    return { child, output: () => out, exited };
  }

  it.each(['SIGINT', 'SIGKILL'] as const)('after %s of the runner: no process, no data, no files', async (signal) => {
    const kit = runKit();
    const ready = await eventually('clusters ready', () => /READY (\S+)/.exec(kit.output())?.[1], 90_000, 100);
    const manifest = JSON.parse(readFileSync(ready, 'utf8')) as { clusters: { dataDir: string }[] };
    const dataDir = manifest.clusters[0]!.dataDir;
    const runDir = join(ready, '..');
    // etcd and kube-apiserver, both named by the data dir or the run dir.
    expect(processesMentioning(dataDir).length + processesMentioning(runDir).length).toBeGreaterThanOrEqual(2);

    const killed = Date.now();
    kit.child.kill(signal);
    await kit.exited;
    const left = (): string[] => [
      ...[...processesMentioning(dataDir), ...processesMentioning(runDir)].map(
        (pid) => `pid ${pid} (${commandOf(pid)})`,
      ),
      ...(existsSync(dataDir) ? [`data dir (${readdirSync(dataDir, { recursive: true }).length} entries)`] : []),
      ...(existsSync(runDir) ? ['run dir'] : []),
    ];
    // Say what is left when it times out.
    await eventually('nothing left', () => (left().length === 0 ? true : undefined), 10_000, 50).catch((err: Error) => {
      throw new Error(`${err.message}; left: ${left().join(', ')}`);
    });
    process.stderr.write(`[figures] testing kit: ${signal} to nothing left in ${Date.now() - killed} ms\n`);
  });
});
