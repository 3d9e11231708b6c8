import type { Logger } from '@nestjs/common';
import { sameConditions, sameJson, setCondition, type ClusterClient } from '../../index.js';
import { manifestKey, type RemoteManifest } from './api.js';
import { parseJsonPath } from './json-path.js';
import { writeSummary } from './status-writes.js';
import { summarize, type Target } from './summary.js';

/** How long clusters may take to report before the status says Progressing. */
export const PROGRESS_GRACE_MS = 2_000;

export interface SumUpInput {
  targets: Target[];
  emptySelector?: string;
  releasing: { cluster: string; message: string }[];
  /** Since when this RemoteManifest waits for its clusters to report `generation`. */
  progressingSince(generation: number): number;
}

/**
 * Applied, Available and Degraded from the selection and every cluster's entry of the status,
 * written (by the summary field manager) only when they say something new. One writer per
 * RemoteManifest: the manage reconciler without sharding, the leader's summary reconciler with.
 */
export async function sumUp(
  rm: RemoteManifest,
  input: SumUpInput,
  manage: ClusterClient,
  logger: Logger,
): Promise<{ requeueAfterMs: number } | undefined> {
  const generation = rm.metadata?.generation ?? 0;
  const summary = summarize({
    generation,
    targets: input.targets,
    emptySelector: input.emptySelector,
    entries: rm.status?.clusters ?? [],
    releasing: input.releasing,
    feedbackErrors: feedbackErrors(rm),
  });
  let conditions = rm.status?.conditions;
  for (const [type, value] of [
    ['Applied', summary.applied],
    ['Available', summary.available],
    ['Degraded', summary.degraded],
  ] as const) {
    conditions = setCondition(conditions, { type, ...value, observedGeneration: generation });
  }
  const same =
    sameConditions(conditions, rm.status?.conditions) &&
    rm.status?.observedGeneration === generation &&
    sameJson(rm.status?.summary, summary.counts);
  if (same) return undefined;
  const before = rm.status?.conditions?.find((c) => c.type === 'Applied');
  if (summary.applied.reason === 'Progressing') {
    // Waiting for clusters to report this generation, which takes a moment: "Progressing" is
    // written only if it lasts, and once (which clusters are still to report is not worth a
    // write per report). With many RemoteManifests that saves half of the summary writes.
    if (before?.reason === 'Progressing' && rm.status?.observedGeneration === generation) return;
    const waited = Date.now() - input.progressingSince(generation);
    if (waited < PROGRESS_GRACE_MS) return { requeueAfterMs: PROGRESS_GRACE_MS - waited };
  }
  if (before?.status !== summary.applied.status || before.reason !== summary.applied.reason) {
    logger.log(`${manifestKey(rm)}: Applied=${summary.applied.status} (${summary.applied.reason})`);
  }
  const ref = { namespace: rm.metadata!.namespace!, name: rm.metadata!.name! };
  await writeSummary(manage, ref, { observedGeneration: generation, conditions, summary: summary.counts });
  return undefined;
}

function feedbackErrors(rm: RemoteManifest): string[] {
  const errors: string[] = [];
  for (const rule of rm.spec?.statusFeedback ?? []) {
    try {
      parseJsonPath(rule.jsonPath);
    } catch (err) {
      errors.push(`statusFeedback ${rule.name}: ${(err as Error).message}`);
    }
  }
  return errors;
}
