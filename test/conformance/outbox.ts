import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createCodec,
  type EventType,
  newEventId,
  type Outbox,
  type OutboxEvent,
  type OutboxOptions,
  type OutboxRecord,
  openPayload,
  PatchTestFailedError,
  type Session,
  SessionExistsError,
  SessionNotFoundError,
  type SessionStore,
  ValidationError,
  VersionConflictError,
} from '../../src/core/index.js';
import { replaySessions } from '../../src/events/index.js';

/** Builds a fresh, empty store that keeps an outbox with `options`; the suite closes it. */
export type OutboxStoreFactory = (options: OutboxOptions) => Promise<SessionStore>;

export interface OutboxSuiteOptions {
  /** Runs of the random workload. Default 40. */
  workloadRuns?: number;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const T0 = Date.UTC(2026, 0, 1);
const INSTANCE = 'conformance:1';

const newId = () => randomBytes(32).toString('hex');

function sessionFixture(overrides: Partial<Session> = {}): Session {
  return {
    id: newId(),
    userId: 'user-1',
    data: { n: 0 },
    version: 1,
    createdAt: T0,
    lastActiveAt: T0,
    idleExpiresAt: T0 + 30 * MINUTE,
    absoluteExpiresAt: T0 + 24 * HOUR,
    tokenIssuedAt: T0,
    ip: '203.0.113.9',
    userAgent: 'UA/1',
    ...overrides,
  };
}

const activity = (now: number) => ({ now, idleExpiresAt: now + 30 * MINUTE });

/** Every record the outbox holds, oldest first, read a page of `page` at a time. */
async function readAll(outbox: Outbox, after: string | null = null, page = 7) {
  const records: OutboxRecord[] = [];
  for (let cursor = after; ; ) {
    const batch = await outbox.read(cursor, page);
    records.push(...batch);
    if (batch.length < page) return records;
    cursor = (batch.at(-1) as OutboxRecord).position;
  }
}

/** The position of the newest record, or null for an empty outbox. */
async function lastPosition(outbox: Outbox): Promise<string | null> {
  return (await readAll(outbox, null, 1000)).at(-1)?.position ?? null;
}

function serviceEvent(overrides: Partial<OutboxEvent> = {}): OutboxEvent {
  return {
    id: newEventId(),
    type: 'login.failed',
    time: T0,
    sessionId: null,
    userId: 'user-1',
    sequence: 0,
    instance: INSTANCE,
    data: { reason: 'bad-password' },
    ...overrides,
  };
}

const increment = [{ op: 'increment', path: '/n', value: 1 }] as const;

/** What a session's events carry, to compare a replayed session with a stored one. */
const pick = (
  s: Pick<Session, 'id' | 'userId' | 'data' | 'version' | 'createdAt' | 'absoluteExpiresAt'>,
) => ({
  id: s.id,
  userId: s.userId,
  data: s.data,
  version: s.version,
  createdAt: s.createdAt,
  absoluteExpiresAt: s.absoluteExpiresAt,
});

/**
 * The one suite every store's outbox passes (core/outbox.ts, docs/events.md):
 * each write's event, per-session sequences, nothing for a failed, silent or
 * touch write, and the Outbox reads the relay and the audit log make.
 */
export function describeOutbox(
  name: string,
  factory: OutboxStoreFactory,
  suite: OutboxSuiteOptions = {},
): void {
  describe(`${name} keeps the outbox contract`, () => {
    const opened: SessionStore[] = [];
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((store) => store.close()));
    });

    async function setup() {
      const store = await factory({ instance: INSTANCE });
      opened.push(store);
      const { outbox } = store;
      if (!outbox) throw new Error(`${name}: a store opened with an outbox has no outbox`);
      return { store, outbox };
    }

