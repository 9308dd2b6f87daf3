export {
  AnomalyDetector,
  type AnomalyDetectorOptions,
  type FlagQuery,
  flaggedEvent,
  type PatchObservation,
} from './detector.js';
export { AnomalyStateConflictError } from './errors.js';
export { networkOf } from './network.js';
export { COLLECTIONS as ANOMALY_COLLECTIONS } from './state.js';
export {
  ANOMALY_ACTIONS,
  ANOMALY_DEFAULTS,
  type AnomalyAction,
  type AnomalyConfig,
  type AnomalyFlag,
  type Finding,
  type RequestFacts,
  type RequestObservation,
  RULE_NAMES,
  type RuleName,
  type RuleSettings,
  type Verdict,
} from './types.js';
export { userAgentFamily } from './user-agent.js';
