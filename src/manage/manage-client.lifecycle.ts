import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import type { ClusterClient } from '../client/cluster-client.js';
import { MANAGE_CLIENT } from '../cluster/tokens.js';

/** Only the root closes the manage client, after every cluster runtime has stopped
 * (runtimes stop in beforeApplicationShutdown, this runs in onApplicationShutdown). */
@Injectable()
export class ManageClientLifecycle implements OnApplicationShutdown {
  constructor(@Inject(MANAGE_CLIENT) private readonly client: ClusterClient) {}

  async onApplicationShutdown(): Promise<void> {
    await this.client.close();
  }
}