    it('records session.created with the session, sequence 1, this instance and the create time', async () => {
      const { store, outbox } = await setup();
      const session = sessionFixture();
      await store.create(session);
      const [record, ...rest] = await outbox.read(null, 10);
      expect(rest).toEqual([]);
      expect(record).toEqual({
        position: expect.stringMatching(/^[0-9]+$/),
        id: expect.stringMatching(
          /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/,
        ),
        type: 'session.created',
        time: session.createdAt,
        sessionId: session.id,
        userId: 'user-1',
        sequence: 1,
        instance: INSTANCE,
        data: {
          ip: '203.0.113.9',
          userAgent: 'UA/1',
          idleExpiresAt: session.idleExpiresAt,
          absoluteExpiresAt: session.absoluteExpiresAt,
        },
        payload: expect.any(Uint8Array),
      });
      // The payload, which brokers never see, is the starting data in the store's codec.
      expect(openPayload(record as OutboxRecord, createCodec())).toEqual({ data: session.data });
    });

    it('records session.updated with the version after and the paths, never the values', async () => {
      const { store, outbox } = await setup();
      const session = sessionFixture({ data: { n: 0, list: [] } });
      await store.create(session);
      await store.update(
        session.id,
        [
          { op: 'add', path: '/list/-', value: 'secret-value' },
          { op: 'move', from: '/n', path: '/m' },
        ],
        activity(T0 + MINUTE),
      );
      const [, updated] = await outbox.read(null, 10);
      expect(updated).toMatchObject({
        type: 'session.updated',
        time: T0 + MINUTE,
        sessionId: session.id,
        userId: 'user-1',
        sequence: 2,
        data: { version: 2 },
      });
      expect([...((updated?.data.paths as string[]) ?? [])].sort()).toEqual([
        '/list/-',
        '/m',
        '/n',
      ]);
      expect(JSON.stringify(updated)).not.toContain('secret-value');
    });

    it('carries the sequence across regenerate and rotate, each with its previous id', async () => {
      const { store, outbox } = await setup();
      const session = sessionFixture();
      await store.create(session);
      const second = newId();
      const third = newId();
      await store.rename(session.id, second, activity(T0 + MINUTE));
      await store.rename(second, third, activity(T0 + 2 * MINUTE), {
        aliasUntil: T0 + 3 * MINUTE,
      });
      await store.update(third, increment, activity(T0 + 4 * MINUTE));
      const records = await outbox.read(null, 10);
      expect(
        records.map(({ type, sessionId, sequence, time, data }) => ({
          type,
          sessionId,
          sequence,
          time,
          data,
        })),
      ).toEqual([
        expect.objectContaining({ type: 'session.created', sessionId: session.id, sequence: 1 }),
        {
          type: 'session.regenerated',
          sessionId: second,
          sequence: 2,
          time: T0 + MINUTE,
          data: { previousId: session.id },
        },
        {
          type: 'session.rotated',
          sessionId: third,
          sequence: 3,
          time: T0 + 2 * MINUTE,
          data: { previousId: second, graceUntil: T0 + 3 * MINUTE },
        },
        {
          type: 'session.updated',
          sessionId: third,
          sequence: 4,
          time: T0 + 4 * MINUTE,
          data: { version: 2, paths: ['/n'] },
        },
      ]);
    });

    it('records session.revoked with the cause, or system/revoked without one', async () => {
      const { store, outbox } = await setup();
      const first = sessionFixture();
      const second = sessionFixture();
      await store.create(first);
      await store.create(second);
      await store.update(first.id, increment, activity(T0 + MINUTE));
      const before = Date.now();
      expect(await store.delete(first.id, { cause: { actor: 'user', reason: 'logout' } })).toBe(
        true,
      );
      expect(await store.delete(second.id)).toBe(true);
      const after = Date.now();
      const revoked = (await outbox.read(null, 10)).filter((r) => r.type === 'session.revoked');
      expect(revoked).toMatchObject([
        {
          sessionId: first.id,
          userId: 'user-1',
          sequence: 3,
          data: { actor: 'user', reason: 'logout' },
        },
        {
          sessionId: second.id,
          userId: 'user-1',
          sequence: 2,
          data: { actor: 'system', reason: 'revoked' },
        },
      ]);
      for (const record of revoked) {
        expect(record.time).toBeGreaterThanOrEqual(before);
        expect(record.time).toBeLessThanOrEqual(after);
      }
    });

