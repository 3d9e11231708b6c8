import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve as resolvePath } from 'node:path';
import { packageRoot } from './binaries.js';
import { fetchText, pollUntil } from './http.js';
import { freePort } from './ports.js';
import { ManagedProcess } from './process.js';

export interface PrometheusBinaries {
  prometheus: string;
  promtool: string;
}

/**
 * Finds prometheus and promtool: PROMETHEUS_BINARIES when set, else the version-keyed cache,
 * else builds them from the Go module proxy (minutes, once). The build script's progress
 * goes to our stderr.
 */
export function resolvePrometheusBinaries(): Promise<PrometheusBinaries> {
  const script = join(packageRoot(), 'scripts', 'prometheus-binaries.sh');
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) => {
      const dir = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || !dir) {
        reject(new Error(`${script} failed (exit ${code}); see the messages above`));
        return;
      }
      resolve({ prometheus: join(dir, 'prometheus'), promtool: join(dir, 'promtool') });
    });
  });
}

/** `promtool check rules`: returns promtool's output when every file is valid, throws with it
 * otherwise. */
export async function promtoolCheckRules(files: string[], binaries?: PrometheusBinaries): Promise<string> {
  if (files.length === 0) throw new Error('promtoolCheckRules: no rule files given');
  const { promtool } = binaries ?? (await resolvePrometheusBinaries());
  return new Promise((resolve, reject) => {
    execFile(promtool, ['check', 'rules', ...files], { timeout: 60_000 }, (err, stdout, stderr) => {
      const output = `${stdout}${stderr}`.trim();
      if (err) {
        const how = err.code === undefined ? err.message : `exit ${err.code}`;
        reject(new Error(`promtool check rules failed (${how}):\n${output}`, { cause: err }));
      } else {
        resolve(output);
      }
    });
  });
}

export interface LocalPrometheusOptions {
  /** host:port of each /metrics endpoint to scrape, all in one job. */
  scrapeTargets: string[];
  /** Rule files (recording and alerting rules), loaded as they are. */
  ruleFiles?: string[];
  /** Default 1000 ms. The scrape timeout is the same. */
  scrapeIntervalMs?: number;
  /** Default 1000 ms. */
  evaluationIntervalMs?: number;
  /** The scrape job's name, the `job` label of every series. Default "clusterregistry". */
  jobName?: string;
  /** Path of the metrics endpoint on each target. Default /metrics. */
  metricsPath?: string;
  /** Where the config and the log go. Kept after stop when given (for post-mortems); otherwise
   * a temporary directory that stop() removes. */
  dir?: string;
  /** Resolved through scripts/prometheus-binaries.sh when absent. */
  binaries?: PrometheusBinaries;
  readyTimeoutMs?: number;
  /** Extra prometheus flags, appended after ours. */
  args?: string[];
  /** Picks a port to try; tests use it to provoke a port conflict. */
  pickPort?: () => Promise<number>;
}

/** One sample of an instant vector, exactly as the HTTP API returns it. */
export interface PromSample {
  metric: Record<string, string>;
  /** [unix time in seconds, value as a string ("NaN", "+Inf" are possible)]. */
  value: [number, string];
}

export interface PromAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: 'inactive' | 'pending' | 'firing';
  activeAt?: string;
  value: string;
}

export interface PromTarget {
  labels: Record<string, string>;
  scrapeUrl: string;
  health: 'up' | 'down' | 'unknown';
  lastError: string;
  lastScrape: string;
}

export interface PromRuleGroup {
  name: string;
  file: string;
  rules: Array<{
    name: string;
    type: 'alerting' | 'recording';
    health: 'ok' | 'err' | 'unknown';
    lastError?: string;
    query: string;
    state?: 'inactive' | 'pending' | 'firing';
  }>;
}

const PORT_ATTEMPTS = 4;
const ADDRESS_IN_USE = /address already in use/i;

/** The TSDB lives in memory: fast, and nothing to fsync on a 2-core machine. */
function dataRoot(): string {
  return existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
}

/** Prometheus durations: whole milliseconds, which every version parses. */
function duration(ms: number): string {
  if (!Number.isInteger(ms) || ms <= 0) throw new Error(`not a positive whole number of milliseconds: ${ms}`);
  return `${ms}ms`;
}

/**
 * A real Prometheus server on 127.0.0.1 that scrapes the given targets and evaluates the
 * given rules, with a throwaway TSDB. No Alertmanager: alerts are read from /api/v1/alerts.
 */
export class LocalPrometheus {
  private proc?: ManagedProcess;
  private port = 0;
  private stopped = false;

  private constructor(
    readonly dir: string,
    private readonly ownsDir: boolean,
    readonly dataDir: string,
    private readonly binaries: PrometheusBinaries,
    private readonly options: LocalPrometheusOptions,
  ) {}

