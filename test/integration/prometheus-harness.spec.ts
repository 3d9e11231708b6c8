import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  LocalPrometheus,
  promtoolCheckRules,
  resolvePrometheusBinaries,
  type PromAlert,
  type PrometheusBinaries,
} from '../../src/envtest/prometheus.js';
import { eventually } from '../support/poll.js';

const RULES = `groups:
  - name: harness
    rules:
      - alert: HarnessWidgetNotReady
        expr: harness_widget_ready == 0
        for: 2s
        labels:
          severity: warning
        annotations:
          summary: 'widget {{ $labels.widget }} is not ready'
`;

// A PromQL syntax error: the rule file is valid YAML, its expression is not.
const BROKEN_RULES = `groups:
  - name: broken
    rules:
      - alert: Broken
        expr: harness_widget_ready ==
        for: 2s
`;

/** Process ids whose command line contains `needle` (argv joined by NULs in /proc). */
function processesWith(needle: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(needle)) found.push(Number(entry));
    } catch {
      /* the process ended while we looked */
    }
  }
  return found;
}

describe('the Prometheus test harness', () => {
  const dir = mkdtempSync(join(tmpdir(), 'prometheus-harness-'));
  const rulesFile = join(dir, 'rules.yaml');
  const brokenFile = join(dir, 'broken.yaml');
  let binaries: PrometheusBinaries;
  let server: Server;
  let target = '';
  let widgetReady = 1;
  let prom: LocalPrometheus | undefined;

  beforeAll(async () => {
    writeFileSync(rulesFile, RULES);
    writeFileSync(brokenFile, BROKEN_RULES);
    // Minutes on the very first run (a Go build), well under a second from the cache.
    binaries = await resolvePrometheusBinaries();
    server = createServer((req, res) => {
      if (req.url !== '/metrics') {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(
        '# HELP harness_widget_ready Whether the widget is ready.\n' +
          '# TYPE harness_widget_ready gauge\n' +
          `harness_widget_ready{widget="w1"} ${widgetReady}\n`,
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    if (!address || typeof address !== 'object') throw new Error('no address');
    target = `127.0.0.1:${address.port}`;
  }, 30 * 60_000);

  afterAll(async () => {
    await prom?.stop();
    await new Promise((resolve) => server?.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  it('promtool accepts the rule file', async () => {
    const output = await promtoolCheckRules([rulesFile], binaries);
    expect(output).toContain('SUCCESS: 1 rules found');
  });

  it("promtool rejects a broken rule file, and the error carries promtool's message", async () => {
    const failure = promtoolCheckRules([brokenFile], binaries);
    await expect(failure).rejects.toThrow(/promtool check rules failed \(exit 1\)/);
    await expect(failure).rejects.toThrow(brokenFile);
    // promtool's own words, with the position of the mistake.
    await expect(failure).rejects.toThrow(/FAILED/);
    await expect(failure).rejects.toThrow('rule 1, "Broken": could not parse expression');
    await expect(failure).rejects.toThrow('parse error: unexpected end of input');
  });

  it('scrapes the test server until the query returns its value', async () => {
    prom = await LocalPrometheus.start({
      scrapeTargets: [target],
      ruleFiles: [rulesFile],
      scrapeIntervalMs: 1_000,
      evaluationIntervalMs: 1_000,
      binaries,
    });
    const p = prom;
    const sample = await eventually(
      'harness_widget_ready scraped',
      async () => (await p.query('harness_widget_ready'))[0],
      20_000,
      200,
    );
    expect(sample.metric).toMatchObject({ __name__: 'harness_widget_ready', widget: 'w1', job: 'clusterregistry' });
    expect(sample.value[1]).toBe('1');
    expect(await p.targets()).toEqual([
      expect.objectContaining({ health: 'up', scrapeUrl: `http://${target}/metrics` }),
    ]);
    // The rule is evaluated on its own interval, not at the scrape: on a loaded machine its first
    // evaluation can come after the first sample (health "unknown" until then).
    const rules = await eventually(
      'the rule evaluated once',
      async () => {
        const [group] = await p.rules();
        return group?.rules.every((r) => r.health !== 'unknown') ? group.rules : undefined;
      },
      20_000,
      200,
    );
    expect(rules).toEqual([expect.objectContaining({ name: 'HarnessWidgetNotReady', health: 'ok' })]);
    expect(await p.alerts()).toEqual([]);
  });

  it("fires the alert once the metric has been 0 for the rule's for: 2s", async () => {
    const p = prom!;
    const flipped = Date.now();
    widgetReady = 0;
    const states = new Set<string>();
    const firing = await eventually<PromAlert>(
      'HarnessWidgetNotReady firing',
      async () => {
        const alert = (await p.alerts()).find((a) => a.labels.alertname === 'HarnessWidgetNotReady');
        if (alert) states.add(alert.state);
        return alert?.state === 'firing' ? alert : undefined;
      },
      20_000,
      100,
    );
    const elapsed = Date.now() - flipped;
    expect(firing.labels).toMatchObject({ widget: 'w1', severity: 'warning' });
    expect(firing.annotations.summary).toBe('widget w1 is not ready');
    // It was pending first, and `for: 2s` held it back at least that long.
    expect(states).toContain('pending');
    expect(elapsed).toBeGreaterThanOrEqual(2_000);
    expect((await p.query('ALERTS{alertname="HarnessWidgetNotReady", alertstate="firing"}')).length).toBe(1);
  });

  it('stop() leaves no prometheus process and no data directory behind', async () => {
    const p = prom!;
    const { pid, configPath, dataDir } = p;
    expect(pid).toBeDefined();
    expect(processesWith(configPath)).toEqual([pid]);
    expect(existsSync(dataDir)).toBe(true);
    await p.stop();
    prom = undefined;
    expect(existsSync(`/proc/${pid}`)).toBe(false);
    expect(processesWith(configPath)).toEqual([]);
    expect(existsSync(dataDir)).toBe(false);
    expect(existsSync(p.dir)).toBe(false);
    await expect(p.query('up')).rejects.toThrow('prometheus is not running');
  });

  it('killNow() (for exit handlers) removes the data directory at once and the process soon after', async () => {
    const p = await LocalPrometheus.start({ scrapeTargets: [target], binaries });
    const { pid, configPath, dataDir } = p;
    p.killNow();
    expect(existsSync(dataDir)).toBe(false);
    expect(existsSync(p.dir)).toBe(false);
    // SIGKILL is sent synchronously; the kernel and node's reaping of the zombie finish asynchronously.
    await eventually('prometheus reaped', () => (existsSync(`/proc/${pid}`) ? undefined : true), 5_000, 20);
    expect(processesWith(configPath)).toEqual([]);
  });
});