    it('records one session.revoked per session deleteByUser removes, each with its own sequence', async () => {
      const { store, outbox } = await setup();
      const kept = sessionFixture();
      const gone = [sessionFixture(), sessionFixture({ createdAt: T0 + 1 })];
      const other = sessionFixture({ userId: 'user-2' });
      for (const session of [kept, ...gone, other]) await store.create(session);
      await store.update(gone[0]?.id as string, increment, activity(T0 + MINUTE));
      const start = await lastPosition(outbox);
      const deleted = await store.deleteByUser('user-1', kept.id, {
        cause: { actor: 'admin:k1', reason: 'password-changed' },
      });
      expect(deleted.sort()).toEqual(gone.map((s) => s.id).sort());
      const records = await readAll(outbox, start);
      expect(
        records
          .map(({ type, sessionId, userId, sequence, data }) => ({
            type,
            sessionId,
            userId,
            sequence,
            data,
          }))
          .sort((a, b) => String(a.sessionId).localeCompare(String(b.sessionId))),
      ).toEqual(
        [
          { id: gone[0]?.id, sequence: 3 },
          { id: gone[1]?.id, sequence: 2 },
        ]
          .map(({ id, sequence }) => ({
            type: 'session.revoked',
            sessionId: id,
            userId: 'user-1',
            sequence,
            data: { actor: 'admin:k1', reason: 'password-changed' },
          }))
          .sort((a, b) => String(a.sessionId).localeCompare(String(b.sessionId))),
      );
      expect(await store.deleteByUser('nobody')).toEqual([]);
      expect(await readAll(outbox, start)).toHaveLength(2);
    });

    it('records one session.expired per session a sweep removes, idle or absolute, at the sweep time', async () => {
      const { store, outbox } = await setup();
      const idle = sessionFixture({ idleExpiresAt: T0 + MINUTE });
      const absolute = sessionFixture({
        idleExpiresAt: T0 + 10 * MINUTE,
        absoluteExpiresAt: T0 + 2 * MINUTE,
      });
      const live = sessionFixture({ idleExpiresAt: T0 + HOUR });
      for (const session of [idle, absolute, live]) await store.create(session);
      await store.update(idle.id, increment, { now: T0 + 1, idleExpiresAt: T0 + MINUTE });
      const start = await lastPosition(outbox);
      const now = T0 + 5 * MINUTE;
      const swept = await store.sweepExpired(now, 10);
      expect(swept.map((s) => s.id).sort()).toEqual([idle.id, absolute.id].sort());
      const records = await readAll(outbox, start);
      const byId = new Map(records.map((record) => [record.sessionId, record]));
      expect(records).toHaveLength(2);
      expect(byId.get(idle.id)).toMatchObject({
        type: 'session.expired',
        time: now,
        sequence: 3,
        data: { reason: 'idle', idleExpiresAt: T0 + MINUTE, absoluteExpiresAt: T0 + 24 * HOUR },
      });
      expect(byId.get(absolute.id)).toMatchObject({
        type: 'session.expired',
        time: now,
        sequence: 2,
        data: {
          reason: 'absolute',
          idleExpiresAt: T0 + 10 * MINUTE,
          absoluteExpiresAt: T0 + 2 * MINUTE,
        },
      });
      expect(await store.sweepExpired(now, 10)).toEqual([]);
      expect(await readAll(outbox, start)).toHaveLength(2);
    });

