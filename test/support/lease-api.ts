import type { ClusterClient } from '../../src/client/cluster-client.js';
import type { Lease, LeaseRecord } from '../../src/lease/lease-lock.js';
import {
  FakeTransport,
  HANG,
  json,
  page,
  status,
  WatchStream,
  type RecordedRequest,
  type Reply,
} from '../../src/testing/fake-transport.js';

export const NS = 'ns';
export const LEASES = `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases`;

interface Event {
  rv: number;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: Lease;
}

/** One replica's view of the API: its own transport, which can be cut off. */
export class ReplicaLink {
  readonly fake = new FakeTransport();
  readonly client: ClusterClient;
  /** Every request fails with 503 and open watches break while set. */
  private cut = false;
  /** Creates and updates of the Leases it names are refused (403), as without RBAC for them. */
  refuseWrites: (lease: string) => boolean = () => false;
  /** Creates and updates of the Leases it names are applied, and their answers lost: the request
   * hangs until the client gives up (a timeout after etcd committed). */
  loseAnswers: (lease: string) => boolean = () => false;
  /** Creates and updates this replica sent, refused ones included. */
  writesSent = 0;
  readonly watches = new Set<WatchStream>();

  constructor(
    api: LeaseApi,
    readonly name: string,
  ) {
    this.client = this.fake.client(name);
    const guard =
      (fn: (req: RecordedRequest) => Reply) =>
      (req: RecordedRequest): Reply =>
        this.cut ? status(503, 'ServiceUnavailable', 'partitioned') : fn(req);
    const write =
      (fn: (req: RecordedRequest) => Reply) =>
      (req: RecordedRequest): Reply => {
        this.writesSent++;
        const lease = (req.body as Lease).metadata.name;
        if (this.refuseWrites(lease)) return status(403, 'Forbidden', 'leases is forbidden');
        const reply = fn(req);
        return this.loseAnswers(lease) ? HANG : reply;
      };
    this.fake.onList(
      LEASES,
      guard((req) => page(api.list(req.query.get('labelSelector')), String(api.rv))),
    );
    this.fake.onWatch(
      LEASES,
      guard((req) => {
        const stream = new WatchStream();
        const selector = req.query.get('labelSelector');
        if (req.query.get('sendInitialEvents') === 'true') {
          // WatchList, as the apiserver serves it: the current state, then the end bookmark.
          for (const lease of api.list(selector)) stream.push('ADDED', lease);
          stream.push('BOOKMARK', {
            kind: 'Lease',
            apiVersion: 'coordination.k8s.io/v1',
            metadata: { resourceVersion: String(api.rv), annotations: { 'k8s.io/initial-events-end': 'true' } },
          });
        } else {
          const since = Number(req.query.get('resourceVersion') ?? '0');
          for (const event of api.events) {
            if (event.rv > since && api.matches(event.object, selector)) stream.push(event.type, event.object);
          }
        }
        const watcher = { stream, selector };
        api.watchers.add(watcher);
        this.watches.add(stream);
        stream.body.once('close', () => {
          api.watchers.delete(watcher);
          this.watches.delete(stream);
        });
        return stream;
      }),
    );
    this.fake.on(
      'GET',
      new RegExp(`^${LEASES}/[^/?]+$`),
      guard((req) => {
        const lease = api.leases.get(decodeURIComponent(req.pathname.slice(LEASES.length + 1)));
        return lease ? json(200, clone(lease)) : status(404, 'NotFound', 'leases not found');
      }),
    );
    this.fake.on('POST', LEASES, guard(write((req) => api.create(req.body as Lease, name))));
    this.fake.on('PUT', new RegExp(`^${LEASES}/[^/?]+`), guard(write((req) => api.update(req.body as Lease, name))));
  }

  /** Cuts the replica off the API (a partition), or reconnects it. */
  partition(cut: boolean): void {
    this.cut = cut;
    if (cut) for (const w of this.watches) w.fail();
  }
}

/** A write the API accepted: who wrote what, when (fake clock, ms since `t0`). */
export interface Write {
  replica: string;
  name: string;
  holder: string | null | undefined;
  at: number;
}

/**
 * The Lease API of one apiserver, shared by several replicas: list with a label selector, watch
 * from a resourceVersion (events replayed) or as a WatchList (current state, end bookmark), create (409 if it exists), update with optimistic
 * concurrency (409 on a stale resourceVersion).
 */
export class LeaseApi {
  readonly leases = new Map<string, Lease>();
  readonly events: Event[] = [];
  readonly watchers = new Set<{ stream: WatchStream; selector: string | null }>();
  readonly writes: Write[] = [];
  rv = 1;

  constructor(private readonly t0: number) {}

  link(name: string): ReplicaLink {
    return new ReplicaLink(this, name);
  }

  matches(lease: Lease, selector: string | null): boolean {
    if (!selector) return true;
    return selector.split(',').every((term) => {
      const [key, value] = term.split('=');
      return lease.metadata.labels?.[key!] === value;
    });
  }

  list(selector: string | null): Lease[] {
    return [...this.leases.values()].filter((l) => this.matches(l, selector)).map(clone);
  }

  holder(name: string): string | null | undefined {
    return this.leases.get(name)?.spec.holderIdentity;
  }

  create(body: Lease, replica: string): Reply {
    const name = body.metadata.name;
    if (this.leases.has(name))
      return status(409, 'AlreadyExists', `leases.coordination.k8s.io "${name}" already exists`);
    return json(201, this.store({ ...body, metadata: { ...body.metadata } }, 'ADDED', replica));
  }

  update(body: Lease, replica: string): Reply {
    const current = this.leases.get(body.metadata.name);
    if (!current) return status(404, 'NotFound', 'not found');
    if (body.metadata.resourceVersion !== current.metadata.resourceVersion) {
      return status(409, 'Conflict', 'the object has been modified; please apply your changes to the latest version');
    }
    return json(200, this.store({ ...body, metadata: { ...body.metadata } }, 'MODIFIED', replica));
  }

  /** Another party writes a Lease directly (an operator, an old process). */
  put(name: string, spec: LeaseRecord, labels: Record<string, string>, annotations?: Record<string, string>): void {
    const existing = this.leases.get(name);
    this.store(
      {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name, namespace: NS, labels, annotations },
        spec,
      },
      existing ? 'MODIFIED' : 'ADDED',
      'test',
    );
  }

  private store(lease: Lease, type: Event['type'], replica: string): Lease {
    lease.metadata.resourceVersion = String(++this.rv);
    this.leases.set(lease.metadata.name, lease);
    this.events.push({ rv: this.rv, type, object: clone(lease) });
    this.writes.push({
      replica,
      name: lease.metadata.name,
      holder: lease.spec.holderIdentity,
      at: Date.now() - this.t0,
    });
    for (const watcher of this.watchers) {
      if (watcher.stream.open && this.matches(lease, watcher.selector)) watcher.stream.push(type, clone(lease));
    }
    return clone(lease);
  }
}

const clone = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;
