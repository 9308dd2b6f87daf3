import type { LoginRecord, UserState } from '../state.js';
import type { AnomalyConfig, Finding } from '../types.js';

/**
 * A login from a browser family or a network the user has not logged in from
 * in their last `history` successful logins (Okta compares with the last
 * 10–20). A user's first login has nothing to compare with and is not
 * flagged. Records the login in `state`, keeping the last `history`.
 */
export function newDevice(
  state: UserState,
  login: LoginRecord,
  settings: AnomalyConfig['rules']['new-device'],
): Finding | null {
  const earlier = state.logins;
  state.logins = [...earlier, login].slice(-settings.history);
  if (earlier.length === 0) return null;
  const newFamily = login.family !== null && !earlier.some((l) => l.family === login.family);
  const newNetwork = login.network !== null && !earlier.some((l) => l.network === login.network);
  if (!newFamily && !newNetwork) return null;
  const what = [
    newFamily ? `browser family ${login.family}` : null,
    newNetwork ? `network ${login.network}` : null,
  ].filter((part) => part !== null);
  return {
    rule: 'new-device',
    reason: `a login from ${what.join(' and ')}, not seen in the user's last ${earlier.length} logins`,
    score: settings.score,
  };
}