    it('records nothing for a write that fails', async () => {
      const { store, outbox } = await setup();
      const session = sessionFixture({ data: { n: 1 } });
      const taken = sessionFixture();
      await store.create(session);
      await store.create(taken);
      const start = await lastPosition(outbox);
      const later = activity(T0 + MINUTE);
      await expect(
        store.update(session.id, increment, { ...later, expectedVersion: 7 }),
      ).rejects.toBeInstanceOf(VersionConflictError);
      await expect(store.update(newId(), increment, later)).rejects.toBeInstanceOf(
        SessionNotFoundError,
      );
      await expect(
        store.update(session.id, [{ op: 'test', path: '/n', value: 2 }], later),
      ).rejects.toBeInstanceOf(PatchTestFailedError);
      await expect(store.create(sessionFixture({ id: session.id }))).rejects.toBeInstanceOf(
        SessionExistsError,
      );
      await expect(store.rename(session.id, taken.id, later)).rejects.toBeInstanceOf(
        SessionExistsError,
      );
      expect(await store.rename(newId(), newId(), later)).toBeNull();
      expect(await store.delete(newId())).toBe(false);
      // An expired session is not updated, renamed or touched.
      const dead = activity(T0 + 25 * HOUR);
      await expect(store.update(session.id, increment, dead)).rejects.toBeInstanceOf(
        SessionNotFoundError,
      );
      expect(await store.rename(session.id, newId(), dead)).toBeNull();
      expect(await readAll(outbox, start)).toEqual([]);
      expect(await outbox.backlog(start)).toEqual({ count: 0, oldestTime: null });
      // And the next event of the session follows on, with no gap.
      await store.update(session.id, increment, later);
      expect((await readAll(outbox, start)).map((r) => r.sequence)).toEqual([2]);
    });

    it('records nothing for silent writes and touches, and the sequence goes on without a gap', async () => {
      const { store, outbox } = await setup();
      const session = sessionFixture();
      const copied = sessionFixture();
      await store.create(session);
      await store.create(copied, { silent: true });
      const start = await lastPosition(outbox);
      const later = activity(T0 + MINUTE);
      await store.update(session.id, increment, { ...later, silent: true });
      expect(await store.touch(session.id, activity(T0 + 2 * MINUTE))).toBe(true);
      const renamed = newId();
      await store.rename(session.id, renamed, later, { silent: true });
      expect(await readAll(outbox, start)).toEqual([]);
      await store.update(renamed, increment, later);
      expect((await readAll(outbox, start)).map((r) => [r.type, r.sequence])).toEqual([
        ['session.updated', 2],
      ]);
      const extra = sessionFixture();
      await store.create(extra, { silent: true });
      expect(await store.delete(renamed, { silent: true })).toBe(true);
      expect(await store.deleteByUser('user-1', copied.id, { silent: true })).toEqual([extra.id]);
      expect(await readAll(outbox, start)).toHaveLength(1);
    });

