import { randomBytes } from 'node:crypto';
import {
  DecodeError,
  type RecordStore,
  type StoredRecord,
  ValidationError,
} from '../../core/index.js';
import type { CredentialSource } from './credentials.js';
import { UserExistsError, UserNotFoundError } from './errors.js';
import {
  hashPassword,
  needsRehash,
  SCRYPT_DEFAULTS,
  type ScryptParameters,
  verifyPassword,
} from './passwords.js';
import { legacyUsernameKey, usernameKey } from './username.js';

/** A user as the directory hands it out: never with the password hash. Times are epoch ms. */
export interface User {
  /** The canonical username (`usernameKey`): the key, and the `userId` of the user's sessions. */
  userId: string;
  /** The username as it was added, trimmed and in NFC. */
  username: string;
  roles: string[];
  createdAt: number;
  updatedAt: number;
}

export interface UserDirectoryOptions {
  store: RecordStore;
  /** Cost of new hashes; stored hashes keep theirs and are rehashed at the next login. */
  hashing?: ScryptParameters;
  clock?: () => number;
}

interface UserRecord {
  username: string;
  passwordHash: string;
  roles: string[];
  createdAt: number;
  updatedAt: number;
}

/** The RecordStore collection of the built-in users, one record per username key. */
export const USER_COLLECTION = 'users';
const MAX_USERNAME_LENGTH = 128;
const MAX_ROLES = 32;
const ROLE = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;
const CONTROL = /\p{Cc}/u;
const PAGE = 500;

/**
 * A username in its stored form and its key. Usernames are compared by their
 * key (`usernameKey`: NFKC and case-folded), so `Alice`, `ALICE` and
 * `Ａｌｉｃｅ` are one user. The stored form is the input in NFC and trimmed
 * (`username`, 1–128 characters, no control characters), as it was added.
 */
export function normalizeUsername(input: unknown): { username: string; key: string } {
  const username = typeof input === 'string' ? input.normalize('NFC').trim() : '';
  const length = [...username].length;
  const key = usernameKey(username);
  // The key may be longer than the name (ß folds to ss, ﬃ to ffi); records take 200.
  if (
    length < 1 ||
    length > MAX_USERNAME_LENGTH ||
    key.length > 200 ||
    CONTROL.test(username) ||
    key === ''
  ) {
    throw new ValidationError(
      `a username must be 1-${MAX_USERNAME_LENGTH} characters without control characters`,
    );
  }
  return { username, key };
}

/** Roles: up to 32 distinct names of 1–64 letters, digits, `_`, `.`, `:` or `-`. */
export function normalizeRoles(roles: unknown): string[] {
  if (
    !Array.isArray(roles) ||
    roles.length > MAX_ROLES ||
    !roles.every((role) => typeof role === 'string' && ROLE.test(role))
  ) {
    throw new ValidationError(
      `roles must be at most ${MAX_ROLES} names of 1-64 letters, digits, '_', '.', ':' or '-'`,
    );
  }
  return [...new Set(roles as string[])];
}

/**
 * The built-in user table over a RecordStore (collection `users`, keyed by
 * the canonical username). Passwords are kept as scrypt PHC strings only.
 */
export class UserDirectory implements CredentialSource {
  readonly #store: RecordStore;
  readonly #hashing: ScryptParameters;
  readonly #clock: () => number;
  #dummyHash: Promise<string> | undefined;

  constructor(options: UserDirectoryOptions) {
    this.#store = options.store;
    this.#hashing = options.hashing ?? SCRYPT_DEFAULTS;
    this.#clock = options.clock ?? Date.now;
  }

  /** Adds a user; UserExistsError if the name is taken, PasswordPolicyError for a weak password. */
  async add(input: { username: string; password: string; roles?: string[] }): Promise<User> {
    const { username, key } = normalizeUsername(input.username);
    const roles = normalizeRoles(input.roles ?? []);
    const passwordHash = await hashPassword(input.password, this.#hashing);
    const now = this.#clock();
    const record: UserRecord = { username, passwordHash, roles, createdAt: now, updatedAt: now };
    const version = await this.#store.put(
      USER_COLLECTION,
      key,
      { ...record },
      { now, ifVersion: 0 },
    );
    if (version === null) throw new UserExistsError(username);
    return present(key, record);
  }

