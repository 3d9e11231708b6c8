import { Controller, Get } from '@nestjs/common';
import { HealthCheck, HealthCheckService } from '@nestjs/terminus';
import { ClusterRegistryHealthIndicator } from '../index.js';

/** The app's probes, built from the library's health indicator as any user app would. */
@Controller()
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly registry: ClusterRegistryHealthIndicator,
  ) {}

  /** Liveness depends on the process only: a cluster outage must never get the pod restarted. */
  @Get('healthz')
  @HealthCheck()
  liveness() {
    return this.health.check([]);
  }

  @Get('readyz')
  @HealthCheck()
  ready() {
    return this.health.check([() => this.registry.manage(), () => this.registry.clusters()]);
  }
}