    it('reads in position order, after a position, a limit at a time', async () => {
      const { store, outbox } = await setup();
      const session = sessionFixture();
      await store.create(session);
      for (let i = 1; i <= 9; i++) await store.update(session.id, increment, activity(T0 + i));
      const all = await outbox.read(null, 100);
      expect(all.map((r) => r.sequence)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      const positions = all.map((r) => BigInt(r.position));
      expect(positions).toEqual([...positions].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
      expect(new Set(positions).size).toBe(10);
      expect(await readAll(outbox, null, 3)).toEqual(all);
      expect(await outbox.read(all[3]?.position as string, 2)).toEqual(all.slice(4, 6));
      expect(await outbox.read(all[9]?.position as string, 5)).toEqual([]);
      expect(await outbox.read('0', 1)).toEqual(all.slice(0, 1));
    });

    it('refuses a malformed position or limit', async () => {
      const { outbox } = await setup();
      for (const bad of ['abc', '-1', '1.5', '', ' 1', '01']) {
        await expect(outbox.read(bad, 1)).rejects.toBeInstanceOf(ValidationError);
        await expect(outbox.backlog(bad)).rejects.toBeInstanceOf(ValidationError);
        await expect(outbox.query({ after: bad, limit: 1 })).rejects.toBeInstanceOf(
          ValidationError,
        );
      }
      for (const limit of [0, -1, 1.5, Number.NaN]) {
        await expect(outbox.read(null, limit)).rejects.toBeInstanceOf(ValidationError);
        await expect(outbox.trim(T0, limit)).rejects.toBeInstanceOf(ValidationError);
        await expect(outbox.query({ limit })).rejects.toBeInstanceOf(ValidationError);
      }
      await expect(
        outbox.query({ types: ['session.nope' as EventType], limit: 1 }),
      ).rejects.toBeInstanceOf(ValidationError);
    });

    it('counts the backlog after a position with the time of its first record', async () => {
      const { store, outbox } = await setup();
      expect(await outbox.backlog(null)).toEqual({ count: 0, oldestTime: null });
      const session = sessionFixture();
      await store.create(session);
      await store.update(session.id, increment, activity(T0 + 7));
      await store.update(session.id, increment, activity(T0 + 9));
      const [first, second, third] = await outbox.read(null, 10);
      expect(await outbox.backlog(null)).toEqual({ count: 3, oldestTime: T0 });
      expect(await outbox.backlog(first?.position as string)).toEqual({
        count: 2,
        oldestTime: T0 + 7,
      });
      expect(await outbox.backlog(second?.position as string)).toEqual({
        count: 1,
        oldestTime: T0 + 9,
      });
      expect(await outbox.backlog(third?.position as string)).toEqual({
        count: 0,
        oldestTime: null,
      });
    });

    it('trims records made before a moment, oldest first, a limit at a time, and never reuses a position', async () => {
      const { store, outbox } = await setup();
      const session = sessionFixture();
      await store.create(session);
      for (let i = 1; i <= 5; i++)
        await store.update(session.id, increment, activity(T0 + i * MINUTE));
      const all = await outbox.read(null, 10);
      const trimmed = await outbox.trim(T0 + 4 * MINUTE, 3);
      expect(trimmed).toEqual(all.slice(0, 3));
      expect(await outbox.trim(T0 + 4 * MINUTE, 3)).toEqual(all.slice(3, 4));
      expect(await outbox.trim(T0 + 4 * MINUTE, 3)).toEqual([]);
      expect(await outbox.read(null, 10)).toEqual(all.slice(4));
      expect(await outbox.backlog(null)).toEqual({ count: 2, oldestTime: T0 + 4 * MINUTE });
      const newest = all.at(-1) as OutboxRecord;
      expect(await outbox.trim(T0 + HOUR, 10)).toEqual(all.slice(4));
      expect(await outbox.backlog(null)).toEqual({ count: 0, oldestTime: null });
      // A relay that had read up to the newest record must see the next one.
      await store.update(session.id, increment, activity(T0 + 6 * MINUTE));
      const [next] = await outbox.read(newest.position, 10);
      expect(next).toMatchObject({ type: 'session.updated', sequence: 7 });
      expect(BigInt(next?.position as string) > BigInt(newest.position)).toBe(true);
    });

    it('appends service events in one step, in order, and refuses session events', async () => {
      const { outbox } = await setup();
      const failed = serviceEvent();
      const reused = serviceEvent({
        type: 'refresh.reused',
        time: T0 + 1,
        data: { familyId: 'f1' },
      });
      await outbox.append([failed, reused]);
      expect(await outbox.read(null, 10)).toEqual([
        { ...failed, position: expect.any(String) },
        { ...reused, position: expect.any(String) },
      ]);
      await expect(
        outbox.append([serviceEvent(), serviceEvent({ type: 'session.created' })]),
      ).rejects.toBeInstanceOf(ValidationError);
      await expect(
        outbox.append([serviceEvent({ type: 'nonsense' as EventType })]),
      ).rejects.toBeInstanceOf(ValidationError);
      expect(await outbox.read(null, 10)).toHaveLength(2);
      await outbox.append([]);
      expect(await outbox.read(null, 10)).toHaveLength(2);
    });

    it('queries by user, session, type and time range, oldest first, a page at a time', async () => {
      const { store, outbox } = await setup();
      const alice = [sessionFixture({ userId: 'alice' }), sessionFixture({ userId: 'alice' })];
      const bob = sessionFixture({ userId: 'bob' });
      for (const session of [...alice, bob]) await store.create(session);
      for (let i = 1; i <= 4; i++) {
        for (const session of [...alice, bob])
          await store.update(session.id, increment, activity(T0 + i * MINUTE));
      }
      await outbox.append([serviceEvent({ userId: 'alice', time: T0 + 2 * MINUTE })]);
      await store.delete(alice[1]?.id as string);
      const all = await readAll(outbox);

      async function pages(filter: Parameters<Outbox['query']>[0]) {
        const found: OutboxRecord[] = [];
        let after: string | null = null;
        for (let page = 0; page < 100; page++) {
          const { records, cursor } = await outbox.query({ ...filter, after });
          expect(records.length).toBeLessThanOrEqual(filter.limit);
          found.push(...records);
          if (cursor === null) return found;
          expect(cursor).toBe(records.at(-1)?.position);
          after = cursor;
        }
        throw new Error('query never ended');
      }

      const byUser = await pages({ userId: 'alice', limit: 3 });
      expect(byUser).toEqual(all.filter((r) => r.userId === 'alice'));
      expect(byUser).toHaveLength(2 + 8 + 1 + 1);

      const bySession = await pages({ sessionId: bob.id, limit: 2 });
      expect(bySession).toEqual(all.filter((r) => r.sessionId === bob.id));
      expect(bySession.map((r) => r.sequence)).toEqual([1, 2, 3, 4, 5]);

      const types: EventType[] = ['session.created', 'session.revoked'];
      expect(await pages({ userId: 'alice', types, limit: 2 })).toEqual(
        all.filter((r) => r.userId === 'alice' && types.includes(r.type)),
      );
      const range = { since: T0 + 2 * MINUTE, until: T0 + 4 * MINUTE };
      expect(await pages({ ...range, limit: 4 })).toEqual(
        all.filter((r) => r.time >= range.since && r.time < range.until),
      );
      expect(await pages({ ...range, sessionId: alice[0]?.id, limit: 1 })).toEqual(
        all.filter(
          (r) => r.sessionId === alice[0]?.id && r.time >= range.since && r.time < range.until,
        ),
      );
      expect(await outbox.query({ userId: 'nobody', limit: 5 })).toEqual({
        records: [],
        cursor: null,
      });
      const exact = all.filter((r) => r.sessionId === bob.id).length;
      expect((await outbox.query({ sessionId: bob.id, limit: exact })).cursor).toBeNull();
    });

    it('gives concurrent updates of one session distinct consecutive sequences', async () => {
      const { store, outbox } = await setup();
      const session = sessionFixture();
      await store.create(session);
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          store.update(session.id, increment, activity(T0 + MINUTE + i)),
        ),
      );
      expect(results.map((s) => s.version).sort((a, b) => a - b)).toEqual(
        Array.from({ length: 50 }, (_, i) => i + 2),
      );
      const records = await readAll(outbox);
      // In position order, a session's events are in sequence order, each once.
      expect(records.map((r) => r.sequence)).toEqual(Array.from({ length: 51 }, (_, i) => i + 1));
      expect(records.slice(1).map((r) => r.data.version)).toEqual(
        Array.from({ length: 50 }, (_, i) => i + 2),
      );
    });

