import { FLAG_COOLDOWN, mayFlag, type SessionState } from '../state.js';
import type { AnomalyConfig, Finding, RequestFacts } from '../types.js';

/**
 * A session that moves to another network (another /16 of IPv4 or /48 of
 * IPv6) or, when a GeoIP lookup is configured and knows both addresses,
 * another country. A move within one network (DHCP, a carrier's NAT pool)
 * is not one. Records the network and country in `state`. Flags a session at
 * most once per FLAG_COOLDOWN.
 */
export function networkChange(
  state: SessionState,
  facts: RequestFacts,
  settings: AnomalyConfig['rules']['network-change'],
): Finding | null {
  if (facts.network === null || facts.network === state.network) return null;
  const before = { network: state.network, country: state.country };
  state.network = facts.network;
  state.country = facts.country;
  if (before.network === null) return null;
  const rule = 'network-change' as const;
  const countries = before.country !== null && facts.country !== null;
  if (countries && before.country === facts.country) return null;
  if (!mayFlag(state, rule, facts.now, FLAG_COOLDOWN)) return null;
  if (countries) {
    return {
      rule,
      reason: `the session moved from ${before.country} to ${facts.country} (${before.network} to ${facts.network})`,
      score: settings.score,
    };
  }
  return {
    rule,
    reason: `the session moved from network ${before.network} to ${facts.network}`,
    score: settings.score,
  };
}
