import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/core/index.js';
import { loadConfig, parseConfig } from '../../src/gateway/index.js';

describe('gateway config durations', () => {
  it('reads numbers of ms, bare digits from the environment, and unit strings', () => {
    expect(parseConfig({ idleTimeout: 90_000 }).idleTimeout).toBe(90_000);
    expect(parseConfig({ idleTimeout: '90s' }).idleTimeout).toBe(90_000);
    expect(parseConfig({ rotation: { interval: '1h', grace: '500ms' } }).rotation).toEqual({
      interval: 3_600_000,
      grace: 500,
    });
    const fromEnv = loadConfig({ env: { CLAWSESSION_IDLE_TIMEOUT: '60000' } });
    expect(fromEnv.idleTimeout).toBe(60_000);
  });

  it('refuses zero, negative, fractional and unknown-unit durations, naming the field', () => {
    for (const idleTimeout of [0, '0s', -5, '-5m', '1.5h', '10 minutes', '', 1.5]) {
      expect(() => parseConfig({ idleTimeout }), String(idleTimeout)).toThrow(
        /idleTimeout \(CLAWSESSION_IDLE_TIMEOUT\): expected a positive duration/,
      );
    }
    expect(() => parseConfig({ idleTimeout: '0' })).toThrow(ConfigError);
  });
});
