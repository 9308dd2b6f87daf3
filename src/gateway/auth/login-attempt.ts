import type { RateLimiter, RateLimitResult } from '../../core/index.js';
import { consumeAll, type RateLimitCheck, rateLimitAddress } from '../../http/index.js';
import type { CredentialSource, VerifiedUser } from './credentials.js';
import { LoginFailedError } from './errors.js';
import type {
  LoginChallenges,
  ProofOfWork,
  ProofOfWorkChallenge,
  ProofRejection,
} from './login-challenge.js';
import { usernameKey } from './username.js';

/**
 * The limits on logins, each in its own window. Addresses are counted by
 * `rateLimitAddress` (an IPv6 client by its /64), accounts by `usernameKey`.
 */
export interface LoginLimiters {
  /** Failed logins per client address, whatever the account. */
  ip: RateLimiter;
  /** Failed logins per account and client address: what stops a guesser, and only the guesser. */
  accountAddress: RateLimiter;
  /** Failed logins per account from every address: past it, each attempt needs a proof of work. */
  account: RateLimiter;
  /** Successful logins per account, so that a stolen password cannot mint sessions at will. */
  success: RateLimiter;
}

export interface LoginGuards {
  limiters: LoginLimiters;
  challenges: LoginChallenges;
}

export interface LoginAttempt {
  ip: string;
  username: string;
  password: string;
  proofOfWork?: ProofOfWork;
}

export type LoginOutcome =
  | { allowed: true; user: VerifiedUser }
  | {
      allowed: false;
      limited: RateLimitResult;
      /** Set when the account is past its ceiling: solve `challenge` and try again. */
      proofOfWork?: { challenge: ProofOfWorkChallenge; rejected: ProofRejection | 'missing' };
    };

interface Charge {
  limiter: RateLimiter;
  result: RateLimitResult;
}

/**
 * One credential check under the login limits. The attempt is charged before
 * the check (so parallel guesses count) and the charges are taken back
 * afterwards unless they apply: failures keep the failure charges, successes
 * the success charge. The per-address limits refuse outright (429); an
 * account past its ceiling of failures is not locked but slowed: the attempt
 * needs a solved challenge (the refusal carries a new one), so its owner can
 * still sign in while others hammer it. A refused attempt charges nothing and
 * checks nothing. Throws LoginFailedError for a wrong password or unknown
 * user alike.
 */
export async function attemptLogin(
  credentials: CredentialSource,
  guards: LoginGuards,
  attempt: LoginAttempt,
): Promise<LoginOutcome> {
  const { limiters, challenges } = guards;
  const account = usernameKey(attempt.username);
  const address = rateLimitAddress(attempt.ip);
  const checks: RateLimitCheck[] = [
    { limiter: limiters.success, key: `login:success:${account}` },
    { limiter: limiters.ip, key: `login:ip:${address}` },
    // The address first: it holds no `|`, so the pair reads one way only.
    { limiter: limiters.accountAddress, key: `login:account-address:${address}|${account}` },
  ];
  const charged = await consumeAll(checks);
  if (!charged.allowed) return { allowed: false, limited: charged };
  const charges: Charge[] = charged.results.map((result, i) => ({
    limiter: (checks[i] as RateLimitCheck).limiter,
    result,
  }));
  let user: VerifiedUser | null;
  try {
    const ceiling = await limiters.account.consume(`login:account:${account}`);
    charges.push({ limiter: limiters.account, result: ceiling });
    if (!ceiling.allowed) {
      const rejected =
        attempt.proofOfWork === undefined
          ? 'missing'
          : await challenges.redeem(account, attempt.proofOfWork);
      if (rejected !== null) {
        await refund(charges);
        const challenge = challenges.issue(account);
        return { allowed: false, limited: ceiling, proofOfWork: { challenge, rejected } };
      }
    }
    user = await credentials.verify(attempt.username, attempt.password);
  } catch (error) {
    // An auth service that could not answer is not a failed guess.
    await refund(charges);
    throw error;
  }
  const [success, ...failures] = charges as [Charge, ...Charge[]];
  if (user === null) {
    await refund([success]);
    throw new LoginFailedError();
  }
  await refund(failures);
  return { allowed: true, user };
}

/** Refunding a refused result changes nothing, so every charge can go through here. */
async function refund(charges: readonly Charge[]): Promise<void> {
  await Promise.all(charges.map(({ limiter, result }) => limiter.refund(result)));
}