  static async start(options: LocalPrometheusOptions): Promise<LocalPrometheus> {
    const binaries = options.binaries ?? (await resolvePrometheusBinaries());
    const ownsDir = !options.dir;
    const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'clusterregistry-prometheus-'));
    mkdirSync(dir, { recursive: true });
    const dataDir = join(dataRoot(), `clusterregistry-prometheus-${randomBytes(4).toString('hex')}`);
    const prom = new LocalPrometheus(dir, ownsDir, dataDir, binaries, options);
    try {
      prom.writeConfig();
      await prom.launch();
    } catch (err) {
      await prom.stop();
      throw err;
    }
    return prom;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  get configPath(): string {
    return join(this.dir, 'prometheus.yml');
  }

  get logPath(): string {
    return join(this.dir, 'prometheus.log');
  }

  /** The last lines of Prometheus's log, for failure messages. */
  logTail(lines = 30): string {
    return this.proc?.tail(lines) ?? '(not started)';
  }

  /** An instant query at the current time. A scalar result comes back as one sample without
   * labels; a range vector (matrix) is an error, as are PromQL errors. */
  async query(promql: string): Promise<PromSample[]> {
    const data = await this.api<{ resultType: string; result: unknown }>(
      `/api/v1/query?query=${encodeURIComponent(promql)}`,
    );
    switch (data.resultType) {
      case 'vector':
        return data.result as PromSample[];
      case 'scalar':
        return [{ metric: {}, value: data.result as [number, string] }];
      default:
        throw new Error(`query ${promql}: result type ${data.resultType}, expected an instant vector`);
    }
  }

  /** Every pending and firing alert (/api/v1/alerts). */
  async alerts(): Promise<PromAlert[]> {
    return (await this.api<{ alerts: PromAlert[] }>('/api/v1/alerts')).alerts;
  }

  /** The active scrape targets and their health (/api/v1/targets). */
  async targets(): Promise<PromTarget[]> {
    return (await this.api<{ activeTargets: PromTarget[] }>('/api/v1/targets?state=active')).activeTargets;
  }

  /** The loaded rule groups with each rule's health and last evaluation error (/api/v1/rules). */
  async rules(): Promise<PromRuleGroup[]> {
    return (await this.api<{ groups: PromRuleGroup[] }>('/api/v1/rules')).groups;
  }

  /** SIGTERM (SIGKILL after the grace period), then removes the data directory and, unless
   * the caller gave one, the directory of config and log. Safe to call twice. */
  async stop(graceMs = 5_000): Promise<void> {
    this.stopped = true;
    await this.proc?.stop(graceMs);
    this.removeDirs();
  }

  /** For process 'exit' handlers, where nothing asynchronous runs any more. */
  killNow(): void {
    this.stopped = true;
    this.proc?.killNow();
    this.removeDirs();
  }

  private removeDirs(): void {
    rmSync(this.dataDir, { recursive: true, force: true });
    if (this.ownsDir) rmSync(this.dir, { recursive: true, force: true });
  }

  private async api<T>(path: string): Promise<T> {
    if (!this.proc || this.stopped) throw new Error('prometheus is not running');
    const res = await fetchText(`${this.url}${path}`, { timeoutMs: 10_000 });
    let body: { status?: string; data?: T; errorType?: string; error?: string };
    try {
      body = JSON.parse(res.body) as typeof body;
    } catch {
      throw new Error(`GET ${path}: HTTP ${res.status}: ${res.body.slice(0, 500)}`);
    }
    if (res.status !== 200 || body.status !== 'success' || body.data === undefined) {
      throw new Error(
        `GET ${path}: HTTP ${res.status}: ${body.errorType ?? ''} ${body.error ?? res.body.slice(0, 500)}`,
      );
    }
    return body.data;
  }

  private writeConfig(): void {
    const o = this.options;
    const scrape = duration(o.scrapeIntervalMs ?? 1_000);
    // JSON is YAML: no serializer needed, and nothing to quote by hand.
    const config = {
      global: {
        scrape_interval: scrape,
        scrape_timeout: scrape,
        evaluation_interval: duration(o.evaluationIntervalMs ?? 1_000),
      },
      rule_files: (o.ruleFiles ?? []).map((f) => resolvePath(f)),
      scrape_configs: [
        {
          job_name: o.jobName ?? 'clusterregistry',
          metrics_path: o.metricsPath ?? '/metrics',
          static_configs: [{ targets: o.scrapeTargets }],
        },
      ],
    };
    writeFileSync(this.configPath, JSON.stringify(config, null, 2));
  }

  private async launch(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      this.port = await (this.options.pickPort ?? freePort)();
      rmSync(this.dataDir, { recursive: true, force: true });
      const proc = new ManagedProcess(
        'prometheus',
        this.binaries.prometheus,
        [
          `--config.file=${this.configPath}`,
          `--storage.tsdb.path=${this.dataDir}`,
          `--web.listen-address=127.0.0.1:${this.port}`,
          // Only the API is served; links in alerts and the UI would point here.
          `--web.external-url=${this.url}`,
          // Hidden flag, default 5s: how long the scrape manager holds back discovered targets,
          // also at start-up. At 5 s the first scrape of a fresh server comes 5-6 s late.
          '--scrape.discovery-reload-interval=200ms',
          ...(this.options.args ?? []),
        ],
        this.logPath,
      );
      this.proc = proc;
      proc.start();
      try {
        await pollUntil(
          'prometheus',
          async () => (await fetchText(`${this.url}/-/ready`, { timeoutMs: 2_000 })).status === 200,
          {
            timeoutMs: this.options.readyTimeoutMs ?? 30_000,
            intervalMs: 100,
            abortIf: () =>
              proc.exit ? `exited early (code ${proc.exit.code}, signal ${proc.exit.signal})` : undefined,
          },
        );
        return;
      } catch (err) {
        await proc.stop(2_000);
        if (attempt < PORT_ATTEMPTS && ADDRESS_IN_USE.test(proc.tail(50))) continue;
        throw new Error(`${(err as Error).message}\n--- last lines of ${proc.logPath} ---\n${proc.tail()}`, {
          cause: err,
        });
      }
    }
  }
}
