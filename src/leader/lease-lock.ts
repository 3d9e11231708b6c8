import type { ClusterClient } from '../client/cluster-client.js';
import { KubeApiError } from '../client/errors.js';

export interface LeaseRecord {
  holderIdentity?: string | null;
  leaseDurationSeconds?: number;
  acquireTime?: string | null;
  renewTime?: string | null;
  leaseTransitions?: number;
}

interface Lease {
  apiVersion: 'coordination.k8s.io/v1';
  kind: 'Lease';
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: LeaseRecord;
}

/** MicroTime as the apiserver wants it (RFC 3339 with microseconds). */
export function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** Get, create and update one coordination.k8s.io/v1 Lease with optimistic concurrency. */
export class LeaseLock {
  private resourceVersion?: string;

  constructor(
    private readonly client: ClusterClient,
    readonly namespace: string,
    readonly name: string,
  ) {}

  private get path(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(this.namespace)}/leases`;
  }

  /** The current record, or undefined when the Lease does not exist. */
  async get(signal: AbortSignal): Promise<LeaseRecord | undefined> {
    try {
      const lease = await this.client.request<Lease>('GET', `${this.path}/${encodeURIComponent(this.name)}`, {
        signal,
        timeoutMs: 5_000,
      });
      this.resourceVersion = lease.metadata.resourceVersion;
      return lease.spec;
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) {
        this.resourceVersion = undefined;
        return undefined;
      }
      throw err;
    }
  }

  async create(record: LeaseRecord, signal: AbortSignal): Promise<void> {
    const lease = await this.client.request<Lease>('POST', this.path, {
      body: this.lease(record),
      signal,
      timeoutMs: 5_000,
    });
    this.resourceVersion = lease.metadata.resourceVersion;
  }

  /** Replaces the record; fails with 409 if someone else wrote it since our last read. */
  async update(record: LeaseRecord, signal: AbortSignal): Promise<void> {
    const lease = await this.client.request<Lease>('PUT', `${this.path}/${encodeURIComponent(this.name)}`, {
      body: this.lease(record, this.resourceVersion),
      signal,
      timeoutMs: 5_000,
    });
    this.resourceVersion = lease.metadata.resourceVersion;
  }

  private lease(spec: LeaseRecord, resourceVersion?: string): Lease {
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: this.name, namespace: this.namespace, resourceVersion },
      spec,
    };
  }
}
