import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SessionManager, type SessionStore } from '../../src/core/index.js';
import {
  copyRecords,
  MigratingRecordStore,
  MigratingStore,
  SqliteRecordStore,
  SqliteStore,
} from '../../src/stores/index.js';

const dir = mkdtempSync(join(tmpdir(), 'clawsession-migrating-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let counter = 0;
const file = () => join(dir, `${++counter}.db`);
const NOW = Date.UTC(2026, 0, 1);

/** A store whose next `create` first runs `before`: another request landing between a mover's two steps. */
function interrupted(store: SessionStore, before: () => Promise<void>): SessionStore {
  let armed = true;
  return new Proxy(store, {
    get(target, property) {
      if (property !== 'create') return bound(target, property);
      return async (...args: Parameters<SessionStore['create']>) => {
        if (armed) {
          armed = false;
          await before();
        }
        return target.create(...args);
      };
    },
  });
}

/** The target's own member, methods bound to it (its private fields are not the proxy's). */
function bound(target: object, property: string | symbol): unknown {
  const value = Reflect.get(target, property, target);
  return typeof value === 'function' ? value.bind(target) : value;
}

describe('MigratingStore', () => {
  it('moves a session on first use, keeping its version, and the old store no longer has it', async () => {
    const old = new SqliteStore({ filename: file() });
    const { token, session } = await new SessionManager({ store: old }).create({
      userId: 'u',
      data: { a: 1 },
    });
    const next = new SqliteStore({ filename: file() });
    const manager = new SessionManager({ store: new MigratingStore(old, next) });
    expect((await manager.patch(token, [{ op: 'replace', path: '/a', value: 2 }])).version).toBe(
      session.version + 1,
    );
    expect(await old.get(session.id, Date.now())).toBeNull();
    expect((await next.get(session.id, Date.now()))?.data).toEqual({ a: 2 });
    await manager.close();
  });

  it('does not bring back a session signed out between a move reading it and creating it', async () => {
    const old = new SqliteStore({ filename: file() });
    const { session } = await new SessionManager({ store: old }).create({ userId: 'u' });
    const plainNew = new SqliteStore({ filename: file() });
    let migrating: MigratingStore | undefined;
    const next = interrupted(plainNew, async () => {
      expect(await migrating?.delete(session.id)).toBe(true);
    });
    migrating = new MigratingStore(old, next);
    expect(await migrating.move(session.id, Date.now())).toEqual({
      outcome: 'absent',
      session: null,
    });
    expect(await plainNew.get(session.id, Date.now())).toBeNull();
    expect(await migrating.get(session.id, Date.now())).toBeNull();
    await migrating.close();
  });

  it('lets one of two movers move a session; the other uses its copy and leaves the old store alone', async () => {
    const old = new SqliteStore({ filename: file() });
    const { session } = await new SessionManager({ store: old }).create({ userId: 'u' });
    const plainNew = new SqliteStore({ filename: file() });
    // The other mover creates first: this one's create then finds the session there.
    const next = interrupted(plainNew, async () => {
      expect((await new MigratingStore(old, plainNew).move(session.id, Date.now())).outcome).toBe(
        'moved',
      );
    });
    const migrating = new MigratingStore(old, next);
    const second = await migrating.move(session.id, Date.now());
    expect(second.outcome).toBe('present');
    expect(second.session?.version).toBe(session.version);
    expect(await plainNew.get(session.id, Date.now())).not.toBeNull();
    await migrating.close();
  });
});

describe('MigratingStore, read while another request moves the session', () => {
  it('finds it in the new store when the old one no longer has it', async () => {
    const plainOld = new SqliteStore({ filename: file() });
    const { session } = await new SessionManager({ store: plainOld }).create({ userId: 'u' });
    const next = new SqliteStore({ filename: file() });
    let armed = true;
    // The other request moves the session after this one missed it in new, before it reads old.
    const old = new Proxy(plainOld, {
      get(target, property) {
        if (property !== 'get') return bound(target, property);
        return async (...args: Parameters<SessionStore['get']>) => {
          if (armed) {
            armed = false;
            expect(
              (await new MigratingStore(plainOld, next).move(session.id, args[1])).outcome,
            ).toBe('moved');
          }
          return target.get(...args);
        };
      },
    });
    const migrating = new MigratingStore(old, next);
    expect((await migrating.get(session.id, Date.now()))?.id).toBe(session.id);
    await migrating.close();
  });
});

describe('MigratingRecordStore', () => {
  it('moves a record on first use and runs compare-and-set against the new store', async () => {
    const old = new SqliteRecordStore({ filename: file() });
    const next = new SqliteRecordStore({ filename: file() });
    await old.put('api-keys', 'k', { uses: 1 }, { now: NOW });
    await old.put('api-keys', 'k', { uses: 2 }, { now: NOW, expiresAt: NOW + 60_000 });
    const records = new MigratingRecordStore(old, next, { clock: () => NOW });
    const moved = await records.get('api-keys', 'k', NOW);
    expect(moved).toEqual({ key: 'k', value: { uses: 2 }, version: 1, expiresAt: NOW + 60_000 });
    expect(await records.put('api-keys', 'k', { uses: 3 }, { now: NOW, ifVersion: 2 })).toBeNull();
    expect(await records.put('api-keys', 'k', { uses: 3 }, { now: NOW, ifVersion: 1 })).toBe(2);
    expect(await old.get('api-keys', 'k', NOW)).toBeNull();
    await records.close();
  });

  it('does not bring back a record deleted between a move reading it and writing it', async () => {
    const old = new SqliteRecordStore({ filename: file() });
    const plainNew = new SqliteRecordStore({ filename: file() });
    await old.put('refresh-families', 'f', { generation: 1 }, { now: NOW });
    let records: MigratingRecordStore | undefined;
    let armed = true;
    const next = new Proxy(plainNew, {
      get(target, property) {
        if (property !== 'put') return bound(target, property);
        return async (...args: Parameters<SqliteRecordStore['put']>) => {
          if (armed) {
            armed = false;
            await records?.delete('refresh-families', 'f');
          }
          return target.put(...args);
        };
      },
    });
    records = new MigratingRecordStore(old, next, { clock: () => NOW });
    expect(await records.get('refresh-families', 'f', NOW)).toBeNull();
    expect(await plainNew.get('refresh-families', 'f', NOW)).toBeNull();
    await records.close();
  });
});

describe('copyRecords', () => {
  it('copies each collection with its expiry, resumes from a cursor, and a repeat run changes nothing', async () => {
    const from = new SqliteRecordStore({ filename: file() });
    const to = new SqliteRecordStore({ filename: file() });
    for (let n = 0; n < 7; n++)
      await from.put('users', `u${n}`, { n, roles: ['a', 'b'] }, { now: NOW });
    await from.put('revoked-jti', 'j', true, { now: NOW, expiresAt: NOW + 1000 });
    await from.put('revoked-jti', 'gone', true, { now: NOW, expiresAt: NOW - 1 });
    const collections = ['users', 'revoked-jti'];
    let saved = null as Parameters<typeof copyRecords>[2]['cursor'];
    const first = copyRecords(from, to, {
      collections,
      batchSize: 3,
      clock: () => NOW,
      onProgress: (progress) => {
        saved = progress.cursor;
        if (progress.verified === 3) throw new Error('interrupted');
      },
    });
    await expect(first).rejects.toThrow('interrupted');
    const resumed = await copyRecords(from, to, {
      collections,
      batchSize: 3,
      cursor: saved,
      clock: () => NOW,
    });
    expect(resumed).toMatchObject({
      cursor: null,
      copied: 5,
      collections: { users: 4, 'revoked-jti': 1 },
    });
    expect(await to.get('revoked-jti', 'j', NOW)).toMatchObject({ expiresAt: NOW + 1000 });
    expect(await to.get('revoked-jti', 'gone', NOW - 10)).toBeNull();

    await from.put('users', 'u2', { n: 'changed' }, { now: NOW });
    const repeat = await copyRecords(from, to, { collections, batchSize: 3, clock: () => NOW });
    expect(repeat).toMatchObject({ copied: 0, refreshed: 1, skipped: 7, verified: 8 });
    expect((await to.get('users', 'u2', NOW))?.value).toEqual({ n: 'changed' });
    await Promise.all([from.close(), to.close()]);
  });
});
