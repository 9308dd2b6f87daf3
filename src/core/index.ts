export {
  type Backend,
  type BackendDefinition,
  type OpenOptions,
  openBackend,
  type RateLimiters,
  redactUrl,
  registerBackend,
} from './backend.js';
export {
  type CodecOptions,
  createCodec,
  type DataFormat,
  DEFAULT_MAX_DATA_BYTES,
  type SessionCodec,
  sealingKeyId,
} from './codec.js';
export { assertSessionData, MAX_SESSION_DATA_DEPTH } from './data.js';
export { DURATION_UNITS, parseDuration } from './duration.js';
export * from './errors.js';
export type { SessionEventName, SessionEvents } from './events.js';
export type { InvalidationBus } from './invalidation-bus.js';
export { ipBytes, normalizeIp } from './ip.js';
export { generateEncryptionKey, Keyring, type KeyringConfig } from './keyring.js';
export type { Lease, LeaseOutcome } from './lease.js';
export {
  type CauseOptions,
  type CreateSessionInput,
  type IssuedSession,
  type ReadOptions,
  type RotateOptions,
  SESSION_DEFAULTS,
  SessionManager,
  type SessionManagerOptions,
  type SessionRef,
  type SweepOptions,
} from './manager.js';
export {
  createdEvent,
  defaultInstance,
  EVENT_TYPES,
  type EventCause,
  type EventStamp,
  type EventType,
  expiredEvent,
  newEventId,
  type Outbox,
  type OutboxEvent,
  type OutboxOptions,
  type OutboxPage,
  type OutboxQuery,
  type OutboxRecord,
  openPayload,
  patchPaths,
  type ReplayPayload,
  renamedEvent,
  revokedEvent,
  type ServiceEventType,
  type SessionEventType,
  serviceEvent,
  updatedEvent,
  type WriteOptions,
} from './outbox.js';
export { applyPatch, type PatchOperation, parsePatch, parsePointer } from './patch.js';
export {
  RateLimitedError,
  type RateLimiter,
  type RateLimitPolicy,
  type RateLimitResult,
  retryAfterSeconds,
} from './rate-limiter.js';
export type { PutOptions, RecordStore, RecordValue, StoredRecord } from './record-store.js';
export {
  expiresAt,
  isExpired,
  type Session,
  type SessionData,
  type SessionTimes,
  type SessionValue,
  sessionTimes,
} from './session.js';
export { renamedSession, updatedSession } from './session-update.js';
export type {
  Activity,
  ArchiveSink,
  PoolStats,
  RenameOptions,
  ScanPage,
  SessionStore,
  UpdateOptions,
} from './store.js';
export { Deadline, withTimeout } from './timeout.js';
export { constantTimeEqual, generateToken, type RandomSource, sessionIdOf } from './token.js';
