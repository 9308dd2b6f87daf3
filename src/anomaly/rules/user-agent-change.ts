import { FLAG_COOLDOWN, mayFlag, type SessionState } from '../state.js';
import type { AnomalyConfig, Finding, RequestFacts } from '../types.js';

/**
 * A session whose browser family changes (Chrome to Firefox) has most likely
 * changed hands: browsers update their versions, never their family. Records
 * the family in `state`; a request without a User-Agent changes nothing.
 * Flags a session at most once per FLAG_COOLDOWN.
 */
export function userAgentChange(
  state: SessionState,
  facts: RequestFacts,
  settings: AnomalyConfig['rules']['user-agent-change'],
): Finding | null {
  const before = state.family;
  if (facts.family === null || facts.family === before) return null;
  state.family = facts.family;
  if (before === null || !mayFlag(state, 'user-agent-change', facts.now, FLAG_COOLDOWN))
    return null;
  return {
    rule: 'user-agent-change',
    reason: `the browser family changed from ${before} to ${facts.family} within the session`,
    score: settings.score,
  };
}
