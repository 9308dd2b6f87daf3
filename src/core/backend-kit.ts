/**
 * What backends in `src/stores/<backend>/` share beyond the public contracts:
 * argument checks that make every backend refuse the same bad input, the
 * group commit of concurrent updates, the outbox option and its checks,
 * optional-driver loading, and the wording of "the store is unavailable".
 * Not exported from the package root.
 */
export { importDriver, requireDriver } from './driver.js';
export {
  type AppliedBatch,
  applyInOrder,
  type CommitBatch,
  GROUP_COMMIT_LIMITS,
  GroupCommit,
  type GroupCommitLimits,
  type QueuedUpdate,
  readClock,
  type UpdateOutcome,
} from './group-commit.js';
export {
  assertOutboxQuery,
  assertPosition,
  assertServiceEvents,
  assertTrim,
  outboxInstance,
} from './outbox-kit.js';
export { assertCost, assertPolicy, failedOpen, storageKey } from './rate-limiter.js';
export {
  assertIfVersion,
  assertLimit,
  assertListOptions,
  assertName,
  assertNow,
  assertPutOptions,
  encodeValue,
} from './record-validation.js';
export { failureReason, storeUnavailable } from './store-failure.js';
export { splitQuery } from './store-url.js';
