import { describe, expect, it } from 'vitest';
import { ANOMALY_DEFAULTS } from '../../src/anomaly/index.js';
import { credentialStuffing } from '../../src/anomaly/rules/credential-stuffing.js';
import { newDevice } from '../../src/anomaly/rules/new-device.js';
import { watchedFields } from '../../src/anomaly/rules/watched-field.js';
import { emptySessionState, type UserState } from '../../src/anomaly/state.js';

const RULES = ANOMALY_DEFAULTS.rules;

describe('new-device', () => {
  const settings = { ...RULES['new-device'], history: 3 };
  const login = (family: string | null, network: string | null, at = 0) => ({
    family,
    network,
    at,
  });

  it('does not flag a first login, then flags a new family or network, naming which', () => {
    const state: UserState = { logins: [] };
    expect(newDevice(state, login('Chrome', '203.0.0.0/16'), settings)).toBeNull();
    expect(newDevice(state, login('Chrome', '203.0.0.0/16'), settings)).toBeNull();
    expect(newDevice(state, login('Firefox', '203.0.0.0/16'), settings)?.reason).toBe(
      "a login from browser family Firefox, not seen in the user's last 2 logins",
    );
    const both = newDevice(state, login('Safari', '198.51.0.0/16'), settings);
    expect(both?.reason).toBe(
      "a login from browser family Safari and network 198.51.0.0/16, not seen in the user's last 3 logins",
    );
    expect(both?.score).toBe(RULES['new-device'].score);
  });

  it('compares with the last `history` logins only', () => {
    const state: UserState = { logins: [] };
    newDevice(state, login('Chrome', 'a'), settings);
    for (const network of ['b', 'c', 'd']) newDevice(state, login('Chrome', network), settings);
    expect(state.logins.map((l) => l.network)).toEqual(['b', 'c', 'd']);
    expect(newDevice(state, login('Chrome', 'a'), settings)?.rule).toBe('new-device');
  });

  it('does not count an unknown family or network as new', () => {
    const state: UserState = { logins: [login('Chrome', 'a')] };
    expect(newDevice(state, login(null, null), settings)).toBeNull();
  });
});

describe('credential-stuffing', () => {
  const settings = { ...RULES['credential-stuffing'], limit: 3 };

  it('flags the limit-th distinct account once, and counts an account once', () => {
    const state = { accounts: [], flagged: false };
    expect(credentialStuffing(state, 'a', '203.0.113.9/32', settings)).toBeNull();
    expect(credentialStuffing(state, 'a', '203.0.113.9/32', settings)).toBeNull();
    expect(credentialStuffing(state, 'b', '203.0.113.9/32', settings)).toBeNull();
    const finding = credentialStuffing(state, 'c', '203.0.113.9/32', settings);
    expect(finding?.rule).toBe('credential-stuffing');
    expect(finding?.reason).toBe(
      'failed logins for 3 different accounts from 203.0.113.9/32 within 24 h',
    );
    expect(state).toEqual({ accounts: ['a', 'b', 'c'], flagged: true });
    expect(credentialStuffing(state, 'd', '203.0.113.9/32', settings)).toBeNull();
    expect(state.accounts).toHaveLength(3);
  });
});

describe('watched-field', () => {
  const settings = { ...RULES['watched-field'], pointers: ['/cart/total'], factor: 5 };

  it('records a first value, then flags a jump beyond the factor', () => {
    const state = emptySessionState('alice');
    const patch = (total: unknown, paths = ['/cart/total']) =>
      ({ data: { cart: { total } }, paths }) as never;
    expect(watchedFields(state, patch(20), settings)).toEqual([]);
    expect(watchedFields(state, patch(100), settings)).toEqual([]); // exactly 5 times
    const [finding] = watchedFields(state, patch(501), settings);
    expect(finding).toEqual({
      rule: 'watched-field',
      reason: '/cart/total jumped from 100 to 501, more than 5 times its last value',
      score: RULES['watched-field'].score,
    });
    expect(state.watched['/cart/total']).toBe(501);
  });

  it('looks only at patches that touched the field, a parent or a child', () => {
    const state = emptySessionState('alice');
    state.watched['/cart/total'] = 1;
    const data = { cart: { total: 1_000 } };
    expect(watchedFields(state, { data, paths: ['/theme'] }, settings)).toEqual([]);
    expect(state.watched['/cart/total']).toBe(1);
    expect(watchedFields(state, { data, paths: ['/cart'] }, settings)).toHaveLength(1);
  });

  it('does not flag from a last value of 0, and forgets a field that is no longer a number', () => {
    const state = emptySessionState('alice');
    state.watched['/cart/total'] = 0;
    const paths = ['/cart/total'];
    expect(watchedFields(state, { data: { cart: { total: 900 } }, paths }, settings)).toEqual([]);
    expect(watchedFields(state, { data: { cart: {} }, paths }, settings)).toEqual([]);
    expect(state.watched).toEqual({});
  });
});
