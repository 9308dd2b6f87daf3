import type { RecordStore, RecordValue } from '../core/index.js';
import { AnomalyStateConflictError } from './errors.js';
import type { RuleName } from './types.js';

/** The record collections the detector keeps its shared state in. */
export const COLLECTIONS = {
  /** Per session, keyed by session id; ends with the session's absolute expiry. */
  sessions: 'anomaly-sessions',
  /** Per user (hashed id): the devices and networks of the last successful logins. */
  users: 'anomaly-users',
  /** Per client address and window: the accounts it failed to log in to. */
  addresses: 'anomaly-addresses',
  /** The flags, by user and time, for the admin API; they end after `flagRetention`. */
  flags: 'anomaly-flags',
} as const;

/** What the detector knows about one session, shared by every gateway. */
export interface SessionState {
  userId: string;
  /** The network and browser family of the session's latest request. */
  network: string | null;
  country: string | null;
  family: string | null;
  /** Recently seen networks and when, at most MAX_SEEN_NETWORKS, refreshed coarsely. */
  seen: Record<string, number>;
  /** Requests in the window starting at `start` and in the one before it. */
  rate: RateWindow;
  /** The last value of each watched field. */
  watched: Record<string, number>;
  /** The rule whose step-up this session owes: it must log in again. */
  stepUp: RuleName | null;
  /** When each rule last flagged this session, for rules that flag once per window. */
  flagged: Partial<Record<RuleName, number>>;
}

export interface RateWindow {
  start: number;
  current: number;
  previous: number;
}

export interface LoginRecord {
  family: string | null;
  network: string | null;
  at: number;
}

export interface UserState {
  logins: LoginRecord[];
}

export interface AddressState {
  /** Short hashes of the usernames that failed from this address in the window. */
  accounts: string[];
  flagged: boolean;
}

export const MAX_SEEN_NETWORKS = 4;

/**
 * The least time between two flags of one rule on one session for the rules
 * that flag each change (browser, network): a client flipping between values
 * must not turn every request into a stored flag.
 */
export const FLAG_COOLDOWN = 60_000;

/**
 * Whether `rule` may flag the session at `now`, given the least time between
 * two of its flags; if so, the flag is noted in `state`.
 */
export function mayFlag(state: SessionState, rule: RuleName, now: number, cooldown: number) {
  const last = state.flagged[rule];
  if (last !== undefined && now - last < cooldown) return false;
  state.flagged[rule] = now;
  return true;
}

export function emptySessionState(userId: string): SessionState {
  return {
    userId,
    network: null,
    country: null,
    family: null,
    seen: {},
    rate: { start: 0, current: 0, previous: 0 },
    watched: {},
    stepUp: null,
    flagged: {},
  };
}

/** The next value of a record (null: leave it as it is) and what the caller gets. */
export type RecordChange<T, R> = (current: T | null) => { next: T | null; result: R };

const MAX_ATTEMPTS = 5;

/**
 * Applies `change` to the record at `key` with compare-and-set: when another
 * instance wrote in between, `change` runs again on what it wrote, so that
 * every instance's update lands and each decision is made on the latest
 * state. Gives up with AnomalyStateConflictError after MAX_ATTEMPTS.
 */
export async function changeRecord<T, R>(
  records: RecordStore,
  collection: string,
  key: string,
  options: { now: number; expiresAt: (next: T) => number },
  change: RecordChange<T, R>,
): Promise<R> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const stored = await records.get(collection, key, options.now);
    const { next, result } = change(stored === null ? null : (stored.value as unknown as T));
    if (next === null) return result;
    const written = await records.put(collection, key, next as unknown as RecordValue, {
      now: options.now,
      ifVersion: stored?.version ?? 0,
      expiresAt: options.expiresAt(next),
    });
    if (written !== null) return result;
  }
  throw new AnomalyStateConflictError(collection);
}
