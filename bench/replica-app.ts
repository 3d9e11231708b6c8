// One replica of the ready-made app as a process, with reconcilers that let a test or a bench see
// what it did: the app of src/main.ts (settings from the environment, the RemoteCluster
// controller, sharding, probes, /metrics) plus, in every remote cluster context:
//   - RECORD_FILE: every reconcile of a pod in RECORD_NAMESPACE appends a start line and an end
//     line (JSON, written synchronously so a SIGKILL loses nothing that happened before it):
//     {"e":"S"|"E","r":replica,"c":cluster,"k":key,"i":id,"t":ms since the epoch, sub-ms}. Each
//     reconcile lasts RECONCILE_MS (a sleep that ends when the reconcile is aborted); every pod is
//     requeued every RECORD_RESYNC_MS.
//   - SUMMARY_NAMESPACE: a ConfigMap soak-<cluster> in the manage cluster whose data is, for every
//     pod in RECORD_NAMESPACE, its `gen` label: what the reconciler last saw, level-triggered.
// With an IPC channel (a bench), {"type":"stats"} is answered with heap after gc, RSS, open
// sockets, active handles, live timers (unref'd ones too, counted with async_hooks) by where they
// were created, process listeners, the number of cluster runtimes running and of shards held.
// Used by test/integration/sharding-process.spec.ts (fencing) and bench/soak.ts (endurance).
import 'reflect-metadata';
import { createHook } from 'node:async_hooks';
import { appendFileSync } from 'node:fs';
import { Inject } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ApiException, CoreV1Api } from '@kubernetes/client-node';
import { AppModule } from '../src/app/app.module.js';
import { manageKubeConfig } from '../src/app/manage-config.js';
import { ProbeServer } from '../src/app/probe.server.js';
import { loadSettings } from '../src/app/settings.js';
import {
  boundedName,
  CLUSTER_NAME,
  exitOnSignals,
  JsonLogger,
  MANAGE_CLIENT,
  Reconciler,
  RemoteClusterRegistry,
  reportUnhandledErrors,
  RUN_GATE,
  ShardCoordinator,
  type RunGate,
  type ClusterClient,
  type Reconcile,
  type ReconcileContext,
  type ReconcileRequest,
  type ReconcilerOptions,
} from '../src/index.js';
import { sleep } from '../src/util/abort.js';
import { activeResources, gc, openSockets, processListeners } from './support.js';

interface ReplicaConfig {
  replica: string;
  recordFile?: string;
  namespace: string;
  reconcileMs: number;
  resyncMs?: number;
  summaryNamespace?: string;
}

const REPLICA_CONFIG = Symbol('REPLICA_CONFIG');
let sequence = 0;

const now = (): number => performance.timeOrigin + performance.now();

@Reconciler({ apiVersion: 'v1', kind: 'Pod', name: 'fence-recorder', concurrency: 2, timeoutMs: 10_000 })
class FenceRecorder implements Reconcile {
  constructor(
    @Inject(REPLICA_CONFIG) private readonly config: ReplicaConfig,
    @Inject(CLUSTER_NAME) private readonly cluster: string,
  ) {}

  reconcilerOptions(): Partial<ReconcilerOptions> {
    return { namespace: this.config.namespace, resyncMs: this.config.resyncMs };
  }

  async reconcile(request: ReconcileRequest, ctx: ReconcileContext): Promise<void> {
    const { recordFile, replica, reconcileMs } = this.config;
    if (!recordFile) return;
    const id = ++sequence;
    const line = (e: 'S' | 'E'): string =>
      `${JSON.stringify({ e, r: replica, c: this.cluster, k: `${request.namespace}/${request.name}`, i: id, t: now() })}\n`;
    appendFileSync(recordFile, line('S'));
    try {
      await sleep(reconcileMs, ctx.signal);
    } finally {
      appendFileSync(recordFile, line('E'));
    }
  }
}

@Reconciler({ apiVersion: 'v1', kind: 'Pod', name: 'soak-summary', concurrency: 1 })
class SoakSummary implements Reconcile {
  private written?: string;

  constructor(
    @Inject(REPLICA_CONFIG) private readonly config: ReplicaConfig,
    @Inject(CLUSTER_NAME) private readonly cluster: string,
    @Inject(MANAGE_CLIENT) private readonly manage: ClusterClient,
  ) {}

  reconcilerOptions(): Partial<ReconcilerOptions> {
    return { namespace: this.config.namespace };
  }

