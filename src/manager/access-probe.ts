import type { ClusterClient } from '../client/cluster-client.js';
import { describeFailure, failureReason, KubeApiError, retryAfterMs, type FailureReason } from '../client/errors.js';
import { collectionPath, guessResource, type ResourceInfo } from '../client/resources.js';
import type { WatchSpec } from '../cache/types.js';
import { sleep } from '../util/abort.js';

export interface ProbeState {
  /** The last check passed (undefined before the first check). */
  ok?: boolean;
  error?: { reason: FailureReason; message: string; since: Date };
}

/** What the probe checks for one watch: its resource (as the informer knows it) and scope. */
export interface ProbeTarget {
  spec: WatchSpec;
  resource(): ResourceInfo | undefined;
}

interface AccessReview {
  status?: { allowed?: unknown };
}

const VERBS = ['list', 'watch'] as const;

/** Failures worth a second try before they are reported. */
const TRANSIENT: ReadonlySet<FailureReason> = new Set(['Unreachable', 'Timeout', 'ServerError', 'TooManyRequests']);
const RETRY_PAUSE_MS = 1_000;

/**
 * Checks that the credentials still reach the cluster and may still list and watch every kind
 * its informers watch. An open watch keeps streaming after its RBAC is revoked, until the
 * server ends it minutes later; GET /version, which every authenticated user may read, would
 * not notice either. A SelfSubjectAccessReview per resource and verb does, and is allowed to
 * every authenticated user; where the API is not served, a `limit=1` list checks "list".
 */
export class AccessProbe {
  private current: ProbeState = {};
  private running?: Promise<void>;
  private reviews = true;

  constructor(
    private readonly client: ClusterClient,
    private readonly targets: () => ProbeTarget[],
    private readonly onChange: () => void,
    private readonly timeoutMs = 10_000,
  ) {}

  state(): ProbeState {
    return { ...this.current };
  }

  /** One check, unless one is still running (a slow cluster must not pile them up). */
  check(signal: AbortSignal): Promise<void> {
    this.running ??= this.run(signal).finally(() => (this.running = undefined));
    return this.running;
  }

  private async run(signal: AbortSignal): Promise<void> {
    try {
      await this.attempt(signal);
    } catch (err) {
      // One reset, timeout, 5xx or 429 is not a verdict on the cluster (its watches may all be
      // fine): a second try after a pause decides, as a broken watch is retried before its kind
      // fails. Anything else (Forbidden, a body too large, …) is reported at once.
      if (signal.aborted) return;
      if (!TRANSIENT.has(failureReason(err))) return this.failed(err);
      try {
        await sleep(Math.min(Math.max(RETRY_PAUSE_MS, retryAfterMs(err)), this.timeoutMs), signal);
        await this.attempt(signal);
      } catch (again) {
        if (!signal.aborted) this.failed(again);
      }
    }
  }

  private failed(err: unknown): void {
    this.set({ ok: false, error: { reason: failureReason(err), message: describeFailure(err), since: new Date() } });
  }

  /** One pass over every target; throws what the cluster answered if it could not decide. */
  private async attempt(signal: AbortSignal): Promise<void> {
    const targets = this.targets();
    if (targets.length === 0) {
      await this.client.request('GET', '/version', { signal, timeoutMs: this.timeoutMs });
    }
    for (const target of targets) {
      const denied = await this.denied(target, signal);
      if (denied) return this.set({ ok: false, error: { reason: 'Forbidden', message: denied, since: new Date() } });
    }
    this.set({ ok: true });
  }

  /** Why the credentials may not list or watch the target, or undefined when they may. */
  private async denied(target: ProbeTarget, signal: AbortSignal): Promise<string | undefined> {
    const resource = target.resource() ?? guessResource(target.spec.apiVersion, target.spec.kind);
    const group = resource.apiVersion.includes('/') ? resource.apiVersion.split('/')[0]! : '';
    const namespace = resource.namespaced !== false ? target.spec.namespace : undefined;
    const where = `${resource.plural}${group ? `.${group}` : ''}${namespace ? ` in namespace ${namespace}` : ' (all namespaces)'}`;
    if (this.reviews) {
      try {
        for (const verb of VERBS) {
          const review = await this.client.request<AccessReview>(
            'POST',
            '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
            {
              body: {
                apiVersion: 'authorization.k8s.io/v1',
                kind: 'SelfSubjectAccessReview',
                spec: { resourceAttributes: { group, resource: resource.plural, verb, namespace } },
              },
              signal,
              timeoutMs: this.timeoutMs,
            },
          );
          if (review?.status?.allowed !== true) {
            return `the credentials may no longer ${verb} ${where} (SelfSubjectAccessReview denied)`;
          }
        }
        return undefined;
      } catch (err) {
        // Reviews not served (404) or not allowed (403): fall back to a small list from now on.
        if (!(err instanceof KubeApiError && (err.status === 404 || err.status === 403))) throw err;
        this.reviews = false;
      }
    }
    try {
      await this.client.request('GET', collectionPath(resource, namespace), {
        query: { limit: 1 },
        // One object at most: a body larger than one object (a watch event) is not a list of one,
        // and reading up to the full list limit would double what a hostile endpoint costs.
        maxBytes: this.client.maxObjectBytes,
        signal,
        timeoutMs: this.timeoutMs,
      });
      return undefined;
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 403) return `the credentials may no longer list ${where}`;
      throw err;
    }
  }

  private set(next: ProbeState): void {
    const before = this.current;
    // Keep the time a failure started while it goes on with the same message.
    if (next.error && before.error?.message === next.error.message) next.error.since = before.error.since;
    this.current = next;
    if (before.ok !== next.ok || before.error?.message !== next.error?.message) this.onChange();
  }
}
