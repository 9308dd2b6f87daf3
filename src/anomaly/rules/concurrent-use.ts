import { MAX_SEEN_NETWORKS, mayFlag, type SessionState } from '../state.js';
import type { AnomalyConfig, Finding, RequestFacts } from '../types.js';

/**
 * One session used from two networks at once: a request comes back to a
 * network the session used within `window` while another network used it
 * in between, within `window` too. A single move (wifi to mobile) is the
 * network-change rule's; going back and forth is two parties holding one
 * token. Flags once per `window` per session.
 *
 * Keeps when each network was last seen in `state.seen`, refreshed only on a
 * switch or when older than a quarter of the window, so that a session used
 * steadily from one place writes rarely.
 */
export function concurrentUse(
  state: SessionState,
  facts: RequestFacts,
  settings: AnomalyConfig['rules']['concurrent-use'],
): Finding | null {
  const { now, network } = facts;
  if (network === null) return null;
  const recent = (at: number | undefined) => at !== undefined && now - at <= settings.window;
  const switching = state.network !== null && state.network !== network;
  const returning =
    switching && recent(state.seen[network]) && recent(state.seen[state.network as string]);
  const lastSeen = state.seen[network];
  if (switching || lastSeen === undefined || now - lastSeen > settings.window / 4) {
    state.seen = latestNetworks({ ...state.seen, [network]: now });
  }
  if (!returning || !mayFlag(state, 'concurrent-use', now, settings.window)) return null;
  return {
    rule: 'concurrent-use',
    reason: `the session is in use from ${network} and ${state.network} at the same time`,
    score: settings.score,
  };
}

function latestNetworks(seen: Record<string, number>): Record<string, number> {
  const latest = Object.entries(seen)
    .sort(([, a], [, b]) => b - a)
    .slice(0, MAX_SEEN_NETWORKS);
  return Object.fromEntries(latest);
}
