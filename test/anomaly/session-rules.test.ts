import { describe, expect, it } from 'vitest';
import { ANOMALY_DEFAULTS, type RequestFacts } from '../../src/anomaly/index.js';
import { concurrentUse } from '../../src/anomaly/rules/concurrent-use.js';
import { networkChange } from '../../src/anomaly/rules/network-change.js';
import {
  countedRequests,
  requestRate,
  requestsInWindow,
} from '../../src/anomaly/rules/request-rate.js';
import { userAgentChange } from '../../src/anomaly/rules/user-agent-change.js';
import { emptySessionState } from '../../src/anomaly/state.js';

const RULES = ANOMALY_DEFAULTS.rules;
const T = Date.UTC(2026, 0, 1);
const facts = (over: Partial<RequestFacts> = {}): RequestFacts => ({
  now: T,
  network: '203.0.0.0/16',
  country: null,
  family: 'Chrome',
  ...over,
});

describe('user-agent-change', () => {
  it('records the first family without flagging, then flags a change of family', () => {
    const state = emptySessionState('alice');
    expect(userAgentChange(state, facts(), RULES['user-agent-change'])).toBeNull();
    expect(state.family).toBe('Chrome');
    expect(userAgentChange(state, facts(), RULES['user-agent-change'])).toBeNull();
    const finding = userAgentChange(
      state,
      facts({ family: 'Firefox' }),
      RULES['user-agent-change'],
    );
    expect(finding).toEqual({
      rule: 'user-agent-change',
      reason: 'the browser family changed from Chrome to Firefox within the session',
      score: 40,
    });
    expect(state.family).toBe('Firefox');
  });

  it('flags a session flipping between browsers once a minute at most', () => {
    const state = { ...emptySessionState('alice'), family: 'Chrome' };
    const settings = RULES['user-agent-change'];
    expect(userAgentChange(state, facts({ family: 'Firefox' }), settings)).not.toBeNull();
    expect(userAgentChange(state, facts({ now: T + 1, family: 'Chrome' }), settings)).toBeNull();
    expect(state.family).toBe('Chrome');
    expect(
      userAgentChange(state, facts({ now: T + 59_999, family: 'Safari' }), settings),
    ).toBeNull();
    const later = userAgentChange(state, facts({ now: T + 60_000, family: 'Firefox' }), settings);
    expect(later?.reason).toContain('from Safari to Firefox');
  });

  it('ignores a request without a User-Agent', () => {
    const state = { ...emptySessionState('alice'), family: 'Chrome' };
    expect(userAgentChange(state, facts({ family: null }), RULES['user-agent-change'])).toBeNull();
    expect(state.family).toBe('Chrome');
  });
});

describe('network-change', () => {
  const settings = RULES['network-change'];

  it('flags a move to another network, not a first sight or the same network', () => {
    const state = emptySessionState('alice');
    expect(networkChange(state, facts(), settings)).toBeNull();
    expect(networkChange(state, facts(), settings)).toBeNull();
    const finding = networkChange(state, facts({ network: '198.51.0.0/16' }), settings);
    expect(finding?.rule).toBe('network-change');
    expect(finding?.reason).toBe('the session moved from network 203.0.0.0/16 to 198.51.0.0/16');
    expect(finding?.score).toBe(30);
    expect(state.network).toBe('198.51.0.0/16');
  });

  it('flags a session hopping between networks once a minute at most', () => {
    const state = { ...emptySessionState('alice'), network: '203.0.0.0/16' };
    expect(networkChange(state, facts({ network: '198.51.0.0/16' }), settings)).not.toBeNull();
    expect(
      networkChange(state, facts({ now: T + 1, network: '192.0.0.0/16' }), settings),
    ).toBeNull();
    expect(state.network).toBe('192.0.0.0/16');
    const later = networkChange(
      state,
      facts({ now: T + 60_000, network: '10.0.0.0/16' }),
      settings,
    );
    expect(later?.reason).toContain('from network 192.0.0.0/16 to 10.0.0.0/16');
  });

  it('compares countries instead when both are known', () => {
    const state = { ...emptySessionState('alice'), network: '203.0.0.0/16', country: 'DE' };
    expect(
      networkChange(state, facts({ network: '198.51.0.0/16', country: 'DE' }), settings),
    ).toBeNull();
    const finding = networkChange(
      state,
      facts({ network: '192.0.0.0/16', country: 'BR' }),
      settings,
    );
    expect(finding?.reason).toContain('from DE to BR');
  });

  it('ignores a request without an address', () => {
    const state = { ...emptySessionState('alice'), network: '203.0.0.0/16' };
    expect(networkChange(state, facts({ network: null }), settings)).toBeNull();
    expect(state.network).toBe('203.0.0.0/16');
  });
});

