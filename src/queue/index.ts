export * from './backoff.js';
export * from './work-queue.js';
export * from './fair-limiter.js';
