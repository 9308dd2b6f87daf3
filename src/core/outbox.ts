import { randomFillSync } from 'node:crypto';
import { hostname } from 'node:os';
import { v7 as uuidv7 } from 'uuid';
import type { SessionCodec } from './codec.js';
import type { PatchOperation } from './patch.js';
import type { Session, SessionData } from './session.js';

/*
 * The transactional outbox: a store that keeps one writes each lifecycle
 * event in the same atomic step as the change it describes (a row in the
 * same SQL transaction, an XADD in the same Lua script), so there is no
 * change without its event and no event without its change. A relay
 * (src/events) later moves the events to brokers; the request path never
 * waits for one.
 *
 * The pure builders below are the one place the events' `data` is shaped,
 * so every backend records the same event for the same change.
 */

/** Events a session store records itself, with the change. */
export type SessionEventType =
  | 'session.created'
  | 'session.updated'
  | 'session.regenerated'
  | 'session.rotated'
  | 'session.revoked'
  | 'session.expired';

/** Events of no session change, appended with `Outbox.append`. */
export type ServiceEventType =
  | 'refresh.reused'
  | 'apikey.created'
  | 'apikey.rotated'
  | 'apikey.revoked'
  | 'login.failed'
  | 'anomaly.flagged';

export type EventType = SessionEventType | ServiceEventType;

export const EVENT_TYPES: readonly EventType[] = [
  'session.created',
  'session.updated',
  'session.regenerated',
  'session.rotated',
  'session.revoked',
  'session.expired',
  'refresh.reused',
  'apikey.created',
  'apikey.rotated',
  'apikey.revoked',
  'login.failed',
  'anomaly.flagged',
];

/** Who or what caused a change, recorded with its event. */
export interface EventCause {
  /** Who acted: `user`, `admin:<key id>`, `system`, `cli`… Default `system`. */
  actor?: string;
  /** Why, for an end: `logout`, `evicted`, `admin`, `password-changed`, `anomaly:<rule>`… */
  reason?: string;
}

/** What a write may carry for its event. Ignored by a store without an outbox. */
export interface WriteOptions {
  cause?: EventCause;
  /** A copy between stores (a migration's move), not a lifecycle change: no event is recorded. */
  silent?: boolean;
  /**
   * When a delete happens, for its event's time (ms): the caller's clock.
   * Default `Date.now()`. Other writes take theirs from the session or the activity.
   */
  at?: number;
}

/** One event as the outbox keeps it; the relay wraps it in a CloudEvents envelope. */
export interface OutboxEvent {
  /** A UUIDv7: unique, and ordered by time within one process. */
  id: string;
  type: EventType;
  /** When the change was made, in ms since the epoch. */
  time: number;
  /** The session's id (the SHA-256 of its token, never the token); null for events of no session. */
  sessionId: string | null;
  userId: string | null;
  /**
   * The session's own count of events, across its regenerations and
   * rotations: 1 for `session.created`, then one more per event, assigned by
   * the store in the step that makes the change. 0 for events of no session.
   */
  sequence: number;
  /** The instance that made the change (`OutboxOptions.instance`). */
  instance: string;
  /** The type's own fields (docs/events.md); never a token, never a value of session data. */
  data: Record<string, unknown>;
  /**
   * What replay needs and brokers never see: the session data a
   * `session.created` started with, or the patch a `session.updated` applied,
   * values included, encoded with the store's codec (so encrypted at rest
   * when the sessions are), bound to the event id. Absent for other types.
   */
  payload?: Uint8Array;
}

/** An event with its place in the outbox: what the relay's cursor moves over. */
export interface OutboxRecord extends OutboxEvent {
  /** Opaque, and increasing in the order the outbox hands records out. */
  position: string;
}

/** How a store keeps its outbox. */
export interface OutboxOptions {
  /** Names this process in every event. Default `<hostname>:<pid>`. */
  instance?: string;
}

/** The outbox a store keeps beside its sessions, as the relay and the audit log use it. */
export interface Outbox {
  /** Records events of no session change (`ServiceEventType`), in one atomic step. */
  append(events: readonly OutboxEvent[]): Promise<void>;
  /** Up to `limit` records after `position` (from the first with null), in position order. */
  read(after: string | null, limit: number): Promise<OutboxRecord[]>;
  /** How many records follow `position` and the time of the first of them (null when none). */
  backlog(after: string | null): Promise<{ count: number; oldestTime: number | null }>;
  /** Removes up to `limit` records made before `before` (ms), oldest first, and returns them. */
  trim(before: number, limit: number): Promise<OutboxRecord[]>;
  /**
   * The records that match every given filter, oldest first (by position),
   * for the audit log: from an index, never a scan of the whole outbox, when
   * `userId` or `sessionId` is given. A non-null `cursor` is the `after` of
   * the next page; null means no more records match.
   */
  query(filter: OutboxQuery): Promise<OutboxPage>;
}

/** What `Outbox.query` matches; every field given narrows it. */
export interface OutboxQuery {
  userId?: string;
  sessionId?: string;
  types?: readonly EventType[];
  /** Records made at or after this moment (ms). */
  since?: number;
  /** Records made before this moment (ms). */
  until?: number;
  /** The previous page's `cursor`; null or absent for the first page. */
  after?: string | null;
  limit: number;
}

export interface OutboxPage {
  records: OutboxRecord[];
  cursor: string | null;
}

export function defaultInstance(): string {
  return `${hostname()}:${process.pid}`;
}

