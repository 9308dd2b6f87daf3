import {
  consumeAll,
  type RateLimitCheck,
  type RateLimiter,
  type RateLimitResult,
} from '../../http/index.js';
import type { CredentialSource, VerifiedUser } from './credentials.js';
import { LoginFailedError } from './errors.js';

/** Failed logins allowed per client address and per account, each in its own window. */
export interface LoginLimiters {
  ip: RateLimiter;
  account: RateLimiter;
}

export type LoginOutcome =
  | { allowed: true; user: VerifiedUser }
  | { allowed: false; limited: RateLimitResult };

/**
 * One credential check under both limits. The attempt is charged to the
 * address and the account before the check (so parallel guesses count), and
 * the charge is taken back unless the check failed: only failed logins use
 * up the limits. A refused attempt charges nothing and checks nothing.
 * Throws LoginFailedError for a wrong password or unknown user alike.
 */
export async function attemptLogin(
  credentials: CredentialSource,
  limiters: LoginLimiters,
  attempt: { ip: string; username: string; password: string },
): Promise<LoginOutcome> {
  const checks: RateLimitCheck[] = [
    { limiter: limiters.ip, key: `login:ip:${attempt.ip}` },
    { limiter: limiters.account, key: `login:account:${accountKey(attempt.username)}` },
  ];
  const charged = await consumeAll(checks);
  if (!charged.allowed) return { allowed: false, limited: charged };
  const refund = () =>
    Promise.all(charged.results.map((result, i) => checks[i]?.limiter.refund(result)));
  let user: VerifiedUser | null;
  try {
    user = await credentials.verify(attempt.username, attempt.password);
  } catch (error) {
    // An auth service that could not answer is not a failed guess.
    await refund();
    throw error;
  }
  if (user === null) throw new LoginFailedError();
  await refund();
  return { allowed: true, user };
}

/** One account however its name is spelt: the directory's canonical form (NFC, trimmed, lower case). */
function accountKey(username: string): string {
  return username.normalize('NFC').trim().toLowerCase();
}
