/** A value that can live in session data: JSON plus `Date`. */
export type SessionValue =
  | string
  | number
  | boolean
  | null
  | Date
  | SessionValue[]
  | { [key: string]: SessionValue };

/** Session data is always an object at the root. */
export type SessionData = { [key: string]: SessionValue };

/**
 * One session as stores keep it and the manager returns it. Times are epoch
 * milliseconds. `id` is SHA-256(token) in hex; the token itself is never stored.
 */
export interface Session {
  id: string;
  userId: string;
  data: SessionData;
  /** Starts at 1 and grows by one with every change to `data`. */
  version: number;
  createdAt: number;
  lastActiveAt: number;
  idleExpiresAt: number;
  absoluteExpiresAt: number;
  /** When the current token was issued: at create, regenerate and rotate. Drives scheduled rotation. */
  tokenIssuedAt: number;
  ip: string | null;
  userAgent: string | null;
}

/** When a session began, was last active and ends, in epoch ms: what a client may be shown. */
export interface SessionTimes {
  createdAt: number;
  lastActiveAt: number;
  expiresAt: number;
}

export function sessionTimes(session: Session): SessionTimes {
  return {
    createdAt: session.createdAt,
    lastActiveAt: session.lastActiveAt,
    expiresAt: expiresAt(session),
  };
}

/** The moment after which a session is dead: the nearer of its two expiries. */
export function expiresAt(session: Pick<Session, 'idleExpiresAt' | 'absoluteExpiresAt'>): number {
  return Math.min(session.idleExpiresAt, session.absoluteExpiresAt);
}

export function isExpired(
  session: Pick<Session, 'idleExpiresAt' | 'absoluteExpiresAt'>,
  now: number,
): boolean {
  return now >= expiresAt(session);
}