describe('concurrent-use', () => {
  const settings = RULES['concurrent-use'];
  const A = '203.0.0.0/16';
  const B = '198.51.0.0/16';

  /** What the detector does: concurrent-use first, then the network is recorded. */
  function request(state: ReturnType<typeof emptySessionState>, at: number, network: string) {
    const f = facts({ now: at, network });
    const finding = concurrentUse(state, f, settings);
    networkChange(state, f, RULES['network-change']);
    return finding;
  }

  it('flags a session going back and forth between two networks within the window, once per window', () => {
    const state = emptySessionState('alice');
    expect(request(state, T, A)).toBeNull();
    expect(request(state, T + 1_000, B)).toBeNull(); // one move: network-change's to flag
    const finding = request(state, T + 2_000, A);
    expect(finding?.rule).toBe('concurrent-use');
    expect(finding?.reason).toBe(`the session is in use from ${A} and ${B} at the same time`);
    expect(request(state, T + 3_000, B)).toBeNull();
    expect(request(state, T + settings.window + 3_000, A)).toBeNull(); // B was seen too long ago
  });

  it('does not flag a return to a network left longer than the window ago', () => {
    const state = emptySessionState('alice');
    request(state, T, A);
    request(state, T + settings.window + 1, B);
    expect(request(state, T + settings.window + 2, A)).toBeNull();
  });

  it('refreshes a network it keeps seeing only a few times per window, and keeps four networks at most', () => {
    const state = emptySessionState('alice');
    request(state, T, A);
    request(state, T + 1_000, A);
    expect(state.seen[A]).toBe(T);
    request(state, T + settings.window / 4 + 1, A);
    expect(state.seen[A]).toBe(T + settings.window / 4 + 1);
    for (let i = 1; i <= 5; i++) request(state, T + settings.window + i, `10.${i}.0.0/16`);
    expect(Object.keys(state.seen)).toHaveLength(4);
  });
});

describe('request-rate', () => {
  const settings = { ...RULES['request-rate'], limit: 10, window: 60_000 };

  it('counts requests in aligned windows and estimates the sliding window from the two', () => {
    let rate = countedRequests({ start: 0, current: 0, previous: 0 }, T + 1_000, 60_000, 8);
    expect(rate).toEqual({ start: T, current: 8, previous: 0 });
    rate = countedRequests(rate, T + 90_000, 60_000, 2);
    expect(rate).toEqual({ start: T + 60_000, current: 2, previous: 8 });
    expect(requestsInWindow(rate, T + 90_000, 60_000)).toBe(2 + 8 * 0.5);
    rate = countedRequests(rate, T + 240_000, 60_000, 1);
    expect(rate).toEqual({ start: T + 240_000, current: 1, previous: 0 });
  });

  it('flags more than the limit within the window, once per window', () => {
    const state = emptySessionState('alice');
    state.rate = countedRequests(state.rate, T, settings.window, 10);
    expect(requestRate(state, facts(), settings)).toBeNull();
    state.rate = countedRequests(state.rate, T + 1, settings.window, 1);
    const finding = requestRate(state, facts({ now: T + 1 }), settings);
    expect(finding?.rule).toBe('request-rate');
    expect(finding?.reason).toContain('above the limit of 10');
    state.rate = countedRequests(state.rate, T + 2, settings.window, 5);
    expect(requestRate(state, facts({ now: T + 2 }), settings)).toBeNull();
    state.rate = countedRequests(state.rate, T + 61_000, settings.window, 20);
    expect(requestRate(state, facts({ now: T + 61_000 }), settings)?.rule).toBe('request-rate');
  });
});
