import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { packageRoot } from '../../src/envtest/binaries.js';
import { installCrds } from '../../src/testing/index.js';
import { ManageApi, waitOutput, watchProcess, type MainProcess } from '../support/app.js';
import { testClusters, uniqueName } from '../support/clusters.js';
import { eventually } from '../support/poll.js';

// The package as a user gets it: npm pack, a fresh NestJS app, the tarball and its peers from the
// registry, user code compiled with tsc (strict) against the public entry points only, run
// against the real clusters, and the user app's own jest test with clusterregistry/testing.
const clusters = testClusters();
const [remote1, remote2] = [clusters.remotes[0]!, clusters.remotes[1]!];
const manage = new ManageApi(clusters.manage.kubeConfig());
const root = packageRoot();
const work = mkdtempSync(join(tmpdir(), 'cr-user-app-'));
const app = join(work, 'app');
const ns = uniqueName('userapp');
const shard = uniqueName('shard');

interface Ran {
  code: number | null;
  output: string;
}

function run(
  command: string,
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv = {},
  timeoutMs = 300_000,
): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

function expectSuccess(ran: Ran, what: string): void {
  if (ran.code !== 0) throw new Error(`${what} exited ${ran.code}:\n${ran.output.slice(-4000)}`);
}

/** Every installed copy of a package in the app, nested ones included. */
function copiesOf(name: string, dir = join(app, 'node_modules')): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const path = join(dir, entry.name);
    if (entry.name.startsWith('@')) {
      for (const scoped of readdirSync(path, { withFileTypes: true })) {
        const full = join(path, scoped.name);
        if (`${entry.name}/${scoped.name}` === name) found.push(full);
        if (scoped.isDirectory()) found.push(...nested(full));
      }
    } else {
      if (entry.name === name) found.push(path);
      found.push(...nested(path));
    }
  }
  return found;

  function nested(pkg: string): string[] {
    try {
      return copiesOf(name, join(pkg, 'node_modules'));
    } catch {
      return [];
    }
  }
}

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('the package, installed into a fresh NestJS app', () => {
  let tarball = '';
  let userApp: MainProcess | undefined;

  afterAll(async () => {
    if (userApp && userApp.child.exitCode === null) {
      userApp.child.kill('SIGKILL');
      await userApp.exited;
    }
  });

  it('packs exactly what users need', async () => {
    const packed = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], root);
    expectSuccess(packed, 'npm pack');
    const [info] = JSON.parse(packed.output.slice(packed.output.indexOf('['))) as {
      filename: string;
      size: number;
      entryCount: number;
      files: { path: string }[];
    }[];
    tarball = join(work, info!.filename);
    const paths = info!.files.map((f) => f.path);
    expect(paths).toEqual(
      expect.arrayContaining(['package.json', 'README.md', 'dist/src/index.js', 'dist/src/index.d.ts']),
    );
    expect(paths).toEqual(expect.arrayContaining(['dist/src/testing/index.js', 'dist/src/testing/index.d.ts']));
    expect(paths).toEqual(expect.arrayContaining(['scripts/controlplane-binaries.sh', 'deploy/crd.yaml']));
    // Sources, tests, benchmarks and maps are not shipped.
    expect(paths.filter((p) => /^(src|test|bench)\/|\.map$|^dist\/bench/.test(p))).toEqual([]);
    process.stderr.write(
      `[figures] npm pack: ${info!.filename}, ${(info!.size / 1024).toFixed(1)} kB, ${info!.entryCount} files\n`,
    );
  });

  it('installs with its peers, one @nestjs/core, and compiles user code with tsc --strict', async () => {
    cpSync(join(root, 'test', 'fixtures', 'user-app'), app, { recursive: true });
    // The README's examples, exactly as a user would have them: imports from the package.
    for (const file of ['pod-mirror.reconciler.ts', 'hello-world.reconciler.ts']) {
      const source = readFileSync(join(root, 'src', 'app', 'examples', file), 'utf8');
      writeFileSync(join(app, 'src', file), source.replaceAll("'../../index.js'", "'clusterregistry'"));
    }
    const manifest = JSON.parse(readFileSync(join(app, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    manifest.dependencies.clusterregistry = `file:${tarball}`;
    writeFileSync(join(app, 'package.json'), JSON.stringify(manifest, null, 2));
    const started = Date.now();
    const installed = await run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], app);
    expectSuccess(installed, 'npm install');
    process.stderr.write(`[figures] npm install of the user app: ${((Date.now() - started) / 1000).toFixed(1)} s\n`);

    const cores = copiesOf('@nestjs/core');
    expect(cores).toEqual([join(app, 'node_modules', '@nestjs', 'core')]);
    expect((JSON.parse(readFileSync(join(cores[0]!, 'package.json'), 'utf8')) as { version: string }).version).toBe(
      '12.4.2',
    );

    const built = await run(
      process.execPath,
      [join(app, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'],
      app,
    );
    expectSuccess(built, 'tsc');
    expect(statSync(join(app, 'dist', 'src', 'main.js')).isFile()).toBe(true);
  });

  it('tells a user on a Node.js older than 22.19 so at import, before any dependency fails', async () => {
    for (const entry of ['clusterregistry', 'clusterregistry/testing']) {
      const script = `Object.defineProperty(process.versions, 'node', { value: '20.20.2' });
        import(${JSON.stringify(entry)}).then(() => console.log('loaded'), (err) => console.log('ERROR ' + err.message));`;
      const ran = await run(process.execPath, ['-e', script], app);
      expect(ran.output.trim()).toBe(
        'ERROR clusterregistry needs Node.js 22.19 or newer (its Kubernetes client requires it); this is Node.js 20.20.2',
      );
    }
  });

  it("bundles the installed package's app (the Dockerfile's bundle step) and runs it without node_modules", async () => {
    const image = join(work, 'image');
    const entry = join(app, 'node_modules', 'clusterregistry', 'dist', 'src', 'main.js');
    expectSuccess(await run(process.execPath, [join(root, 'scripts', 'bundle-app.mjs'), entry, image], app), 'bundle');
    await installCrds(manage.kc);
    // The kubeconfig as the testing kit writes it (inline credentials), and the same with its
    // credentials in files, which the app reads through client-node: loaded only then, from the
    // bundle's own client-node.mjs.
    const inline = clusters.manage.kubeconfigText();
    const files = JSON.parse(inline) as {
      clusters: { cluster: Record<string, string> }[];
      users: { user: Record<string, string> }[];
    };
    const toFile = (fields: Record<string, string>, key: string, name: string): void => {
      const path = join(work, name);
      writeFileSync(path, Buffer.from(fields[`${key}-data`]!, 'base64'), { mode: 0o600 });
      delete fields[`${key}-data`];
      fields[key] = path;
    };
    toFile(files.clusters[0]!.cluster, 'certificate-authority', 'bundle-ca.crt');
    toFile(files.users[0]!.user, 'client-certificate', 'bundle-admin.crt');
    toFile(files.users[0]!.user, 'client-key', 'bundle-admin.key');
    for (const [kind, text, source] of [
      ['inline', inline, /manage cluster from kubeconfig \S+"/],
      ['files', JSON.stringify(files), /manage cluster from kubeconfig \S+ \(through client-node\)/],
    ] as const) {
      const kubeconfigPath = join(work, `bundle-${kind}.kubeconfig`);
      writeFileSync(kubeconfigPath, text, { mode: 0o600 });
      // Outside the install (no node_modules above it), as in the image.
      const child = spawn(process.execPath, [join(image, 'main.mjs')], {
        cwd: image,
        env: {
          PATH: process.env.PATH ?? '',
          KUBECONFIG: kubeconfigPath,
          PROBE_PORT: '0',
          METRICS_PORT: '0',
          BIND_ADDRESS: '127.0.0.1',
          LEADER_ELECTION: 'false',
          REMOTECLUSTER_SELECTOR: `shard=${uniqueName('image')}`,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const bundled = watchProcess(child);
      const running = (): boolean => child.exitCode === null && child.signalCode === null;
      try {
        await waitOutput(bundled, /ready: released the boot's memory/);
        child.kill('SIGTERM');
        // Its own shutdown bound is 20 s; only a process still running after this is killed.
        await eventually(`${kind}: exited after SIGTERM`, () => (running() ? undefined : true), 30_000);
      } finally {
        if (running()) child.kill('SIGKILL');
      }
      expect({ kind, exit: (await bundled.exited).code }).toEqual({ kind, exit: 0 });
      expect(bundled.output()).toMatch(/"msg":"stopped"/);
      expect(bundled.output()).toMatch(source);
    }
  });

  it('runs against the real clusters: a manage reconciler reaches the remotes, a remote one writes back', async () => {
    await installCrds(manage.kc);
    await manage.namespace(ns);
    const kubeconfigPath = join(work, 'manage.kubeconfig');
    writeFileSync(kubeconfigPath, clusters.manage.kubeconfigText(), { mode: 0o600 });
    // Other tests may have made the seed's pod already: start from none, so this app must make it.
    for (const remote of [remote1, remote2]) {
      await remote
        .kubeConfig()
        .makeApiClient(CoreV1Api)
        .deleteNamespacedPod({ namespace: 'default', name: 'hello-world', gracePeriodSeconds: 0 })
        .catch(() => undefined);
    }
    const child = spawn(process.execPath, [join(app, 'dist', 'src', 'main.js')], {
      cwd: app,
      env: {
        PATH: process.env.PATH ?? '',
        KUBECONFIG: kubeconfigPath,
        APP_NAMESPACE: ns,
        APP_SELECTOR: `clusterregistry.dev/test-shard=${shard}`,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    userApp = watchProcess(child);
    await waitOutput(userApp, /user app started/);

    for (const remote of [remote1, remote2]) {
      const name = `${shard}-${remote.name}`;
      await manage.putSecret(ns, name, { kubeconfig: remote.kubeconfigText() });
      await manage.createRemoteCluster(
        name,
        { 'clusterregistry.dev/test-shard': shard },
        { namespace: ns, name, key: 'kubeconfig' },
      );
      await manage.ready(name, 'True', 'Synced');
      // Manage reconciler → remote cluster, through withClient.
      await eventually(`hello-world in ${remote.name}`, () =>
        remote
          .kubeConfig()
          .makeApiClient(CoreV1Api)
          .readNamespacedPod({ namespace: 'default', name: 'hello-world' })
          .catch(() => undefined),
      );
    }
    // Remote reconciler → manage cluster, through MANAGE_CLIENT.
    const pod = uniqueName('pay');
    await remote2
      .kubeConfig()
      .makeApiClient(CoreV1Api)
      .createNamespacedPod({
        namespace: 'default',
        body: {
          metadata: { name: pod, labels: { team: 'payments' } },
          spec: { containers: [{ name: 'c', image: 'x' }] },
        },
      });
    const mirror = await eventually('mirror in the manage cluster', () =>
      manage.core
        .readNamespacedConfigMap({ namespace: ns, name: `${shard}-${remote2.name}.default.${pod}` })
        .catch(() => undefined),
    );
    expect(mirror.data).toMatchObject({ cluster: `${shard}-${remote2.name}`, pod });

    child.kill('SIGTERM');
    expect(await userApp.exited).toEqual({ code: 0, signal: null });
    const out = userApp.output();
    const lines = out.trim().split('\n');
    process.stderr.write(
      `[figures] the user app's output (${lines.length} lines):\n${lines.map((l) => `  ${l}`).join('\n')}\n`,
    );
    expect(out).not.toMatch(/BUG:|"level":"error"/);
  });

  it("passes the user app's own jest test, which uses clusterregistry/testing", async () => {
    const tested = await run(
      process.execPath,
      ['--experimental-vm-modules', join(app, 'node_modules', 'jest', 'bin', 'jest.js')],
      app,
    );
    expectSuccess(tested, "the user app's jest");
    expect(tested.output).toMatch(/Tests:\s+2 passed, 2 total/);
  });
});