    it('records no event for the concurrent updates that fail, and leaves no gap for them', async () => {
      const { store, outbox } = await setup();
      const session = sessionFixture();
      await store.create(session);
      const failing = [{ op: 'test', path: '/n', value: -1 }] as const;
      const settled = await Promise.allSettled(
        Array.from({ length: 30 }, (_, i) =>
          store.update(session.id, i % 3 === 0 ? failing : increment, activity(T0 + MINUTE + i)),
        ),
      );
      expect(settled.filter((s) => s.status === 'rejected')).toHaveLength(10);
      for (const result of settled)
        if (result.status === 'rejected')
          expect(result.reason).toBeInstanceOf(PatchTestFailedError);
      const records = await readAll(outbox);
      expect(records.map((r) => r.sequence)).toEqual(Array.from({ length: 21 }, (_, i) => i + 1));
      expect(records.slice(1).every((r) => r.type === 'session.updated')).toBe(true);
    });

    it('holds exactly one event per successful change of a random workload, in order, with gap-free sequences', async () => {
      const { store, outbox } = await setup();
      type Step = { op: 'create' | 'patch' | 'regenerate' | 'rotate' | 'revoke'; slot: number };
      const step = fc.record({
        op: fc.constantFrom('create', 'patch', 'regenerate', 'rotate', 'revoke'),
        slot: fc.integer({ min: 0, max: 2 }),
      }) as fc.Arbitrary<Step>;
      await fc.assert(
        fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 25 }), async (steps) => {
          const start = await lastPosition(outbox);
          const user = `user-${newId().slice(0, 12)}`;
          /** Per slot: the live session's id and its lineage (created once, renamed on). */
          const slots: ({ id: string; lineage: number } | null)[] = [null, null, null];
          const expected: { type: EventType; sessionId: string; lineage: number }[] = [];
          let lineages = 0;
          let now = T0;
          for (const { op, slot } of steps) {
            now += 1000;
            const live = slots[slot] ?? null;
            if (op === 'create') {
              const session = sessionFixture({
                id: live?.id ?? newId(),
                userId: user,
                createdAt: now,
                idleExpiresAt: now + HOUR,
                absoluteExpiresAt: now + 24 * HOUR,
              });
              const created = await store.create(session).then(
                () => true,
                (error: unknown) => {
                  if (!(error instanceof SessionExistsError)) throw error;
                  return false;
                },
              );
              expect(created).toBe(live === null);
              if (created) {
                slots[slot] = { id: session.id, lineage: ++lineages };
                expected.push({
                  type: 'session.created',
                  sessionId: session.id,
                  lineage: lineages,
                });
              }
            } else if (op === 'patch') {
              const patched = await store
                .update(live?.id ?? newId(), increment, activity(now))
                .then(
                  () => true,
                  (error: unknown) => {
                    if (!(error instanceof SessionNotFoundError)) throw error;
                    return false;
                  },
                );
              expect(patched).toBe(live !== null);
              if (live) expected.push({ type: 'session.updated', ...live, sessionId: live.id });
            } else if (op === 'regenerate' || op === 'rotate') {
              const toId = newId();
              const renamed = await store.rename(live?.id ?? newId(), toId, activity(now), {
                ...(op === 'rotate' && { aliasUntil: now + MINUTE }),
              });
              expect(renamed !== null).toBe(live !== null);
              if (live) {
                slots[slot] = { id: toId, lineage: live.lineage };
                expected.push({
                  type: op === 'rotate' ? 'session.rotated' : 'session.regenerated',
                  sessionId: toId,
                  lineage: live.lineage,
                });
              }
            } else {
              expect(await store.delete(live?.id ?? newId())).toBe(live !== null);
              if (live) {
                slots[slot] = null;
                expected.push({
                  type: 'session.revoked',
                  sessionId: live.id,
                  lineage: live.lineage,
                });
              }
            }
          }
          const records = await readAll(outbox, start);
          expect(records.map(({ type, sessionId }) => ({ type, sessionId }))).toEqual(
            expected.map(({ type, sessionId }) => ({ type, sessionId })),
          );
          const counts = new Map<number, number>();
          for (const [i, record] of records.entries()) {
            const lineage = (expected[i] as { lineage: number }).lineage;
            counts.set(lineage, (counts.get(lineage) ?? 0) + 1);
            expect(record.sequence).toBe(counts.get(lineage));
            expect(record.userId).toBe(user);
          }
          // Event sourcing: the log alone rebuilds what the store holds.
          const replay = await replaySessions(records, createCodec());
          expect(replay.gaps).toEqual([]);
          const live = slots.flatMap((slot) => (slot ? [slot.id] : []));
          expect([...replay.sessions.keys()].sort()).toEqual([...live].sort());
          for (const id of live) {
            const stored = (await store.get(id, now)) as Session;
            const rebuilt = replay.sessions.get(id);
            expect(rebuilt && pick(rebuilt)).toEqual(pick(stored));
          }
        }),
        { numRuns: suite.workloadRuns ?? 40 },
      );
    }, 60_000);
  });
}
