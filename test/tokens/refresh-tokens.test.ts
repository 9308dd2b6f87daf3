import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SessionManager, ValidationError } from '../../src/core/index.js';
import { MemoryRecordStore, MemoryStore } from '../../src/stores/index.js';
import {
  RecordRefreshFamilyStore,
  type RefreshFamilyStore,
  RefreshTokenInvalidError,
  RefreshTokenReusedError,
  RefreshTokens,
} from '../../src/tokens/index.js';
import { sharedBackends } from '../support/record-backends.js';

const backends = sharedBackends('rt');

const stores: [string, () => Promise<RefreshFamilyStore>][] = [
  ['memory record', async () => new RecordRefreshFamilyStore(new MemoryRecordStore())],
  ['Redis record', async () => new RecordRefreshFamilyStore(await backends.redisRecords())],
  ['SQLite record', async () => new RecordRefreshFamilyStore(backends.sqliteRecords)],
  ['PostgreSQL record', async () => new RecordRefreshFamilyStore(await backends.postgresRecords())],
];

for (const [name, openStore] of stores) {
  describe(`RefreshTokens over the ${name} family store`, () => {
    async function setup() {
      const clock = { now: Date.now() };
      const DAY = 24 * 3_600_000;
      // Sessions outlive the 7-day refresh family here, so a family's own expiry is what is tested.
      const manager = new SessionManager({
        store: new MemoryStore(),
        clock: () => clock.now,
        idleTimeout: 30 * DAY,
        absoluteTimeout: 60 * DAY,
      });
      const reuses: string[] = [];
      const refresh = new RefreshTokens({
        store: await openStore(),
        manager,
        secret: randomBytes(32),
        graceWindow: 10_000,
        ttl: 7 * 24 * 3_600_000,
        clock: () => clock.now,
        onReuse: (event) => reuses.push(event.sessionId),
      });
      const { token: sessionToken, session } = await manager.create({ userId: 'alice' });
      const first = await refresh.issue({ sessionId: session.id, userId: 'alice' });
      return { clock, manager, refresh, reuses, sessionToken, session, first };
    }

    it('rotates on every use, and each successor works once', async () => {
      const { refresh, first } = await setup();
      const second = await refresh.rotate(first.token);
      expect(second.token).not.toBe(first.token);
      expect(second).toMatchObject({ familyId: first.familyId, userId: 'alice' });
      const third = await refresh.rotate(second.token);
      expect(third.token).not.toBe(second.token);
    });

    it('gives a racing second use inside the grace window the same successor, without logging out', async () => {
      const { refresh, first, manager, sessionToken, reuses } = await setup();
      const [a, b] = await Promise.all([refresh.rotate(first.token), refresh.rotate(first.token)]);
      expect(a.token).toBe(b.token);
      const again = await refresh.rotate(first.token); // still inside the window
      expect(again.token).toBe(a.token);
      expect(await manager.get(sessionToken)).not.toBeNull();
      expect(reuses).toEqual([]);
      await expect(refresh.rotate(a.token)).resolves.toMatchObject({ familyId: first.familyId });
    });

    it('treats reuse of a rotated token outside the grace window as theft: family and session revoked', async () => {
      const { refresh, first, manager, sessionToken, session, reuses, clock } = await setup();
      const second = await refresh.rotate(first.token);
      clock.now += 10_001;
      await expect(refresh.rotate(first.token)).rejects.toBeInstanceOf(RefreshTokenReusedError);
      expect(reuses).toEqual([session.id]);
      expect(await manager.get(sessionToken)).toBeNull();
      await expect(refresh.rotate(second.token)).rejects.toBeInstanceOf(RefreshTokenInvalidError);
    });

    it('refuses a forged secret for a real family as invalid, and the family lives on', async () => {
      const { refresh, first, manager, sessionToken, reuses, clock } = await setup();
      const second = await refresh.rotate(first.token);
      clock.now += 10_001;
      for (let attempt = 0; attempt < 3; attempt++) {
        const forged = `${first.familyId}.${randomBytes(32).toString('base64url')}`;
        await expect(refresh.rotate(forged)).rejects.toBeInstanceOf(RefreshTokenInvalidError);
      }
      expect(reuses).toEqual([]);
      expect(await manager.get(sessionToken)).not.toBeNull();
      await expect(refresh.rotate(second.token)).resolves.toMatchObject({
        familyId: first.familyId,
      });
    });

    it('recognises reuse of a secret several rotations old, and revokes', async () => {
      const { refresh, first, manager, sessionToken, session, reuses } = await setup();
      let latest = first;
      for (let step = 0; step < 5; step++) latest = await refresh.rotate(latest.token);
      await expect(refresh.rotate(first.token)).rejects.toBeInstanceOf(RefreshTokenReusedError);
      expect(reuses).toEqual([session.id]);
      expect(await manager.get(sessionToken)).toBeNull();
      await expect(refresh.rotate(latest.token)).rejects.toBeInstanceOf(RefreshTokenInvalidError);
    });

    it('refuses malformed, unknown and expired tokens, and tokens of an ended session', async () => {
      const { refresh, first, manager, sessionToken } = await setup();
      for (const token of [
        '',
        'x',
        `${first.familyId}.`,
        `${'A'.repeat(22)}.${'B'.repeat(43)}`,
        42,
      ]) {
        await expect(refresh.rotate(token as string)).rejects.toBeInstanceOf(
          RefreshTokenInvalidError,
        );
      }
      await manager.revoke(sessionToken);
      await expect(refresh.rotate(first.token)).rejects.toBeInstanceOf(RefreshTokenInvalidError);

      const other = await setup();
      other.clock.now += 7 * 24 * 3_600_000;
      expect(await other.manager.get(other.sessionToken)).not.toBeNull();
      await expect(other.refresh.rotate(other.first.token)).rejects.toBeInstanceOf(
        RefreshTokenInvalidError,
      );
    });

    it('ends a family on logout', async () => {
      const { refresh, first } = await setup();
      expect(await refresh.revokeFamily(first.familyId)).toBe(true);
      await expect(refresh.rotate(first.token)).rejects.toBeInstanceOf(RefreshTokenInvalidError);
    });
  });
}

it('refuses a refresh secret shorter than 32 bytes', () => {
  const manager = new SessionManager({ store: new MemoryStore() });
  expect(
    () =>
      new RefreshTokens({
        store: new RecordRefreshFamilyStore(new MemoryRecordStore()),
        manager,
        secret: 'short',
      }),
  ).toThrow(ValidationError);
});
