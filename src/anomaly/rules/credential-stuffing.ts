import type { AddressState } from '../state.js';
import type { AnomalyConfig, Finding } from '../types.js';

/**
 * Failed logins to many different accounts from one address (as Auth0's
 * suspicious-IP throttling counts: 100 a day by default): someone trying a
 * list of stolen credentials. Adds `account` (a short hash of the username)
 * to the window's list, which stops growing at `limit`; flags once, when the
 * `limit`-th distinct account fails.
 */
export function credentialStuffing(
  state: AddressState,
  account: string,
  address: string,
  settings: AnomalyConfig['rules']['credential-stuffing'],
): Finding | null {
  if (state.flagged || state.accounts.includes(account)) return null;
  state.accounts = [...state.accounts, account];
  if (state.accounts.length < settings.limit) return null;
  state.flagged = true;
  return {
    rule: 'credential-stuffing',
    reason: `failed logins for ${state.accounts.length} different accounts from ${address} within ${settings.window / 3_600_000} h`,
    score: settings.score,
  };
}
