import type { KubeObject } from '../cache/types.js';

export const GROUP = 'clusterregistry.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'RemoteCluster';
export const PLURAL = 'remoteclusters';
/** Ours only: added before anything is spawned, removed (alone) once the runtime is stopped. */
export const FINALIZER = 'clusterregistry.dev/runtime';

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

export interface RemoteCluster extends KubeObject {
  spec: { kubeConfig: { secretRef: { namespace: string; name: string; key: string } } };
  status?: {
    observedGeneration?: number;
    conditions?: Condition[];
    /** The replica running this cluster (its identity, the pod name), written by that replica. */
    owner?: string;
  };
}
