import { PrometheusMetrics } from '../../../src/metrics/prometheus-metrics.js';

const lines = (text: string, prefix: string): string[] => text.split('\n').filter((l) => l.startsWith(prefix));

describe('PrometheusMetrics', () => {
  let metrics: PrometheusMetrics;

  beforeEach(() => {
    metrics = new PrometheusMetrics({ defaultMetrics: false });
  });
  afterEach(() => metrics.close());

  it("has a controller's reconcile, error and retry series at 0 from its start, so rates are 0 and not missing", async () => {
    metrics.queue('pod-mirror', 'east');
    const text = await metrics.metrics();
    expect(lines(text, 'controller_runtime_reconcile_errors_total{')).toEqual([
      'controller_runtime_reconcile_errors_total{controller="pod-mirror",cluster="east"} 0',
    ]);
    expect(lines(text, 'controller_runtime_reconcile_total{')).toHaveLength(5);
    expect(lines(text, 'workqueue_retries_total{')).toEqual([
      'workqueue_retries_total{name="pod-mirror",cluster="east"} 0',
    ]);
    // The depth too: idle workers take every key at once, and such a queue never sets it itself.
    expect(lines(text, 'workqueue_depth{')).toEqual(['workqueue_depth{name="pod-mirror",cluster="east"} 0']);
  });

  it('counts events recorded and dropped per cluster, every reason present from the start, and forgets a stopped cluster', async () => {
    const events = metrics.events('east');
    events.recorded?.('Warning');
    events.dropped?.('RateLimited');
    const text = await metrics.metrics();
    expect(lines(text, 'clusterregistry_events_dropped_total{')).toEqual([
      'clusterregistry_events_dropped_total{cluster="east",reason="QueueFull"} 0',
      'clusterregistry_events_dropped_total{cluster="east",reason="RateLimited"} 1',
      'clusterregistry_events_dropped_total{cluster="east",reason="Rejected"} 0',
      'clusterregistry_events_dropped_total{cluster="east",reason="Failed"} 0',
      'clusterregistry_events_dropped_total{cluster="east",reason="Shutdown"} 0',
    ]);
    expect(lines(text, 'clusterregistry_events_recorded_total{')).toContain(
      'clusterregistry_events_recorded_total{cluster="east",type="Warning"} 1',
    );
    metrics.forgetCluster('east');
    expect(lines(await metrics.metrics(), 'clusterregistry_events_')).toEqual([]);
  });

  it("reads RemoteClusters' Ready, the phases and whether this replica is active at each collection", async () => {
    let active = false;
    let ready = [
      { name: 'east', ready: true, reason: 'Synced' },
      { name: 'west', ready: false, reason: 'Unreachable' },
    ];
    metrics.onCollect(() => {
      metrics.active(active);
      metrics.remoteClusters(ready);
    });
    let text = await metrics.metrics();
    expect(lines(text, 'clusterregistry_remotecluster_ready{')).toEqual([
      'clusterregistry_remotecluster_ready{cluster="east"} 1',
      'clusterregistry_remotecluster_ready{cluster="west"} 0',
    ]);
    expect(lines(text, 'clusterregistry_remotecluster_ready_reason{')).toContain(
      'clusterregistry_remotecluster_ready_reason{cluster="west",reason="Unreachable"} 1',
    );
    expect(lines(text, 'clusterregistry_active ')).toEqual(['clusterregistry_active 0']);
    active = true;
    ready = [{ name: 'east', ready: true, reason: 'Synced' }];
    text = await metrics.metrics();
    expect(lines(text, 'clusterregistry_active ')).toEqual(['clusterregistry_active 1']);
    expect(lines(text, 'clusterregistry_remotecluster_ready')).toEqual([
      'clusterregistry_remotecluster_ready{cluster="east"} 1',
      'clusterregistry_remotecluster_ready_reason{cluster="east",reason="Synced"} 1',
    ]);
  });

  it('shows a blocked event loop as delay and utilisation since the previous collection', async () => {
    await metrics.metrics();
    await new Promise((r) => setTimeout(r, 1_100));
    // Block the loop for 300 ms, then let the monitor's timer run.
    const until = Date.now() + 300;
    while (Date.now() < until) {
      /* blocked */
    }
    await new Promise((r) => setTimeout(r, 50));
    const text = await metrics.metrics();
    const value = (q: string) =>
      Number(lines(text, `clusterregistry_event_loop_delay_seconds{quantile="${q}"}`)[0]!.split(' ')[1]);
    expect(value('1')).toBeGreaterThan(0.2);
    expect(value('0.5')).toBeLessThan(0.2);
    const utilization = Number(lines(text, 'clusterregistry_event_loop_utilization ')[0]!.split(' ')[1]);
    expect(utilization).toBeGreaterThan(0.15);
    expect(utilization).toBeLessThanOrEqual(1);
  });
});
