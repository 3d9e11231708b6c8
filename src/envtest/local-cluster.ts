import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClusterPki, type ClusterPki } from './pki.js';
import { freePort } from './ports.js';
import { ManagedProcess } from './process.js';
import { fetchText, pollUntil } from './http.js';
import type { ControlPlaneBinaries } from './binaries.js';

/** What a test or another process needs to reach one local cluster. Written to clusters.json. */
export interface LocalClusterInfo {
  name: string;
  server: string;
  kubeconfigPath: string;
  etcdUrl: string;
  /** etcd's data directory (in memory); gone after stop. */
  dataDir: string;
  ca: { cert: string; key: string };
  admin: { cert: string; key: string };
}

export interface LocalClusterOptions {
  name: string;
  /** Holds certificates, logs and the kubeconfig; kept after stop so logs can be read. */
  dir: string;
  binaries: ControlPlaneBinaries;
  readyTimeoutMs?: number;
  /** Extra kube-apiserver flags (feature gates, audit…), appended after ours. */
  apiserverArgs?: string[];
  /** Picks a port to try; tests use it to provoke a port conflict. */
  pickPort?: () => Promise<number>;
  /** Called with the cluster before its processes start (a failed start still has them). */
  onCreated?: (cluster: LocalCluster) => void;
  /** Called whenever etcd or the apiserver (re)starts, so a watchdog knows the current pids. */
  onProcessesChanged?: () => void;
}

const PORT_ATTEMPTS = 4;
const ADDRESS_IN_USE = /address already in use/i;

/** etcd data lives in memory: fast, and nothing to fsync on a 2-core machine. */
function dataRoot(): string {
  return existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
}

/** One real control plane on 127.0.0.1: its own etcd and kube-apiserver, its own CA and an
 * admin client certificate. Nothing runs pods: no kubelet, no controller-manager. */
export class LocalCluster {
  private etcd?: ManagedProcess;
  private apiserver?: ManagedProcess;
  private etcdPort = 0;
  private apiserverPort = 0;
  private readonly dataDir: string;
  private readonly readyTimeoutMs: number;
  /** A watchdog knows the pids (LocalClusters): the processes get a group of their own, so a
   * terminal's Ctrl-C reaches only the owner, which stops them once it is done with them. */
  private readonly guarded: boolean;

  private constructor(
    private readonly options: LocalClusterOptions,
    private readonly pki: ClusterPki,
  ) {
    this.dataDir = join(dataRoot(), `clusterregistry-${options.name}-${randomBytes(4).toString('hex')}`);
    this.readyTimeoutMs = options.readyTimeoutMs ?? 60_000;
    this.guarded = options.onProcessesChanged !== undefined;
  }