  async reconcile(_request: ReconcileRequest, ctx: ReconcileContext): Promise<void> {
    const namespace = this.config.summaryNamespace;
    if (!namespace) return;
    const data: Record<string, string> = {};
    for (const pod of ctx.cache.list()) data[pod.metadata!.name!] = pod.metadata?.labels?.gen ?? '';
    const serialized = JSON.stringify(Object.entries(data).sort());
    if (serialized === this.written) return;
    const name = boundedName(`soak-${this.cluster}`, 253);
    const body = { metadata: { name, labels: { 'clusterregistry.dev/soak': 'yes' } }, data };
    const core = this.manage.withSignal(ctx.signal).api(CoreV1Api);
    try {
      await core.replaceNamespacedConfigMap({ namespace, name, body });
    } catch (err) {
      if (!(err instanceof ApiException && err.code === 404)) throw err;
      await core.createNamespacedConfigMap({ namespace, body });
    }
    this.written = serialized;
  }
}

/**
 * Live Timeout objects, unref'd ones included (getActiveResourcesInfo lists ref'd ones only), each
 * with where it was created: the first frame outside node's own code and this hook. A soak that
 * sees timers grow can say whose.
 */
function countTimers(): () => Record<string, number> {
  const live = new Map<number, string>();
  const origin = (): string => {
    const holder: { stack?: string } = {};
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 12;
    Error.captureStackTrace(holder);
    Error.stackTraceLimit = limit;
    const frames = (holder.stack ?? '').split('\n').slice(1);
    const frame = frames.find((f) => !f.includes('node:') && !f.includes('replica-app.js'));
    const at = /\(?([^()\s]+):(\d+):\d+\)?$/.exec(frame?.trim() ?? '');
    if (!at) return 'node internals';
    const file = at[1]!.replace(/^file:\/\//, '');
    const short = file.includes('node_modules/')
      ? file.slice(file.lastIndexOf('node_modules/') + 13)
      : file.slice(file.lastIndexOf('/dist/') + 6);
    return `${short}:${at[2]}`;
  };
  createHook({
    init(id, type) {
      if (type === 'Timeout') live.set(id, origin());
    },
    destroy(id) {
      live.delete(id);
    },
  }).enable();
  return () => {
    const byOrigin: Record<string, number> = {};
    for (const where of live.values()) byOrigin[where] = (byOrigin[where] ?? 0) + 1;
    return byOrigin;
  };
}

async function main(): Promise<void> {
  const timers = process.send ? countTimers() : undefined;
  const settings = loadSettings();
  const logger = new JsonLogger(settings.logLevel);
  reportUnhandledErrors(logger);
  const manage = manageKubeConfig();
  if (!manage) throw new Error('KUBECONFIG must name the manage cluster');
  const env = process.env;
  const config: ReplicaConfig = {
    replica: settings.identity,
    recordFile: env.RECORD_FILE || undefined,
    namespace: env.RECORD_NAMESPACE ?? 'default',
    reconcileMs: Number(env.RECONCILE_MS ?? 0),
    resyncMs: env.RECORD_RESYNC_MS ? Number(env.RECORD_RESYNC_MS) : undefined,
    summaryNamespace: env.SUMMARY_NAMESPACE || undefined,
  };
  const app = await NestFactory.createApplicationContext(
    AppModule.forRoot({
      settings,
      manageKubeConfig: manage,
      remoteReconcilers: [
        ...(config.recordFile ? [FenceRecorder] : []),
        ...(config.summaryNamespace ? [SoakSummary] : []),
      ],
      remoteProviders: [{ provide: REPLICA_CONFIG, useValue: config }],
    }),
    { logger, abortOnError: false },
  );
  exitOnSignals(app, { timeoutMs: settings.shutdownTimeoutMs, logger });
  logger.log(`probes on :${app.get(ProbeServer).port ?? 0} (/healthz, /readyz)`, 'Main');
  if (process.send) {
    process.on('message', (message: { type?: string }) => {
      if (message?.type !== 'stats') return;
      gc();
      const memory = process.memoryUsage();
      const timerOrigins = timers?.();
      const gate = app.get<RunGate>(RUN_GATE);
      process.send!({
        type: 'stats',
        heap: memory.heapUsed,
        rss: memory.rss,
        sockets: openSockets(),
        resources: activeResources(),
        listeners: processListeners(),
        timers: timerOrigins ? Object.values(timerOrigins).reduce((a, b) => a + b, 0) : undefined,
        timerOrigins,
        shards: gate instanceof ShardCoordinator ? gate.status().running.length : undefined,
        runtimes: app.get(RemoteClusterRegistry).names().length,
      });
    });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`replica: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
