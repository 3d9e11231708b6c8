import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolveControlPlaneBinaries, type ControlPlaneBinaries } from './binaries.js';
import { LocalCluster, type LocalClusterInfo } from './local-cluster.js';
import { Watchdog } from './watchdog.js';

/** What clusters.json holds: enough for another process (a jest worker, a shell) to use them. */
export interface ClustersManifest {
  clusters: LocalClusterInfo[];
  /** Control endpoint for restarting apiservers and compacting etcd from other processes. */
  control?: { url: string; token: string };
}

export const MANAGE = 'manage';

/** Cluster names as the CLI and the tests use them: manage, remote-1 … remote-(N-1). */
export function clusterNames(count: number): string[] {
  return Array.from({ length: count }, (_, i) => (i === 0 ? MANAGE : `remote-${i}`));
}

export interface LocalClustersOptions {
  count: number;
  dir: string;
  binaries?: ControlPlaneBinaries;
  readyTimeoutMs?: number;
  apiserverArgs?: string[];
  /** Remove `dir` too (certificates, logs) if the owning process dies without stopping them. */
  removeDirIfOrphaned?: boolean;
}

/** A manage cluster and N-1 remote clusters, started in parallel. Whatever happens to the
 * process that started them, they do not outlive it (see Watchdog). */
export class LocalClusters {
  private constructor(
    readonly dir: string,
    readonly clusters: LocalCluster[],
    private readonly watchdog: Watchdog,
  ) {}

  static async up(options: LocalClustersOptions): Promise<LocalClusters> {
    if (!Number.isInteger(options.count) || options.count < 1)
      throw new Error(`--count must be 1 or more, got ${options.count}`);
    mkdirSync(options.dir, { recursive: true });
    const binaries = options.binaries ?? (await resolveControlPlaneBinaries());
    const watchdog = new Watchdog(join(options.dir, 'watchdog.json'));
    const starting: LocalCluster[] = [];
    const guard = (): void => {
      watchdog.update({
        pids: starting.flatMap((c) => [c.pids.etcd, c.pids.apiserver]).filter((p): p is number => p !== undefined),
        dirs: [...starting.map((c) => c.info().dataDir), ...(options.removeDirIfOrphaned ? [options.dir] : [])],
      });
    };
    const results = await Promise.allSettled(
      clusterNames(options.count).map((name) =>
        LocalCluster.start({
          name,
          dir: options.dir,
          binaries,
          readyTimeoutMs: options.readyTimeoutMs,
          apiserverArgs: options.apiserverArgs,
          onCreated: (cluster) => starting.push(cluster),
          onProcessesChanged: guard,
        }),
      ),
    );
    const started = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
    if (failures.length > 0) {
      await Promise.all(started.map((c) => c.stop()));
      watchdog.dismiss();
      throw new Error(failures.map((e) => e.message).join('\n\n'));
    }
    const set = new LocalClusters(options.dir, started, watchdog);
    set.writeManifest();
    return set;
  }

  get manifestPath(): string {
    return join(this.dir, 'clusters.json');
  }

  get(name: string): LocalCluster {
    const cluster = this.clusters.find((c) => c.name === name);
    if (!cluster) throw new Error(`no local cluster named ${name}`);
    return cluster;
  }

  manifest(control?: ClustersManifest['control']): ClustersManifest {
    return { clusters: this.clusters.map((c) => c.info()), control };
  }

  writeManifest(control?: ClustersManifest['control']): void {
    writeFileSync(this.manifestPath, JSON.stringify(this.manifest(control), null, 2), { mode: 0o600 });
  }

  async down(): Promise<void> {
    await Promise.all(this.clusters.map((c) => c.stop()));
    this.watchdog.dismiss();
  }

  /** For process 'exit' and signal handlers, where nothing asynchronous runs any more. */
  killNow(): void {
    for (const c of this.clusters) c.killNow();
    this.watchdog.dismiss();
  }
}
