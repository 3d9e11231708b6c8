import { jest } from '@jest/globals';
import type { ControllerHealth } from '../../../src/manager/controller.js';
import type { WatchStatus } from '../../../src/manager/controller-manager.js';
import type { ClusterPhase, ClusterStatus } from '../../../src/registry/types.js';
import { MAX_CONDITION_MESSAGE, sameConditions, setCondition } from '../../../src/remotecluster/conditions.js';
import { readyFrom, reconcilersFrom } from '../../../src/remotecluster/remote-cluster.reconciler.js';
import type { Condition } from '../../../src/remotecluster/types.js';
import { T0 } from '../../support/clock.js';

function watch(kind: string): WatchStatus {
  return { apiVersion: 'v1', kind, synced: true, watching: true, objects: 0, relists: 1, watchRestarts: 0 };
}

function cluster(phase: ClusterPhase, extra: Partial<ClusterStatus> = {}): ClusterStatus {
  return {
    name: 'c1',
    phase,
    since: new Date(T0),
    watches: [],
    controllers: [],
    intervals: [],
    transitions: [],
    ...extra,
  };
}

const unauthorized = { reason: 'Unauthorized' as const, message: 'Unauthorized: GET /api/v1/pods: 401 Unauthorized' };

describe('readyFrom', () => {
  it.each<[string, ClusterStatus | undefined, string | undefined, ReturnType<typeof readyFrom>]>([
    [
      'no runtime',
      undefined,
      'token',
      { status: 'Unknown', reason: 'NotRunning', message: 'no runtime is running for this cluster' },
    ],
    [
      'starting',
      cluster('starting'),
      'token',
      { status: 'Unknown', reason: 'Connecting', message: 'connecting; caches not synced yet' },
    ],
    [
      'synced, with watches',
      cluster('synced', { watches: [watch('Pod'), watch('Secret')] }),
      'token',
      { status: 'True', reason: 'Synced', message: 'connected; caches synced (Pod, Secret)' },
    ],
    [
      'synced, without watches',
      cluster('synced'),
      undefined,
      { status: 'True', reason: 'Synced', message: 'connected; caches synced (no watches)' },
    ],
    [
      'degraded: 401 with a client certificate',
      cluster('degraded', { cause: unauthorized }),
      'certificate',
      {
        status: 'False',
        reason: 'ClientCertificateRejected',
        message: `the apiserver did not accept the client certificate (not signed by its client CA, or expired): ${unauthorized.message}`,
      },
    ],
    [
      'degraded: 401 with a token',
      cluster('degraded', { cause: unauthorized }),
      'token',
      {
        status: 'False',
        reason: 'TokenRejected',
        message: `the apiserver did not accept the token: ${unauthorized.message}`,
      },
    ],
    [
      'degraded: 401 with another credential (exec, basic)',
      cluster('degraded', { cause: unauthorized }),
      undefined,
      { status: 'False', reason: 'Unauthorized', message: unauthorized.message },
    ],
    [
      'degraded: 403 with a certificate (only a 401 is split)',
      cluster('degraded', { cause: { reason: 'Forbidden', message: 'may no longer list pods' } }),
      'certificate',
      { status: 'False', reason: 'Forbidden', message: 'may no longer list pods' },
    ],
    [
      'degraded: unreachable',
      cluster('degraded', { cause: { reason: 'Unreachable', message: 'Unreachable: connect ECONNREFUSED' } }),
      'token',
      { status: 'False', reason: 'Unreachable', message: 'Unreachable: connect ECONNREFUSED' },
    ],
    [
      'degraded without a cause',
      cluster('degraded'),
      'token',
      { status: 'False', reason: 'Degraded', message: 'a watch is failing' },
    ],
    [
      'stopping',
      cluster('stopping'),
      'token',
      { status: 'False', reason: 'Stopping', message: 'the runtime is stopping' },
    ],
    [
      'stopped',
      cluster('stopped'),
      'token',
      { status: 'False', reason: 'Stopping', message: 'the runtime is stopping' },
    ],
  ])('%s', (_, status, credential, expected) => {
    expect(readyFrom(status, credential)).toEqual(expected);
  });
});

