import { Logger } from '@nestjs/common';
import { describeFailure, type ClusterClient } from '../../index.js';
import { RM_API_VERSION, RM_KIND, type RemoteManifest } from './api.js';

/** Kubernetes Events on a RemoteManifest (kubectl describe shows them). Best effort: an Event
 * that cannot be written is logged, never a reason to retry the work it describes. */
export class ManifestEvents {
  private readonly logger = new Logger('RemoteManifest');

  constructor(private readonly instance: string) {}

  async warn(manage: ClusterClient, rm: RemoteManifest, reason: string, message: string): Promise<void> {
    const namespace = rm.metadata!.namespace!;
    const now = new Date().toISOString();
    try {
      await manage.request('POST', `/api/v1/namespaces/${encodeURIComponent(namespace)}/events`, {
        body: {
          apiVersion: 'v1',
          kind: 'Event',
          metadata: { generateName: `${rm.metadata!.name}.`, namespace },
          involvedObject: {
            apiVersion: RM_API_VERSION,
            kind: RM_KIND,
            namespace,
            name: rm.metadata!.name,
            uid: rm.metadata!.uid,
          },
          type: 'Warning',
          reason,
          message: message.slice(0, 1024),
          source: { component: 'clusterregistry' },
          reportingComponent: 'clusterregistry.dev/remotemanifest',
          reportingInstance: this.instance,
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
      });
    } catch (err) {
      this.logger.warn(
        `could not record event ${reason} on ${namespace}/${rm.metadata!.name}: ${describeFailure(err)}`,
      );
    }
  }
}
