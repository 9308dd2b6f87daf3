/** The rules the detector knows, as config keys, metric labels and `anomaly:<rule>` causes. */
export const RULE_NAMES = [
  'user-agent-change',
  'network-change',
  'concurrent-use',
  'request-rate',
  'refresh-reuse',
  'credential-stuffing',
  'new-device',
  'watched-field',
] as const;

export type RuleName = (typeof RULE_NAMES)[number];

/**
 * What a flag does: `log` records it (log line, metric, event, admin API);
 * `step-up` also makes the session require a new login; `revoke` ends it.
 * Rules of no session give them their own meaning (docs/anomaly.md).
 */
export const ANOMALY_ACTIONS = ['log', 'step-up', 'revoke'] as const;

export type AnomalyAction = (typeof ANOMALY_ACTIONS)[number];

/** What one rule found: why, and how much it counts (0–100). */
export interface Finding {
  rule: RuleName;
  reason: string;
  score: number;
}

/** A finding with what was done about it and where, as the admin API and events show it. */
export interface AnomalyFlag extends Finding {
  id: string;
  action: AnomalyAction;
  /** Epoch ms. */
  time: number;
  sessionId: string | null;
  userId: string | null;
  /** The client's network (`203.0.0.0/16`, `2001:db8:1::/48`), never the full address. */
  network: string | null;
  /** The client's browser family (`Chrome`, `Firefox`…), never the full User-Agent. */
  userAgentFamily: string | null;
}

export interface RuleSettings {
  enabled: boolean;
  action: AnomalyAction;
  score: number;
}

/** Every setting, resolved: what the gateway's `anomaly` config section validates to. */
export interface AnomalyConfig {
  rules: {
    'user-agent-change': RuleSettings;
    'network-change': RuleSettings & { ipv4Prefix: number; ipv6Prefix: number };
    'concurrent-use': RuleSettings & { window: number };
    'request-rate': RuleSettings & { limit: number; window: number };
    'refresh-reuse': RuleSettings;
    'credential-stuffing': RuleSettings & { limit: number; window: number };
    'new-device': RuleSettings & { history: number };
    'watched-field': RuleSettings & { pointers: string[]; factor: number };
  };
  /** How long flags stay listed in the admin API, in ms. */
  flagRetention: number;
}

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

export const ANOMALY_DEFAULTS: AnomalyConfig = {
  rules: {
    'user-agent-change': { enabled: true, action: 'log', score: 40 },
    'network-change': {
      enabled: true,
      action: 'log',
      score: 30,
      ipv4Prefix: 16,
      ipv6Prefix: 48,
    },
    'concurrent-use': { enabled: true, action: 'log', score: 60, window: 5 * MINUTE },
    'request-rate': { enabled: true, action: 'log', score: 30, limit: 600, window: MINUTE },
    'refresh-reuse': { enabled: true, action: 'log', score: 90 },
    'credential-stuffing': { enabled: true, action: 'revoke', score: 80, limit: 100, window: DAY },
    'new-device': { enabled: true, action: 'log', score: 20, history: 15 },
    'watched-field': { enabled: true, action: 'log', score: 50, pointers: [], factor: 10 },
  },
  flagRetention: 30 * DAY,
};

/** One request on a session, as the gateway saw it. */
export interface RequestObservation {
  sessionId: string;
  userId: string;
  ip: string | null;
  userAgent: string | null;
  /** When the session ends at the latest (its absolute expiry): the state about it ends then too. */
  sessionExpiresAt: number;
}

/** What the gateway should do with the request that was observed. */
export type Verdict =
  | { outcome: 'allow' }
  /** The session must log in again (flagged now or earlier with `step-up`). */
  | { outcome: 'step-up'; rule: RuleName }
  /** The session was revoked just now. */
  | { outcome: 'revoked'; rule: RuleName };

/** What the detector made of one request, for the session rules. */
export interface RequestFacts {
  now: number;
  network: string | null;
  /** From the configured GeoIP lookup; null without one or for an unknown address. */
  country: string | null;
  family: string | null;
}
