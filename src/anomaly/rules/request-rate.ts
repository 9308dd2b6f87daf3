import { mayFlag, type RateWindow, type SessionState } from '../state.js';
import type { AnomalyConfig, Finding, RequestFacts } from '../types.js';

/** The window holding `now` (windows are aligned to multiples of `window`), with `count` more requests. */
export function countedRequests(
  rate: RateWindow,
  now: number,
  window: number,
  count: number,
): RateWindow {
  const start = now - (now % window);
  if (start === rate.start) return { ...rate, current: rate.current + count };
  const previous = start - rate.start === window ? rate.current : 0;
  return { start, current: count, previous };
}

/**
 * Requests in the sliding window that ends at `now`, estimated from two fixed
 * windows: the previous one weighted by how much of it the sliding window
 * still covers (as Cloudflare counts).
 */
export function requestsInWindow(rate: RateWindow, now: number, window: number): number {
  const covered = 1 - (now - rate.start) / window;
  return rate.current + rate.previous * Math.max(0, covered);
}

/**
 * More than `limit` requests on one session within `window`: a script, not a
 * person, is using it. Reads `state.rate`, which the detector has already
 * counted this request in; flags once per window per session.
 */
export function requestRate(
  state: SessionState,
  facts: RequestFacts,
  settings: AnomalyConfig['rules']['request-rate'],
): Finding | null {
  const requests = requestsInWindow(state.rate, facts.now, settings.window);
  if (requests <= settings.limit || !mayFlag(state, 'request-rate', facts.now, settings.window))
    return null;
  return {
    rule: 'request-rate',
    reason: `about ${Math.round(requests)} requests in ${settings.window / 1000} s on one session, above the limit of ${settings.limit}`,
    score: settings.score,
  };
}
