import { type RateLimiter, type RateLimitResult, ValidationError } from '../../core/index.js';

/** One limit of several checked together: which limiter, charged to which key. */
export interface RateLimitCheck {
  limiter: RateLimiter;
  key: string;
}

export interface CombinedRateLimitResult extends RateLimitResult {
  /** One result per check, in the order given; refund these to take a charge back. */
  results: readonly RateLimitResult[];
}

/**
 * Charges `cost` to every check (per IP and per account, say) and allows only
 * if all allow. A refused or failed check leaves no charge on any other: all
 * are charged at once (one round trip), and when any refuses the others'
 * charges are refunded. Between charge and refund another request may see
 * the extra units and be refused too; that errs towards refusing, and never
 * lets more than a limit through. This rather than one script over all keys,
 * because the keys of one request live on different cluster nodes.
 *
 * The combined result is the binding one: when refused, the refusal with the
 * longest wait; when allowed, the check with the fewest units left.
 */
export async function consumeAll(
  checks: readonly RateLimitCheck[],
  cost = 1,
): Promise<CombinedRateLimitResult> {
  if (checks.length === 0) throw new ValidationError('consumeAll needs at least one check');
  const settled = await Promise.allSettled(
    checks.map(({ limiter, key }) => limiter.consume(key, cost)),
  );
  const results = settled.flatMap((outcome) =>
    outcome.status === 'fulfilled' ? [outcome.value] : [],
  );
  const failure = settled.find((outcome) => outcome.status === 'rejected');
  const refused = results.filter((result) => !result.allowed);
  if (failure || refused.length > 0) {
    // Best effort: a refund that fails leaves a charge that expires with its window, erring towards refusing.
    await Promise.allSettled(
      settled.map((outcome, i) =>
        outcome.status === 'fulfilled' && outcome.value.allowed
          ? (checks[i] as RateLimitCheck).limiter.refund(outcome.value)
          : undefined,
      ),
    );
  }
  if (failure) throw failure.reason;
  const binding =
    refused.length > 0
      ? refused.reduce((a, b) => (b.retryAfterMs > a.retryAfterMs ? b : a))
      : results.reduce((a, b) => (b.remaining < a.remaining ? b : a));
  return { ...binding, results };
}
