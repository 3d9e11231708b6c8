import { Injectable } from '@nestjs/common';
import type { KubeObject } from '../../index.js';
import type { FeedbackRule } from './api.js';
import type { ObjectId } from './markers.js';

/** The outcome of applying one manifest to one cluster. */
export interface ApplyResult {
  id: ObjectId;
  /** The object as applied (markers included), for drift checks; none when it was invalid. */
  desired?: KubeObject;
  applied: boolean;
  reason: string;
  message?: string;
  /** A failed apply: whether the object there is, or may be, ours to remove (api.ts ObjectStatus);
   * unset when the apply learnt nothing of its owner (the reconciler fills it in from its record). */
  owned?: boolean;
  /** Of the object the apply answered with. */
  uid?: string;
  generation?: number;
}

/** An object applied before and no longer listed, not removed yet: `Removing` while its removal
 * is under way, otherwise why it failed. */
export interface Removal {
  id: ObjectId;
  reason: string;
  message?: string;
}

/** What the manage side applied to one cluster for one RemoteManifest. */
export interface Placement {
  /** namespace/name of the RemoteManifest. */
  key: string;
  uid: string;
  generation: number;
  results: ApplyResult[];
  /** What is still to be removed: published before the removals and again after them, so the
   * status never loses an object of ours that is still there. */
  removals: Removal[];
  feedback: FeedbackRule[];
}

/** Marks a lookup that cannot be answered from a cache: the kind is not watched (or not synced). */
export const UNKNOWN = Symbol('unknown');

/** The remote side of one cluster, as the manage side may use it. */
export interface ClusterSide {
  /** The live object, from a synced watch of its kind (objects carrying the manifest label
   * only): undefined when that watch does not have it, UNKNOWN when there is no such watch. */
  cached(id: ObjectId): KubeObject | undefined | typeof UNKNOWN;
  /** A placement of this cluster changed: mirror it. */
  placed(key: string): void;
}

export type HubEvent =
  /** An applied object was changed or deleted in the cluster: apply again. */
  | { type: 'drift'; cluster: string; key: string }
  /** A cluster's runtime (re)started: what it missed meanwhile is unknown, so apply again. */
  | { type: 'attached'; cluster: string };

/**
 * Where the manage reconciler and the remote reconcilers of this app meet, in process: the
 * manage side decides placements (which RemoteManifest has which objects in which cluster) and
 * publishes them here; each cluster's remote reconciler attaches its side, mirrors the
 * placements of its cluster into RemoteManifest status, and reports drift back. One root
 * instance, handed to every cluster context through `remote.share`.
 */
@Injectable()
export class ManifestHub {
  private readonly placements = new Map<string, Map<string, Placement>>();
  private readonly sides = new Map<string, ClusterSide>();
  private readonly listeners = new Set<(event: HubEvent) => void>();

  publish(cluster: string, placement: Placement): void {
    let placements = this.placements.get(cluster);
    if (!placements) this.placements.set(cluster, (placements = new Map<string, Placement>()));
    placements.set(placement.key, placement);
    this.sides.get(cluster)?.placed(placement.key);
  }

  withdraw(cluster: string, key: string): void {
    if (this.placements.get(cluster)?.delete(key)) this.sides.get(cluster)?.placed(key);
  }

  placement(cluster: string, key: string): Placement | undefined {
    return this.placements.get(cluster)?.get(key);
  }

  placementsOf(cluster: string): Placement[] {
    return [...(this.placements.get(cluster)?.values() ?? [])];
  }

  /** Clusters that hold a placement of `key`. */
  clustersOf(key: string): string[] {
    return [...this.placements].filter(([, p]) => p.has(key)).map(([cluster]) => cluster);
  }

  side(cluster: string): ClusterSide | undefined {
    return this.sides.get(cluster);
  }

  /** A cluster context's remote reconciler takes its place; returns the function that leaves.
   * Placements published before it attached are its to mirror (its runtime started after they
   * were made). Those of a side that left go with it: the cluster may run elsewhere meanwhile (a
   * shard handed over), and a placement kept here would, on its return, be mirrored over the newer
   * status the other replica wrote; the `attached` event has the manage side publish afresh. */
  attach(cluster: string, side: ClusterSide): () => void {
    this.sides.set(cluster, side);
    this.emit({ type: 'attached', cluster });
    return () => {
      if (this.sides.get(cluster) !== side) return;
      this.sides.delete(cluster);
      this.placements.delete(cluster);
    };
  }

  drifted(cluster: string, key: string): void {
    this.emit({ type: 'drift', cluster, key });
  }

  onEvent(listener: (event: HubEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(event: HubEvent): void {
    for (const listener of this.listeners) listener(event);
  }
}
