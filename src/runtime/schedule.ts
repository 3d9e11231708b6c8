import type { SchedulerRegistry } from '@nestjs/schedule';
import type { Scheduler } from '../manager/scheduler.js';

/** The engine's named intervals, kept in a context's @nestjs/schedule SchedulerRegistry so they
 * are listed there by name (getIntervals()) and removed with the runtime. The root's registry is
 * shared with the app's own intervals: names() lists only those of `prefix`. */
export function registryScheduler(registry: SchedulerRegistry, prefix: string): Scheduler {
  return {
    names: () => registry.getIntervals().filter((name) => name.startsWith(prefix)),
    every(name, ms, fn) {
      if (registry.doesExist('interval', name)) registry.deleteInterval(name);
      const timer = setInterval(fn, ms);
      // Periodic checks alone must not keep a process alive.
      timer.unref();
      registry.addInterval(name, timer);
    },
    cancel(name) {
      if (registry.doesExist('interval', name)) registry.deleteInterval(name);
    },
  };
}