  /**
   * Removes the user: their id (the `userId` of their sessions, which may be
   * a key from before NFKC folding), or null if there was none. Their
   * sessions live on: end them with `UserLifecycle.remove`, which calls this.
   */
  async remove(username: string): Promise<string | null> {
    const key = await this.#keyOf(username);
    return (await this.#store.delete(USER_COLLECTION, key)) ? key : null;
  }

  /**
   * Replaces the user's roles; UserNotFoundError if there is no such user.
   * Sessions keep the roles of their login: `UserLifecycle.setRoles` carries
   * the change into them.
   */
  async setRoles(username: string, roles: string[]): Promise<User> {
    const key = await this.#keyOf(username);
    const normalized = normalizeRoles(roles);
    const updated = await this.#update(key, (record) => ({ ...record, roles: normalized }));
    if (updated === null) throw new UserNotFoundError(username);
    return present(key, updated);
  }

  /** Every user, in key order, without password hashes. */
  async list(): Promise<User[]> {
    const users: User[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await this.#store.list(USER_COLLECTION, {
        now: this.#clock(),
        after,
        limit: PAGE,
      });
      for (const record of page) users.push(present(record.key, decode(record)));
      if (page.length < PAGE) return users;
      after = page.at(-1)?.key;
    }
  }

  /**
   * Replaces the user's password; UserNotFoundError if there is no such user.
   * Sessions opened with the old one live on: `UserLifecycle.setPassword` ends them.
   */
  async setPassword(username: string, password: string): Promise<User> {
    const key = await this.#keyOf(username);
    const passwordHash = await hashPassword(password, this.#hashing);
    const updated = await this.#update(key, (record) => ({ ...record, passwordHash }));
    if (updated === null) throw new UserNotFoundError(username);
    return present(key, updated);
  }

  /**
   * The user if the password is theirs, else null. An unknown user costs one
   * hash too (against a fixed dummy hash), so the time taken does not tell
   * whether the user exists.
   */
  async verify(username: string, password: string): Promise<User | null> {
    const key = await this.#keyOf(username).catch(invalidAsNull);
    const stored = key === null ? null : await this.#store.get(USER_COLLECTION, key, this.#clock());
    const record = stored === null ? null : decode(stored);
    const matches = await verifyPassword(password, record?.passwordHash ?? (await this.#dummy()));
    if (key === null || record === null || !matches) return null;
    if (needsRehash(record.passwordHash, this.#hashing)) {
      const passwordHash = await hashPassword(password, this.#hashing);
      await this.#update(key, (current) => ({ ...current, passwordHash }));
    }
    return present(key, record);
  }

  /**
   * The key the user named `username` is stored under: its key, or for a user
   * added before names were folded with NFKC (whose old key differs, such as
   * `straße`), the old key while no user holds the new one. Throws
   * ValidationError for a name that is not valid.
   */
  async #keyOf(username: string): Promise<string> {
    const { key } = normalizeUsername(username);
    const legacy = legacyUsernameKey(username);
    if (legacy === key) return key;
    const now = this.#clock();
    if ((await this.#store.get(USER_COLLECTION, key, now)) !== null) return key;
    return (await this.#store.get(USER_COLLECTION, legacy, now)) !== null ? legacy : key;
  }

  /** Applies `change` with compare-and-set, retrying a concurrent change; null if the user is gone. */
  async #update(
    key: string,
    change: (record: UserRecord) => UserRecord,
  ): Promise<UserRecord | null> {
    for (;;) {
      const now = this.#clock();
      const stored = await this.#store.get(USER_COLLECTION, key, now);
      if (stored === null) return null;
      const record: UserRecord = { ...change(decode(stored)), updatedAt: now };
      const written = await this.#store.put(
        USER_COLLECTION,
        key,
        { ...record },
        { now, ifVersion: stored.version },
      );
      if (written !== null) return record;
    }
  }

  #dummy(): Promise<string> {
    this.#dummyHash ??= hashPassword(randomBytes(24).toString('base64url'), this.#hashing);
    return this.#dummyHash;
  }
}

/** A name that is not valid is no user. */
function invalidAsNull(error: unknown): null {
  if (error instanceof ValidationError) return null;
  throw error;
}

function decode(stored: StoredRecord): UserRecord {
  const value = stored.value as Partial<Record<keyof UserRecord, unknown>> | null;
  const valid =
    typeof value === 'object' &&
    value !== null &&
    typeof value.username === 'string' &&
    typeof value.passwordHash === 'string' &&
    Array.isArray(value.roles) &&
    value.roles.every((role) => typeof role === 'string') &&
    Number.isSafeInteger(value.createdAt) &&
    Number.isSafeInteger(value.updatedAt);
  if (!valid) throw new DecodeError(`user record ${JSON.stringify(stored.key)} is malformed`);
  return value as UserRecord;
}

function present(key: string, record: UserRecord): User {
  return {
    userId: key,
    username: record.username,
    roles: [...record.roles],
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
  };
}