describe('reconcilersFrom', () => {
  const failing = (name: string, n: number, key: string, reason: string, atMs: number): ControllerHealth => ({
    name,
    failing: n,
    lastError: { key, reason, message: `${reason} happened`, at: new Date(T0 + atMs) },
  });

  it('says nothing without a runtime', () => {
    expect(reconcilersFrom(undefined)).toBeUndefined();
  });

  it('is True when no key fails, whatever failed before', () => {
    const status = cluster('synced', {
      controllers: [
        { name: 'a', failing: 0 },
        { ...failing('b', 1, 'x', 'Invalid', 0), failing: 0 },
      ],
    });
    expect(reconcilersFrom(status)).toEqual({
      status: 'True',
      reason: 'Succeeding',
      message: 'no reconcile is failing',
    });
  });

  it('counts failing keys per controller and names the newest failure of a failing controller', () => {
    const status = cluster('synced', {
      controllers: [
        failing('alpha', 2, 'ns/one', 'Invalid', 1_000),
        failing('beta', 1, 'ns/two', 'Timeout', 2_000),
        // Newest of all, but none of its keys fails any more.
        { ...failing('gamma', 0, 'ns/three', 'Conflict', 3_000) },
      ],
    });
    expect(reconcilersFrom(status)).toEqual({
      status: 'False',
      reason: 'Timeout',
      message: 'alpha: 2 failing, beta: 1 failing; last: beta ns/two: Timeout happened',
    });
  });

  it('gives a message that the condition bounds to 1,024 characters', () => {
    const long = failing('alpha', 1, 'ns/one', 'Invalid', 0);
    long.lastError!.message = 'x'.repeat(5000);
    const value = reconcilersFrom(cluster('synced', { controllers: [long] }))!;
    const [condition] = setCondition(undefined, { type: 'ReconcilersHealthy', ...value });
    expect(condition!.message).toHaveLength(MAX_CONDITION_MESSAGE);
    expect(condition!.message.startsWith('alpha: 1 failing; last: alpha ns/one: xxx')).toBe(true);
  });
});

describe('setCondition', () => {
  const ready = (status: Condition['status'], reason: string, message = reason, observedGeneration?: number) => ({
    type: 'Ready',
    status,
    reason,
    message,
    observedGeneration,
  });

  it('stamps a new condition with the time in whole seconds', () => {
    expect(setCondition(undefined, ready('True', 'Synced'), new Date('2026-01-01T10:20:30.999Z'))).toEqual([
      { ...ready('True', 'Synced'), lastTransitionTime: '2026-01-01T10:20:30Z' },
    ]);
  });

  it('keeps lastTransitionTime while the status stays, whatever else changes', () => {
    const first = setCondition([], ready('False', 'Connecting', 'a', 1), new Date(T0));
    const next = setCondition(first, ready('False', 'Unreachable', 'b', 2), new Date(T0 + 60_000));
    expect(next).toEqual([{ ...ready('False', 'Unreachable', 'b', 2), lastTransitionTime: '2026-01-01T00:00:00Z' }]);
  });

  it.each<[Condition['status'], Condition['status']]>([
    ['False', 'True'],
    ['True', 'False'],
    ['Unknown', 'False'],
    ['True', 'Unknown'],
  ])('moves lastTransitionTime when the status goes from %s to %s', (from, to) => {
    const first = setCondition(undefined, ready(from, 'r'), new Date(T0));
    expect(setCondition(first, ready(to, 'r'), new Date(T0 + 90_000))[0]!.lastTransitionTime).toBe(
      '2026-01-01T00:01:30Z',
    );
  });

  it('uses the current time by default', () => {
    jest.useFakeTimers({ now: T0 + 5_000 });
    try {
      expect(setCondition(undefined, ready('True', 'Synced'))[0]!.lastTransitionTime).toBe('2026-01-01T00:00:05Z');
    } finally {
      jest.useRealTimers();
    }
  });

  it('leaves other conditions as they were, in a stable order, without touching the input', () => {
    const others: Condition[] = [
      { type: 'Zeta', status: 'True', reason: 'z', message: 'z', lastTransitionTime: '2025-01-01T00:00:00Z' },
      {
        type: 'ReconcilersHealthy',
        status: 'False',
        reason: 'Invalid',
        message: 'm',
        lastTransitionTime: '2025-02-01T00:00:00Z',
      },
      { type: 'Alpha', status: 'True', reason: 'a', message: 'a', lastTransitionTime: '2025-03-01T00:00:00Z' },
    ];
    const before = structuredClone(others);
    const next = setCondition(others, ready('True', 'Synced'), new Date(T0));
    expect(next).toEqual([
      { ...ready('True', 'Synced'), lastTransitionTime: '2026-01-01T00:00:00Z' },
      others[1],
      others[2],
      others[0],
    ]);
    expect(others).toEqual(before);
  });

  it('sameConditions tells any difference, order included', () => {
    const a = setCondition(undefined, ready('True', 'Synced'), new Date(T0));
    expect(sameConditions(a, structuredClone(a))).toBe(true);
    expect(sameConditions(undefined, [])).toBe(true);
    expect(sameConditions(a, setCondition(a, ready('True', 'Synced', 'other words'), new Date(T0)))).toBe(false);
    expect(sameConditions(a, undefined)).toBe(false);
  });

  it('sameConditions takes conditions as the apiserver sends them back, keys sorted, as the same', () => {
    const written = setCondition(undefined, ready('True', 'Synced'), new Date(T0));
    // A custom resource's maps come back from the apiserver with their keys in sorted order.
    const read = JSON.parse(
      JSON.stringify(written, (_, value: unknown) =>
        value && typeof value === 'object' && !Array.isArray(value)
          ? Object.fromEntries(Object.entries(value).sort(([x], [y]) => x.localeCompare(y)))
          : value,
      ),
    ) as typeof written;
    expect(Object.keys(read[0]!)).not.toEqual(Object.keys(written[0]!));
    expect(sameConditions(written, read)).toBe(true);
    expect(sameConditions(written, [{ ...read[0]!, status: 'False' }])).toBe(false);
  });
});
