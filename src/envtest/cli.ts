import { parseArgs } from 'node:util';
import { ControlServer } from './control-server.js';
import { LocalClusters } from './local-clusters.js';

const USAGE = `usage: npm run clusters -- up --count N --dir DIR

Starts N real Kubernetes control planes on 127.0.0.1 (a manage cluster and N-1 remote
clusters), writes DIR/manage.kubeconfig, DIR/remote-1.kubeconfig … and DIR/clusters.json,
and stays in the foreground until SIGINT or SIGTERM, which stops every process it started.

Environment: KUBEBUILDER_ASSETS (use these binaries), CLUSTERREGISTRY_APISERVER_ARGS (extra flags).`;

async function up(count: number, dir: string): Promise<void> {
  const started = Date.now();
  // Extra apiserver flags for everyone's clusters, e.g. feature gates.
  const apiserverArgs = (process.env.CLUSTERREGISTRY_APISERVER_ARGS ?? '').split(/\s+/).filter(Boolean);
  const clusters = await LocalClusters.up({ count, dir, apiserverArgs });
  // Whatever happens from here on, no etcd or apiserver outlives this process.
  process.on('exit', () => clusters.killNow());
  const control = await ControlServer.listen(clusters);
  clusters.writeManifest({ url: control.url, token: control.token });

  for (const c of clusters.clusters) {
    console.log(`${c.name.padEnd(10)} ${c.server}  kubectl --kubeconfig ${c.kubeconfigPath} get ns`);
  }
  console.log(
    `ready in ${((Date.now() - started) / 1000).toFixed(1)} s; manifest ${clusters.manifestPath}; Ctrl-C stops`,
  );

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: stopping ${clusters.clusters.length} clusters`);
    void Promise.all([control.close(), clusters.down()]).then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

async function main(argv: string[]): Promise<void> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      count: { type: 'string', default: '3' },
      dir: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help || positionals[0] !== 'up' || !values.dir) {
    console.error(USAGE);
    process.exit(values.help ? 0 : 2);
  }
  await up(Number(values.count), values.dir);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(`clusters: ${(err as Error).message}`);
  process.exit(1);
});