  static async start(options: LocalClusterOptions): Promise<LocalCluster> {
    mkdirSync(options.dir, { recursive: true });
    const cluster = new LocalCluster(options, await createClusterPki(options.name));
    options.onCreated?.(cluster);
    cluster.writePki();
    try {
      await cluster.startEtcd();
      await cluster.startApiserver();
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    writeFileSync(cluster.kubeconfigPath, cluster.kubeconfig(), { mode: 0o600 });
    return cluster;
  }

  get name(): string {
    return this.options.name;
  }

  get server(): string {
    return `https://127.0.0.1:${this.apiserverPort}`;
  }

  get etcdUrl(): string {
    return `http://127.0.0.1:${this.etcdPort}`;
  }

  get kubeconfigPath(): string {
    return join(this.options.dir, `${this.name}.kubeconfig`);
  }

  /** Process ids of the running etcd and kube-apiserver (they change on restart). */
  get pids(): { etcd?: number; apiserver?: number } {
    return { etcd: this.etcd?.pid, apiserver: this.apiserver?.pid };
  }

  info(): LocalClusterInfo {
    return {
      name: this.name,
      server: this.server,
      kubeconfigPath: this.kubeconfigPath,
      etcdUrl: this.etcdUrl,
      dataDir: this.dataDir,
      ca: this.pki.ca,
      admin: this.pki.admin,
    };
  }

  /** A kubeconfig with everything inline (no file paths), so it can go into a Secret as is. */
  kubeconfig(user = 'admin', client = this.pki.admin): string {
    const b64 = (s: string): string => Buffer.from(s).toString('base64');
    return JSON.stringify(
      {
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [
          { name: this.name, cluster: { server: this.server, 'certificate-authority-data': b64(this.pki.ca.cert) } },
        ],
        users: [
          { name: user, user: { 'client-certificate-data': b64(client.cert), 'client-key-data': b64(client.key) } },
        ],
        contexts: [{ name: this.name, context: { cluster: this.name, user } }],
        'current-context': this.name,
      },
      null,
      2,
    );
  }

  /** Stops the apiserver and starts it again on the same port and data. Watches break,
   * the cluster's content stays. */
  async restartApiserver(): Promise<void> {
    await this.apiserver?.stop();
    await this.launchApiserver(this.apiserverPort);
  }

  /** Compacts etcd to its current revision and returns it: every older resourceVersion
   * becomes unavailable to watches served from etcd. */
  async compactEtcd(): Promise<number> {
    const range = await fetchText(`${this.etcdUrl}/v3/kv/range`, {
      body: JSON.stringify({ key: Buffer.from('/').toString('base64') }),
    });
    const revision = Number((JSON.parse(range.body) as { header: { revision: string } }).header.revision);
    const compact = await fetchText(`${this.etcdUrl}/v3/kv/compaction`, {
      body: JSON.stringify({ revision: String(revision), physical: true }),
    });
    if (compact.status !== 200)
      throw new Error(`etcd compaction of ${this.name} failed: ${compact.status} ${compact.body}`);
    return revision;
  }

  async stop(): Promise<void> {
    await this.apiserver?.stop();
    await this.etcd?.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  /** For process 'exit' handlers, where nothing asynchronous runs any more. */
  killNow(): void {
    this.apiserver?.killNow();
    this.etcd?.killNow();
    // SIGKILLed, etcd may still add a file for a moment (ENOTEMPTY): retried.
    rmSync(this.dataDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
  }

  private pickPort(): Promise<number> {
    return (this.options.pickPort ?? freePort)();
  }

  private file(name: string): string {
    return join(this.options.dir, this.name, name);
  }

  private writePki(): void {
    mkdirSync(join(this.options.dir, this.name), { recursive: true });
    const files: Record<string, string> = {
      'ca.crt': this.pki.ca.cert,
      'ca.key': this.pki.ca.key,
      'apiserver.crt': this.pki.serving.cert,
      'apiserver.key': this.pki.serving.key,
      'admin.crt': this.pki.admin.cert,
      'admin.key': this.pki.admin.key,
      'sa.key': this.pki.serviceAccount.key,
      'sa.pub': this.pki.serviceAccount.pub,
    };
    for (const [name, content] of Object.entries(files)) writeFileSync(this.file(name), content, { mode: 0o600 });
  }

  /** Retries with fresh ports when another process took a port between probe and bind. */
  private async withFreshPorts(what: string, attempt: () => Promise<ManagedProcess>): Promise<void> {
    for (let i = 1; ; i++) {
      const proc = await attempt();
      try {
        await this.waitReady(what, proc);
        return;
      } catch (err) {
        await proc.stop(2_000);
        if (i < PORT_ATTEMPTS && ADDRESS_IN_USE.test(proc.tail(50))) continue;
        throw new Error(`${(err as Error).message}\n--- last lines of ${proc.logPath} ---\n${proc.tail()}`, {
          cause: err,
        });
      }
    }
  }

  private async startEtcd(): Promise<void> {
    mkdirSync(this.dataDir, { recursive: true });
    await this.withFreshPorts('etcd', async () => {
      rmSync(this.dataDir, { recursive: true, force: true });
      this.etcdPort = await this.pickPort();
      const peer = `http://127.0.0.1:${await this.pickPort()}`;
      this.etcd = new ManagedProcess(
        `${this.name}/etcd`,
        this.options.binaries.etcd,
        [
          `--name=${this.name}`,
          `--data-dir=${this.dataDir}`,
          `--listen-client-urls=${this.etcdUrl}`,
          `--advertise-client-urls=${this.etcdUrl}`,
          `--listen-peer-urls=${peer}`,
          `--initial-advertise-peer-urls=${peer}`,
          `--initial-cluster=${this.name}=${peer}`,
          '--unsafe-no-fsync=true',
          '--log-level=warn',
        ],
        this.file('etcd.log'),
        this.guarded,
      );
      this.etcd.start();
      this.options.onProcessesChanged?.();
      return this.etcd;
    });
  }

  private async startApiserver(): Promise<void> {
    await this.withFreshPorts('kube-apiserver', async () => this.launchApiserverProcess(await this.pickPort()));
  }

  private async launchApiserver(port: number): Promise<void> {
    const proc = this.launchApiserverProcess(port);
    try {
      await this.waitReady('kube-apiserver', proc);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- last lines of ${proc.logPath} ---\n${proc.tail()}`, {
        cause: err,
      });
    }
  }

  private launchApiserverProcess(port: number): ManagedProcess {
    this.apiserverPort = port;
    // The flags controller-runtime's envtest uses, plus a fixed advertise address and no
    // endpoint reconciler (nothing here runs a kubelet or a second apiserver).
    this.apiserver = new ManagedProcess(
      `${this.name}/kube-apiserver`,
      this.options.binaries.kubeApiserver,
      [
        `--etcd-servers=${this.etcdUrl}`,
        '--advertise-address=127.0.0.1',
        '--bind-address=127.0.0.1',
        `--secure-port=${port}`,
        `--cert-dir=${this.file('')}`,
        `--tls-cert-file=${this.file('apiserver.crt')}`,
        `--tls-private-key-file=${this.file('apiserver.key')}`,
        `--client-ca-file=${this.file('ca.crt')}`,
        `--service-account-key-file=${this.file('sa.pub')}`,
        `--service-account-signing-key-file=${this.file('sa.key')}`,
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        '--service-cluster-ip-range=10.0.0.0/24',
        '--allow-privileged=true',
        '--authorization-mode=RBAC',
        '--disable-admission-plugins=ServiceAccount',
        '--endpoint-reconciler-type=none',
        ...(this.options.apiserverArgs ?? []),
      ],
      this.file('kube-apiserver.log'),
      this.guarded,
    );
    this.apiserver.start();
    this.options.onProcessesChanged?.();
    return this.apiserver;
  }

  private async waitReady(what: string, proc: ManagedProcess): Promise<void> {
    const isApiserver = what === 'kube-apiserver';
    await pollUntil(
      `${this.name}: ${what}`,
      async () => {
        if (!isApiserver) return (await fetchText(`${this.etcdUrl}/health`, { timeoutMs: 2_000 })).status === 200;
        const res = await fetchText(`${this.server}/readyz`, {
          ca: this.pki.ca.cert,
          cert: this.pki.admin.cert,
          key: this.pki.admin.key,
          timeoutMs: 5_000,
        });
        return res.status === 200;
      },
      {
        timeoutMs: this.readyTimeoutMs,
        intervalMs: 250,
        abortIf: () => (proc.exit ? `exited early (code ${proc.exit.code}, signal ${proc.exit.signal})` : undefined),
      },
    );
  }
}
