export type LeaseOutcome<T> = { acquired: true; value: T } | { acquired: false };

/** Work that exactly one instance should do at a time (sweeps), with whatever backend holds the lease. */
export interface Lease {
  /** Runs `fn` if the lease `name` is free, else returns `{ acquired: false }` at once. `signal` aborts if the lease is lost. */
  run<T>(name: string, fn: (signal: AbortSignal) => Promise<T>): Promise<LeaseOutcome<T>>;
  close(): Promise<void>;
}
