import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DecodeError, type RecordStore, ValidationError } from '../../../src/core/index.js';
import {
  hashPassword,
  normalizeUsername,
  PasswordPolicyError,
  UserDirectory,
  UserExistsError,
  UserNotFoundError,
} from '../../../src/gateway/auth/index.js';
import { MemoryRecordStore, SqliteRecordStore } from '../../../src/stores/index.js';
import { TEST_HASHING } from './auth-app.js';

const dir = mkdtempSync(join(tmpdir(), 'clawsession-users-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const PASSWORD = 'correct horse battery staple';

const backends: [string, () => RecordStore][] = [
  ['MemoryRecordStore', () => new MemoryRecordStore()],
  [
    'SqliteRecordStore',
    () => new SqliteRecordStore({ filename: join(dir, `${crypto.randomUUID()}.db`) }),
  ],
];

for (const [name, openStore] of backends) {
  describe(`UserDirectory over ${name}`, () => {
    function setup(hashing = TEST_HASHING) {
      const clock = { now: 1_700_000_000_000 };
      const store = openStore();
      const users = new UserDirectory({ store, hashing, clock: () => clock.now });
      return { clock, store, users };
    }

    it('adds a user who then verifies with the password, and only with it', async () => {
      const { users } = setup();
      const added = await users.add({ username: 'Alice', password: PASSWORD, roles: ['admin'] });
      expect(added).toEqual({
        userId: 'alice',
        username: 'Alice',
        roles: ['admin'],
        createdAt: 1_700_000_000_000,
        updatedAt: 1_700_000_000_000,
      });
      expect(await users.verify('Alice', PASSWORD)).toEqual(added);
      expect(await users.verify('alice', PASSWORD)).toEqual(added);
      expect(await users.verify('Alice', `${PASSWORD}!`)).toBeNull();
      expect(await users.verify('Alice', '')).toBeNull();
      expect(await users.verify('nobody', PASSWORD)).toBeNull();
      expect(await users.verify('', PASSWORD)).toBeNull();
    });

    it('stores only a scrypt PHC string, with the default cost unless told otherwise', async () => {
      const { store, users } = setup(undefined);
      const defaults = new UserDirectory({ store });
      await defaults.add({ username: 'alice', password: PASSWORD });
      const record = await store.get('users', 'alice', Date.now());
      const value = record?.value as Record<string, unknown>;
      expect(Object.keys(value).sort()).toEqual([
        'createdAt',
        'passwordHash',
        'roles',
        'updatedAt',
        'username',
      ]);
      expect(value.passwordHash).toMatch(
        /^\$scrypt\$ln=15,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/,
      );
      expect(JSON.stringify(value)).not.toContain(PASSWORD);
      expect(await users.verify('alice', PASSWORD)).not.toBeNull();
    });

    it('refuses a second user of the same name, in any case or Unicode form', async () => {
      const { users } = setup();
      await users.add({ username: 'José', password: PASSWORD });
      await expect(users.add({ username: 'JOSÉ', password: PASSWORD })).rejects.toBeInstanceOf(
        UserExistsError,
      );
      // The same name with a combining accent (NFD) is the same user.
      await expect(
        users.add({ username: ' jose\u0301 ', password: PASSWORD }),
      ).rejects.toMatchObject({ code: 'ERR_USER_EXISTS' });
      expect(await users.list()).toHaveLength(1);
    });

    it('keys fullwidth, ligature and sharp-s spellings as one user (NFKC, case-folded)', async () => {
      const { users } = setup();
      const added = await users.add({ username: 'Straße', password: PASSWORD });
      expect(added).toMatchObject({ userId: 'strasse', username: 'Straße' });
      await expect(users.add({ username: 'STRASSE', password: PASSWORD })).rejects.toBeInstanceOf(
        UserExistsError,
      );
      expect(await users.verify('ＳＴＲＡＳＳＥ', PASSWORD)).toEqual(added);
      await users.add({ username: 'ﬁnn', password: PASSWORD });
      expect(await users.verify('FINN', PASSWORD)).toMatchObject({ userId: 'finn' });
    });

    it('still finds, changes the password of and removes a user stored under the key used before NFKC folding', async () => {
      const { users, store } = setup();
      // What an older version wrote: the record under the key 'straße' (NFC, lower case).
      const hash = await hashPassword(PASSWORD, TEST_HASHING);
      const now = 1_700_000_000_000;
      await store.put(
        'users',
        'straße',
        { username: 'Straße', passwordHash: hash, roles: [], createdAt: now, updatedAt: now },
        { now, ifVersion: 0 },
      );
      expect(await users.verify('Straße', PASSWORD)).toMatchObject({ userId: 'straße' });
      // Only the spellings that reached the old key find it: 'strasse' never did.
      expect(await users.verify('strasse', PASSWORD)).toBeNull();
      await users.setPassword('STRAßE', `${PASSWORD}!`);
      expect(await users.verify('straße', `${PASSWORD}!`)).toMatchObject({ userId: 'straße' });
      expect(await users.remove('Straße')).toBe('straße');
      expect(await users.list()).toEqual([]);
    });

    it('lets exactly one of two concurrent adds of one name win', async () => {
      const { users } = setup();
      const results = await Promise.allSettled([
        users.add({ username: 'carol', password: PASSWORD }),
        users.add({ username: 'Carol', password: 'another password' }),
      ]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const [refused] = results.filter((r) => r.status === 'rejected');
      expect((refused as PromiseRejectedResult).reason).toBeInstanceOf(UserExistsError);
    });

    it('lists users in key order without password hashes', async () => {
      const { users } = setup();
      await users.add({ username: 'bob', password: PASSWORD });
      await users.add({ username: 'Alice', password: PASSWORD, roles: ['admin', 'ops'] });
      const listed = await users.list();
      expect(listed.map((user) => user.userId)).toEqual(['alice', 'bob']);
      expect(listed[0]).toEqual({
        userId: 'alice',
        username: 'Alice',
        roles: ['admin', 'ops'],
        createdAt: expect.any(Number),
        updatedAt: expect.any(Number),
      });
      expect(JSON.stringify(listed)).not.toContain('scrypt');
    });

    it('removes a user, who then cannot log in; removing again is false', async () => {
      const { users } = setup();
      await users.add({ username: 'bob', password: PASSWORD });
      expect(await users.remove('BOB')).toBe('bob');
      expect(await users.verify('bob', PASSWORD)).toBeNull();
      expect(await users.remove('bob')).toBeNull();
    });

    it('replaces a password: the old one stops working', async () => {
      const { users, clock } = setup();
      await users.add({ username: 'bob', password: PASSWORD });
      clock.now += 1000;
      await users.setPassword('Bob', 'a brand new passphrase');
      expect(await users.verify('bob', PASSWORD)).toBeNull();
      const user = await users.verify('bob', 'a brand new passphrase');
      expect(user?.updatedAt).toBe(user?.createdAt ? user.createdAt + 1000 : NaN);
      await expect(users.setPassword('nobody', PASSWORD)).rejects.toBeInstanceOf(UserNotFoundError);
    });

    it('rehashes at login a password stored with an older cost', async () => {
      const { store } = setup();
      const old = new UserDirectory({ store, hashing: { ln: 10, r: 8, p: 1 } });
      await old.add({ username: 'bob', password: PASSWORD });
      const current = new UserDirectory({ store, hashing: TEST_HASHING });
      expect(await current.verify('bob', PASSWORD)).not.toBeNull();
      const record = await store.get('users', 'bob', Date.now());
      expect((record?.value as { passwordHash?: string } | undefined)?.passwordHash).toMatch(
        /^\$scrypt\$ln=12,r=8,p=1\$/,
      );
      expect(await old.verify('bob', PASSWORD)).not.toBeNull();
    });

    it.each([
      ['seven characters', 'short12'],
      ['1025 characters', 'x'.repeat(1025)],
      ['a megabyte', 'x'.repeat(1024 * 1024)],
    ])('refuses a password of %s', async (_what, password) => {
      const { users } = setup();
      await expect(users.add({ username: 'bob', password })).rejects.toBeInstanceOf(
        PasswordPolicyError,
      );
      expect(await users.list()).toEqual([]);
    });

    it('accepts 8 and 1024 characters, counting code points, and matches NFC and NFD input', async () => {
      const { users } = setup();
      await users.add({ username: 'eight', password: '😀'.repeat(8) });
      await users.add({ username: 'long', password: 'é'.repeat(1024) });
      expect(await users.verify('eight', '😀'.repeat(8))).not.toBeNull();
      expect(await users.verify('long', 'e\u0301'.repeat(1024))).not.toBeNull();
    });

    it('refuses malformed usernames and roles', async () => {
      const { users } = setup();
      for (const username of ['', '   ', 'a'.repeat(129), 'tab\there', 'nul\u0000']) {
        await expect(users.add({ username, password: PASSWORD })).rejects.toBeInstanceOf(
          ValidationError,
        );
      }
      for (const roles of [[''], ['has space'], Array.from({ length: 33 }, (_, i) => `r${i}`)]) {
        await expect(
          users.add({ username: 'bob', password: PASSWORD, roles }),
        ).rejects.toBeInstanceOf(ValidationError);
      }
      expect(await users.list()).toEqual([]);
    });

    it('says a stored record it cannot read is malformed, rather than guessing', async () => {
      const { store, users } = setup();
      await store.put('users', 'eve', { username: 'eve' }, { now: Date.now() });
      await expect(users.verify('eve', PASSWORD)).rejects.toBeInstanceOf(DecodeError);
      await store.put(
        'users',
        'eve',
        {
          username: 'eve',
          passwordHash: '$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA',
          roles: [],
          createdAt: 1,
          updatedAt: 1,
        },
        { now: Date.now() },
      );
      await expect(users.verify('eve', PASSWORD)).rejects.toBeInstanceOf(DecodeError);
    });
  });
}

describe('normalizeUsername', () => {
  it('trims and puts in NFC the name, and keys it with NFKC and case folding', () => {
    expect(normalizeUsername('  Jose\u0301 ')).toEqual({ username: 'José', key: 'josé' });
    expect(normalizeUsername('Ａｌｉｃｅ')).toEqual({ username: 'Ａｌｉｃｅ', key: 'alice' });
    expect(normalizeUsername('a'.repeat(128)).key).toHaveLength(128);
    expect(() => normalizeUsername(42)).toThrow(ValidationError);
  });
});