/*
 * uuid's own v7 asks WebCrypto for 16 bytes per id, which costs about 5 µs in
 * Node 20: half of building an event. Ids here take their random bytes from a
 * pool filled 4 KiB at a time, and keep uuid's monotonic counter themselves
 * (RFC 9562 §6.2, method 1), since uuid keeps it only when it draws the bytes.
 */
const POOL_BYTES = 4096;
let pool = new Uint8Array(0);
let poolOffset = POOL_BYTES;
const clockState = { msecs: Number.NEGATIVE_INFINITY, seq: 0 };

function pooledRandom(): Uint8Array {
  if (poolOffset + 16 > pool.length) {
    pool = randomFillSync(new Uint8Array(POOL_BYTES));
    poolOffset = 0;
  }
  poolOffset += 16;
  return pool.subarray(poolOffset - 16, poolOffset);
}

/** A UUIDv7: time-ordered, and increasing within this process even within one millisecond. */
export function newEventId(): string {
  const random = pooledRandom();
  const now = Date.now();
  if (now > clockState.msecs) {
    clockState.msecs = now;
    // A random start in the lower half of the 31-bit counter leaves room to count up.
    clockState.seq =
      (((random[6] as number) & 0x3f) << 24) |
      ((random[7] as number) << 16) |
      ((random[8] as number) << 8) |
      (random[9] as number);
  } else {
    clockState.seq = (clockState.seq + 1) | 0;
    if (clockState.seq === 0) clockState.msecs++;
  }
  return uuidv7({ random, msecs: clockState.msecs, seq: clockState.seq });
}

/** What every event a store makes carries besides its type's fields. */
export interface EventStamp {
  instance: string;
  time: number;
  sequence: number;
  cause?: EventCause;
  /** The store's codec, for the replay payload of `session.created` and `session.updated`. */
  codec?: SessionCodec;
}

/** The value a replay payload holds: the starting data, or the patch. */
export type ReplayPayload = { data: SessionData } | { ops: PatchOperation[] };

function withPayload(event: OutboxEvent, stamp: EventStamp, value: ReplayPayload): OutboxEvent {
  if (!stamp.codec) return event;
  return { ...event, payload: stamp.codec.encode(event.id, value as unknown as SessionData) };
}

/** The replay payload of a created or updated event, decoded; DecodeError for bytes the codec refuses. */
export function openPayload(event: OutboxEvent, codec: SessionCodec): ReplayPayload | null {
  return event.payload ? (codec.decode(event.id, event.payload) as unknown as ReplayPayload) : null;
}

function sessionEvent(
  type: SessionEventType,
  session: Pick<Session, 'id' | 'userId'>,
  stamp: EventStamp,
  data: Record<string, unknown>,
): OutboxEvent {
  return {
    id: newEventId(),
    type,
    time: stamp.time,
    sessionId: session.id,
    userId: session.userId,
    sequence: stamp.sequence,
    instance: stamp.instance,
    data,
  };
}

/** An event of no session change (`Outbox.append`): a failed login, an API key's life, a flag. */
export function serviceEvent(
  type: ServiceEventType,
  fields: { userId: string | null; instance: string; time: number; data: Record<string, unknown> },
): OutboxEvent {
  return {
    id: newEventId(),
    type,
    time: fields.time,
    sessionId: null,
    userId: fields.userId,
    sequence: 0,
    instance: fields.instance,
    data: fields.data,
  };
}

export function createdEvent(session: Session, stamp: EventStamp): OutboxEvent {
  const event = sessionEvent('session.created', session, stamp, {
    ip: session.ip,
    userAgent: session.userAgent,
    idleExpiresAt: session.idleExpiresAt,
    absoluteExpiresAt: session.absoluteExpiresAt,
  });
  return withPayload(event, stamp, { data: session.data });
}

/** The paths a patch touched (`from` too, for move and copy), never the values. */
export function patchPaths(ops: readonly PatchOperation[]): string[] {
  const paths = new Set<string>();
  for (const op of ops) {
    paths.add(op.path);
    if ('from' in op && typeof op.from === 'string') paths.add(op.from);
  }
  return [...paths];
}

export function updatedEvent(
  after: Session,
  ops: readonly PatchOperation[],
  stamp: EventStamp,
): OutboxEvent {
  const event = sessionEvent('session.updated', after, stamp, {
    version: after.version,
    paths: patchPaths(ops),
  });
  return withPayload(event, stamp, { ops: [...ops] });
}

/** `session.rotated` when the old id lives on as an alias until `aliasUntil`, else `session.regenerated`. */
export function renamedEvent(
  after: Session,
  previousId: string,
  aliasUntil: number | undefined,
  stamp: EventStamp,
): OutboxEvent {
  return aliasUntil !== undefined && aliasUntil > stamp.time
    ? sessionEvent('session.rotated', after, stamp, { previousId, graceUntil: aliasUntil })
    : sessionEvent('session.regenerated', after, stamp, { previousId });
}

export function revokedEvent(
  session: Pick<Session, 'id' | 'userId'>,
  stamp: EventStamp,
): OutboxEvent {
  return sessionEvent('session.revoked', session, stamp, {
    actor: stamp.cause?.actor ?? 'system',
    reason: stamp.cause?.reason ?? 'revoked',
  });
}

export function expiredEvent(session: Session, stamp: EventStamp): OutboxEvent {
  return sessionEvent('session.expired', session, stamp, {
    reason: stamp.time >= session.absoluteExpiresAt ? 'absolute' : 'idle',
    idleExpiresAt: session.idleExpiresAt,
    absoluteExpiresAt: session.absoluteExpiresAt,
  });
}
