/**
 * Named periodic work of a runtime: each cluster's access probe and each controller's resync.
 * The engine only knows this interface; the runtime layer backs it with the context's
 * @nestjs/schedule SchedulerRegistry, so every interval is visible there by name.
 */
export interface Scheduler {
  /** Runs `fn` every `ms` under `name` until cancel(name). A second every() of a name replaces it. */
  every(name: string, ms: number, fn: () => void): void;
  cancel(name: string): void;
  /** Names of the intervals running now. */
  names(): string[];
}

/** Plain timers, for an engine used without NestJS (benchmarks, unit tests). */
export class TimerScheduler implements Scheduler {
  private readonly timers = new Map<string, NodeJS.Timeout>();

  every(name: string, ms: number, fn: () => void): void {
    this.cancel(name);
    const timer = setInterval(fn, ms);
    // Periodic checks alone must not keep a process alive.
    timer.unref();
    this.timers.set(name, timer);
  }

  cancel(name: string): void {
    clearInterval(this.timers.get(name));
    this.timers.delete(name);
  }

  names(): string[] {
    return [...this.timers.keys()];
  }
}
