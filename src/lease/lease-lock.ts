import type { ClusterClient } from '../client/cluster-client.js';
import { KubeApiError } from '../client/errors.js';

export interface LeaseRecord {
  holderIdentity?: string | null;
  leaseDurationSeconds?: number;
  acquireTime?: string | null;
  renewTime?: string | null;
  leaseTransitions?: number;
}

export interface LeaseMeta {
  name: string;
  namespace: string;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [key: string]: unknown;
}

/** A coordination.k8s.io/v1 Lease, as the API returns it (the fields we use). */
export interface Lease {
  apiVersion: 'coordination.k8s.io/v1';
  kind: 'Lease';
  metadata: LeaseMeta;
  spec: LeaseRecord;
  [key: string]: unknown;
}

export const LEASE_API_VERSION = 'coordination.k8s.io/v1';

/** MicroTime as the apiserver wants it (RFC 3339 with microseconds). */
export function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** The collection path of Leases in a namespace. */
export function leasesPath(namespace: string): string {
  return `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases`;
}

/** Someone holds the Lease (a released one has no holder). */
export function isHeld(record: LeaseRecord | undefined): boolean {
  return typeof record?.holderIdentity === 'string' && record.holderIdentity !== '';
}

/**
 * The record a candidate writes to take or renew a Lease, as client-go's leader election does:
 * a renewal keeps acquireTime and the transition count; a takeover starts a new acquireTime and
 * counts one more transition.
 */
export function claimRecord(
  current: LeaseRecord | undefined,
  identity: string,
  leaseDurationMs: number,
  now: Date,
): LeaseRecord {
  const time = microTime(now);
  const mine: LeaseRecord = {
    holderIdentity: identity,
    leaseDurationSeconds: Math.ceil(leaseDurationMs / 1000),
    acquireTime: time,
    renewTime: time,
    leaseTransitions: 0,
  };
  if (!current) return mine;
  return current.holderIdentity === identity
    ? { ...mine, acquireTime: current.acquireTime ?? time, leaseTransitions: current.leaseTransitions ?? 0 }
    : { ...mine, leaseTransitions: (current.leaseTransitions ?? 0) + 1 };
}

/** The record that gives a Lease up: no holder, so a candidate need not wait for it to expire. */
export function releasedRecord(current: LeaseRecord, now: Date): LeaseRecord {
  return { ...current, holderIdentity: null, leaseDurationSeconds: 1, renewTime: microTime(now) };
}

/**
 * Expiry of someone else's Lease measured on our own clock, as client-go does: the holder's
 * leaseDuration runs from when we first saw the record in its current form, never from the
 * times written in it, so clock skew between replicas does not matter.
 */
export class LeaseObservation {
  private observed?: { record: string; at: number };

  /** Notes the record as seen now; the time moves only when the record changed. */
  see(record: LeaseRecord, now = Date.now()): void {
    const serialized = JSON.stringify(record);
    if (this.observed?.record !== serialized) this.observed = { record: serialized, at: now };
  }

  /** When the record was first seen in its current form. */
  get since(): number | undefined {
    return this.observed?.at;
  }

  /** When a holder that stops renewing loses it, on our clock. */
  expiresAt(record: LeaseRecord): number {
    return (this.observed?.at ?? Date.now()) + (record.leaseDurationSeconds ?? 0) * 1000;
  }

  expired(record: LeaseRecord, now = Date.now()): boolean {
    return this.expiresAt(record) < now;
  }
}

/** Get, create and update one coordination.k8s.io/v1 Lease with optimistic concurrency. */
export class LeaseLock {
  private version?: string;

  constructor(
    private readonly client: ClusterClient,
    readonly namespace: string,
    readonly name: string,
    /** Labels and annotations of the Lease (what finds it, what it tells its peers). */
    private readonly meta: { labels?: Record<string, string>; annotations?: Record<string, string> } = {},
    /** Deadline of each request. */
    private readonly timeoutMs = 5_000,
  ) {}

  /** The resourceVersion of our last read or write: an update fails with 409 if the Lease
   * changed since. */
  get resourceVersion(): string | undefined {
    return this.version;
  }

  /** Takes the version of a Lease read elsewhere (an informer's cache), so an update can go
   * without a get of its own. */
  assume(resourceVersion: string | undefined): void {
    this.version = resourceVersion;
  }

  private get path(): string {
    return leasesPath(this.namespace);
  }

  /** The current record, or undefined when the Lease does not exist. */
  async get(signal: AbortSignal): Promise<LeaseRecord | undefined> {
    try {
      const lease = await this.client.request<Lease>('GET', `${this.path}/${encodeURIComponent(this.name)}`, {
        signal,
        timeoutMs: this.timeoutMs,
      });
      this.version = lease.metadata.resourceVersion;
      return lease.spec;
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) {
        this.version = undefined;
        return undefined;
      }
      throw err;
    }
  }

  async create(record: LeaseRecord, signal: AbortSignal): Promise<Lease> {
    const lease = await this.client.request<Lease>('POST', this.path, {
      body: this.lease(record),
      signal,
      timeoutMs: this.timeoutMs,
    });
    this.version = lease.metadata.resourceVersion;
    return lease;
  }

  /** Replaces the record; fails with 409 if someone else wrote it since our last read. */
  async update(record: LeaseRecord, signal: AbortSignal): Promise<Lease> {
    const lease = await this.client.request<Lease>('PUT', `${this.path}/${encodeURIComponent(this.name)}`, {
      body: this.lease(record, this.version),
      signal,
      timeoutMs: this.timeoutMs,
    });
    this.version = lease.metadata.resourceVersion;
    return lease;
  }

  private lease(spec: LeaseRecord, resourceVersion?: string): Lease {
    const { labels, annotations } = this.meta;
    return {
      apiVersion: LEASE_API_VERSION,
      kind: 'Lease',
      metadata: { name: this.name, namespace: this.namespace, resourceVersion, labels, annotations },
      spec,
    };
  }
}
