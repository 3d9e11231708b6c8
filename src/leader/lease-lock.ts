// The Lease lock moved one layer down (src/lease/), where leader election and sharding share it.
export * from '../lease/lease-lock.js';
