import { jest } from '@jest/globals';
import type { INestApplicationContext } from '@nestjs/common';
import type { ManagerStatus } from '../../../src/manager/controller-manager.js';
import { ClusterEntry } from '../../../src/registry/cluster-entry.js';
import type { ClusterPhase, ClusterTransition } from '../../../src/registry/types.js';
import type { ClusterRuntime } from '../../../src/runtime/cluster-runtime.js';
import { T0 } from '../../support/clock.js';

/** The part of ClusterRuntime an entry reads: status() and onChange(). */
class FakeRuntime {
  current: ManagerStatus = { synced: false, watches: [], controllers: [] };
  readonly listeners = new Set<() => void>();

  status(): ManagerStatus {
    return this.current;
  }

  scheduled(): string[] {
    return ['clusterregistry/c1/probe'];
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The runtime reports a change (or just reports again). */
  report(next: Partial<ManagerStatus> = {}): void {
    this.current = { ...this.current, ...next };
    for (const listener of this.listeners) listener();
  }
}

const unreachable = {
  reason: 'Unreachable' as const,
  message: 'Unreachable: connect ECONNREFUSED',
  since: new Date(T0),
};
const forbidden = { reason: 'Forbidden' as const, message: 'may no longer list pods', since: new Date(T0) };

describe('ClusterEntry', () => {
  let emitted: [ClusterTransition, boolean][];
  let runtime: FakeRuntime;
  let entry: ClusterEntry;
  const close = jest.fn(() => Promise.resolve());

  /** Sets the fake clock to T0 + ms. */
  const at = (ms: number): void => jest.setSystemTime(T0 + ms);
  const phases = (): (ClusterPhase | undefined)[][] => entry.status().transitions.map((t) => [t.from, t.to]);

  beforeEach(() => {
    jest.useFakeTimers({ now: T0 });
    emitted = [];
    runtime = new FakeRuntime();
    entry = new ClusterEntry('c1', 'sha-1', Promise.resolve(), (t, changed) => emitted.push([t, changed]));
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  function attach(): void {
    entry.attach({ close } as unknown as INestApplicationContext, runtime as unknown as ClusterRuntime);
  }

  it('starts in starting, with that first transition recorded and nothing announced', () => {
    expect(entry.phase).toBe('starting');
    expect(entry.status()).toEqual({
      name: 'c1',
      phase: 'starting',
      since: new Date(T0),
      identity: 'sha-1',
      watches: [],
      controllers: [],
      intervals: [],
      transitions: [{ cluster: 'c1', to: 'starting', at: new Date(T0) }],
    });
    at(1_000);
    attach(); // not synced, no error: still starting, nothing new
    expect(emitted).toEqual([]);
    expect(entry.status().transitions).toHaveLength(1);
  });

  it('records and announces a change of phase', () => {
    attach();
    at(2_000);
    runtime.report({ synced: true });
    const transition = { cluster: 'c1', from: 'starting', to: 'synced', at: new Date(T0 + 2_000), cause: undefined };
    expect(emitted).toEqual([[transition, true]]);
    expect(entry.status()).toMatchObject({ phase: 'synced', since: new Date(T0 + 2_000) });
    expect(entry.status().transitions).toEqual([{ cluster: 'c1', to: 'starting', at: new Date(T0) }, transition]);
  });

  it('announces a change of cause within a phase without recording it or moving since', () => {
    attach();
    at(1_000);
    runtime.report({ error: unreachable });
    at(2_000);
    runtime.report({ error: forbidden });
    at(3_000);
    runtime.report({ error: forbidden }); // the same again: nothing

    expect(emitted).toEqual([
      [
        {
          cluster: 'c1',
          from: 'starting',
          to: 'degraded',
          at: new Date(T0 + 1_000),
          cause: { reason: 'Unreachable', message: unreachable.message },
        },
        true,
      ],
      [
        {
          cluster: 'c1',
          from: 'degraded',
          to: 'degraded',
          at: new Date(T0 + 2_000),
          cause: { reason: 'Forbidden', message: forbidden.message },
        },
        false,
      ],
    ]);
    expect(phases()).toEqual([
      [undefined, 'starting'],
      ['starting', 'degraded'],
    ]);
    expect(entry.status()).toMatchObject({
      phase: 'degraded',
      since: new Date(T0 + 1_000),
      cause: { reason: 'Forbidden', message: forbidden.message },
    });
  });

  it('announces a controller starting or ending to fail, or failing for another reason, but not a count change', () => {
    attach();
    runtime.report({ synced: true });
    emitted.length = 0;
    const failing = (n: number, reason: string) => ({
      name: 'pods',
      failing: n,
      lastError: { key: 'ns/a', reason, message: 'm', at: new Date(T0) },
    });

    runtime.report({ controllers: [failing(1, 'Invalid')] });
    runtime.report({ controllers: [failing(3, 'Invalid')] });
    runtime.report({ controllers: [failing(3, 'Timeout')] });
    runtime.report({ controllers: [failing(0, 'Timeout')] });

    expect(emitted.map(([t, changed]) => [t.from, t.to, changed])).toEqual([
      ['synced', 'synced', false],
      ['synced', 'synced', false],
      ['synced', 'synced', false],
    ]);
    expect(phases()).toEqual([
      [undefined, 'starting'],
      ['starting', 'synced'],
    ]);
  });

  it('keeps the last 20 transitions, oldest first', () => {
    attach();
    for (let i = 1; i <= 30; i++) {
      at(i * 1_000);
      runtime.report(i % 2 ? { synced: true, error: undefined } : { error: unreachable });
    }
    const transitions = entry.status().transitions;
    expect(transitions).toHaveLength(20);
    expect(transitions.map((t) => t.at.getTime() - T0)).toEqual(Array.from({ length: 20 }, (_, i) => (i + 11) * 1_000));
    expect(transitions[0]).toMatchObject({ from: 'degraded', to: 'synced' });
    expect(transitions[19]).toMatchObject({ from: 'synced', to: 'degraded' });
    expect(emitted).toHaveLength(30);
  });

  it('once stopping, ignores the runtime and ends in stopped', async () => {
    attach();
    runtime.report({ synced: true });
    at(5_000);
    entry.markStopping();
    runtime.report({ error: unreachable });
    expect(runtime.listeners.size).toBe(0);
    at(6_000);
    await entry.close();
    entry.markStopped();

    expect(close).toHaveBeenCalled();
    expect(phases()).toEqual([
      [undefined, 'starting'],
      ['starting', 'synced'],
      ['synced', 'stopping'],
      ['stopping', 'stopped'],
    ]);
    expect(emitted.map(([t, changed]) => [t.to, t.at.getTime() - T0, changed])).toEqual([
      ['synced', 0, true],
      ['stopping', 5_000, true],
      ['stopped', 6_000, true],
    ]);
    expect(entry.status()).toMatchObject({ phase: 'stopped', since: new Date(T0 + 6_000), cause: undefined });
  });

  it('reports the watches, controllers and intervals of its runtime', () => {
    attach();
    const watches = [
      { apiVersion: 'v1', kind: 'Pod', synced: true, watching: true, objects: 3, relists: 1, watchRestarts: 0 },
    ];
    runtime.report({ synced: true, watches, controllers: [{ name: 'pods', failing: 0 }] });
    expect(entry.status()).toMatchObject({
      watches,
      controllers: [{ name: 'pods', failing: 0 }],
      intervals: ['clusterregistry/c1/probe'],
    });
  });
});
