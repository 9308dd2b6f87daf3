import {
  applyPatch,
  type Outbox,
  type OutboxRecord,
  openPayload,
  type SessionCodec,
  type SessionData,
} from '../core/index.js';

/** A session as the event log describes it: what its events carry, not its activity times (touches record no event). */
export interface ReplayedSession {
  id: string;
  userId: string;
  data: SessionData;
  version: number;
  createdAt: number;
  absoluteExpiresAt: number;
  ip: string | null;
  userAgent: string | null;
  /** The sequence of the last event applied. */
  sequence: number;
}

/** Why an event could not be applied: the log does not hold the session's start (retention), or an event is missing. */
export interface ReplayGap {
  eventId: string;
  sessionId: string | null;
  reason: 'unknown-session' | 'sequence-gap' | 'no-payload';
}

export interface Replay {
  /** The live sessions the log ends with, by id. */
  sessions: Map<string, ReplayedSession>;
  gaps: ReplayGap[];
}

/**
 * Rebuilds sessions from their events, oldest first (event sourcing over the
 * outbox): created starts one with its data, updated applies its patch,
 * regenerated and rotated move it to its new id, revoked and expired end it.
 * Decoding the payloads needs the codec the store wrote them with.
 */
export async function replaySessions(
  records: AsyncIterable<OutboxRecord> | Iterable<OutboxRecord>,
  codec: SessionCodec,
): Promise<Replay> {
  const sessions = new Map<string, ReplayedSession>();
  const gaps: ReplayGap[] = [];
  const gap = (record: OutboxRecord, reason: ReplayGap['reason']) =>
    gaps.push({ eventId: record.id, sessionId: record.sessionId, reason });
  for await (const record of records) {
    if (record.sessionId === null || record.userId === null) continue;
    if (record.type === 'session.created') {
      const payload = openPayload(record, codec);
      if (!payload || !('data' in payload)) {
        gap(record, 'no-payload');
        continue;
      }
      sessions.set(record.sessionId, {
        id: record.sessionId,
        userId: record.userId,
        data: payload.data,
        version: 1,
        createdAt: record.time,
        absoluteExpiresAt: record.data.absoluteExpiresAt as number,
        ip: record.data.ip as string | null,
        userAgent: record.data.userAgent as string | null,
        sequence: record.sequence,
      });
      continue;
    }
    const previousId =
      record.type === 'session.regenerated' || record.type === 'session.rotated'
        ? (record.data.previousId as string)
        : record.sessionId;
    const session = sessions.get(previousId);
    if (!session) {
      gap(record, 'unknown-session');
      continue;
    }
    if (record.sequence !== session.sequence + 1) gap(record, 'sequence-gap');
    session.sequence = record.sequence;
    switch (record.type) {
      case 'session.updated': {
        const payload = openPayload(record, codec);
        if (!payload || !('ops' in payload)) {
          gap(record, 'no-payload');
          break;
        }
        session.data = applyPatch(session.data, payload.ops);
        session.version = record.data.version as number;
        break;
      }
      case 'session.regenerated':
      case 'session.rotated':
        sessions.delete(previousId);
        session.id = record.sessionId;
        sessions.set(session.id, session);
        break;
      case 'session.revoked':
      case 'session.expired':
        sessions.delete(previousId);
        break;
    }
  }
  return { sessions, gaps };
}

/** Every record of the outbox, oldest first, a page at a time; only `userId`'s with it. */
export async function* outboxRecords(
  outbox: Outbox,
  options: { userId?: string; pageSize?: number } = {},
): AsyncGenerator<OutboxRecord> {
  const limit = options.pageSize ?? 500;
  let after: string | null = null;
  do {
    const page: { records: OutboxRecord[]; cursor: string | null } =
      options.userId === undefined
        ? await outbox.read(after, limit).then((records) => ({
            records,
            cursor: records.length === limit ? (records.at(-1)?.position ?? null) : null,
          }))
        : await outbox.query({ userId: options.userId, after, limit });
    yield* page.records;
    after = page.cursor;
  } while (after !== null);
}
