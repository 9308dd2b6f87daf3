import { describe, expect, it } from 'vitest';
import {
  type Activity,
  generateToken,
  InvalidTokenError,
  type RandomSource,
  SESSION_DEFAULTS,
  SessionManager,
  type SessionManagerOptions,
  type SessionStore,
  sessionIdOf,
  ValidationError,
} from '../../src/core/index.js';
import { MemoryStore } from '../../src/stores/index.js';

const MINUTE = 60_000;
const START = Date.UTC(2026, 0, 1);

/** A MemoryStore that counts touches and holds each one until released. */
class GatedTouchStore extends MemoryStore {
  touches = 0;
  #release: () => void = () => undefined;
  #gate = new Promise<void>((resolve) => {
    this.#release = resolve;
  });

  override async touch(id: string, activity: Activity): Promise<boolean> {
    this.touches += 1;
    await this.#gate;
    return super.touch(id, activity);
  }

  release(): void {
    this.#release();
  }
}

/** A MemoryStore that counts touches and lets them through at once. */
class CountingTouchStore extends MemoryStore {
  touches = 0;

  override async touch(id: string, activity: Activity): Promise<boolean> {
    this.touches += 1;
    return super.touch(id, activity);
  }
}

/** A MemoryStore whose touch fails, as a store that lost its connection would. */
class FailingTouchStore extends MemoryStore {
  readonly failure = new Error('store unreachable');
  touches = 0;

  override async touch(_id: string, _activity: Activity): Promise<boolean> {
    this.touches += 1;
    throw this.failure;
  }
}

function setup<S extends SessionStore>(
  store: S,
  options: Partial<Omit<SessionManagerOptions, 'store'>> = {},
) {
  const clock = { now: START };
  const manager = new SessionManager({
    store,
    clock: () => clock.now,
    idleTimeout: 30 * MINUTE,
    absoluteTimeout: 24 * 60 * MINUTE,
    ...options,
  });
  return { manager, store, clock };
}

/** Bytes 0, 1, 2, … for the first token, then 1, 2, 3, … for the next: predictable and distinct. */
function countingRandom(): RandomSource {
  let next = 0;
  return (size) => {
    const start = next++;
    return Uint8Array.from({ length: size }, (_, i) => (start + i) % 256);
  };
}

describe('SessionManager reads', () => {
  it('with touchThreshold 0 writes the new idle expiry on every read', async () => {
    const { manager, store, clock } = setup(new CountingTouchStore(), { touchThreshold: 0 });
    const { token, session } = await manager.create({ userId: 'u' });
    for (let read = 1; read <= 3; read++) {
      clock.now += 1;
      const got = await manager.get(token);
      await manager.settle();
      expect(got?.idleExpiresAt).toBe(clock.now + 30 * MINUTE);
      expect(store.touches).toBe(read);
      expect((await store.get(session.id, clock.now))?.idleExpiresAt).toBe(clock.now + 30 * MINUTE);
    }
  });

  it('with the default threshold does not write while the expiry moved less than 10%', async () => {
    const { manager, store, clock } = setup(new CountingTouchStore());
    const { token } = await manager.create({ userId: 'u' });
    clock.now += 3 * MINUTE; // exactly 10% of 30 minutes: not past the threshold
    expect((await manager.get(token))?.lastActiveAt).toBe(START);
    await manager.settle();
    expect(store.touches).toBe(0);
    clock.now += 1;
    expect((await manager.get(token))?.lastActiveAt).toBe(clock.now);
    await manager.settle();
    expect(store.touches).toBe(1);
  });

  it('concurrent reads of one session start only one background touch', async () => {
    const { manager, store, clock } = setup(new GatedTouchStore());
    const { token, session } = await manager.create({ userId: 'u' });
    clock.now += 10 * MINUTE;
    const reads = await Promise.all(Array.from({ length: 10 }, () => manager.get(token)));
    for (const read of reads) expect(read?.idleExpiresAt).toBe(clock.now + 30 * MINUTE);
    expect(store.touches).toBe(1);
    store.release();
    await manager.settle();
    expect((await store.get(session.id, clock.now))?.idleExpiresAt).toBe(clock.now + 30 * MINUTE);

    clock.now += 10 * MINUTE; // the first touch has finished, so the next read may start another
    await manager.get(token);
    await manager.settle();
    expect(store.touches).toBe(2);
  });

  it('touches two sessions read at the same time independently', async () => {
    const { manager, store, clock } = setup(new GatedTouchStore());
    const first = await manager.create({ userId: 'u' });
    const second = await manager.create({ userId: 'u' });
    clock.now += 10 * MINUTE;
    await Promise.all([manager.get(first.token), manager.get(second.token)]);
    expect(store.touches).toBe(2);
    store.release();
    await manager.settle();
  });

  it('a failing background touch emits error and the read still returns the session', async () => {
    const { manager, store, clock } = setup(new FailingTouchStore());
    const errors: unknown[] = [];
    manager.on('error', (event) => errors.push(event.error));
    const { token, session } = await manager.create({ userId: 'u', data: { a: 1 } });
    clock.now += 10 * MINUTE;
    const read = await manager.get(token);
    expect(read).toEqual({
      ...session,
      lastActiveAt: clock.now,
      idleExpiresAt: clock.now + 30 * MINUTE,
    });
    await manager.settle();
    expect(errors).toEqual([store.failure]);
    expect((await store.get(session.id, clock.now))?.idleExpiresAt).toBe(session.idleExpiresAt);

    await manager.get(token); // the failed touch is not stuck: the next read tries again
    await manager.settle();
    expect(store.touches).toBe(2);
    expect(errors).toHaveLength(2);
  });

  it('a read with touch: false never writes, however stale the expiry', async () => {
    const { manager, store, clock } = setup(new CountingTouchStore(), { touchThreshold: 0 });
    const { token, session } = await manager.create({ userId: 'u' });
    clock.now += 20 * MINUTE;
    expect(await manager.get(token, { touch: false })).toEqual(session);
    await manager.settle();
    expect(store.touches).toBe(0);
  });

  it('touch slides the idle expiry whatever the threshold', async () => {
    const { manager, store, clock } = setup(new CountingTouchStore());
    const { token, session } = await manager.create({ userId: 'u' });
    clock.now += 1;
    expect(await manager.touch(token)).toBe(true);
    expect(store.touches).toBe(1);
    expect((await store.get(session.id, clock.now))?.idleExpiresAt).toBe(clock.now + 30 * MINUTE);
  });

  it('accepts the stored id in place of the token, and only a 64-character lowercase hex id', async () => {
    const { manager } = setup(new MemoryStore());
    const { session } = await manager.create({ userId: 'u' });
    expect(await manager.get({ id: session.id })).toEqual(session);
    for (const id of [session.id.toUpperCase(), session.id.slice(1), `${session.id}0`, 42]) {
      await expect(manager.get({ id } as { id: string })).rejects.toBeInstanceOf(ValidationError);
    }
  });
});

describe('SessionManager options', () => {
  it('rejects timeouts that are not positive integers of ms', () => {
    const store = new MemoryStore();
    for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53, '1000']) {
      expect(() => new SessionManager({ store, idleTimeout: bad as number }), String(bad)).toThrow(
        ValidationError,
      );
      expect(
        () => new SessionManager({ store, absoluteTimeout: bad as number }),
        String(bad),
      ).toThrow(ValidationError);
    }
  });

  it('rejects a touch threshold outside [0, 1]', () => {
    const store = new MemoryStore();
    for (const bad of [-0.01, 1.01, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(
        () => new SessionManager({ store, touchThreshold: bad as number }),
        String(bad),
      ).toThrow(ValidationError);
    }
    for (const good of [0, 0.5, 1]) {
      expect(() => new SessionManager({ store, touchThreshold: good })).not.toThrow();
    }
  });

  it('defaults to 30 minutes idle and 24 hours absolute', async () => {
    const clock = { now: START };
    const manager = new SessionManager({ store: new MemoryStore(), clock: () => clock.now });
    expect(manager.idleTimeout).toBe(SESSION_DEFAULTS.idleTimeout);
    expect(manager.absoluteTimeout).toBe(SESSION_DEFAULTS.absoluteTimeout);
    const { session } = await manager.create({ userId: 'u' });
    expect(session.idleExpiresAt).toBe(START + 30 * MINUTE);
    expect(session.absoluteExpiresAt).toBe(START + 24 * 60 * MINUTE);
    expect(Object.isFrozen(SESSION_DEFAULTS)).toBe(true);
  });

  it('an injected random source makes tokens deterministic', async () => {
    const issue = async () => {
      const { manager } = setup(new MemoryStore(), { random: countingRandom() });
      const first = await manager.create({ userId: 'u' });
      const second = await manager.create({ userId: 'u' });
      const regenerated = await manager.regenerate(first.token);
      return [first, second, regenerated];
    };
    const run1 = await issue();
    const run2 = await issue();
    expect(run1.map((issued) => issued.token)).toEqual(run2.map((issued) => issued.token));

    const expected = countingRandom();
    for (const issued of run1) {
      expect(issued.token).toBe(generateToken(expected));
      expect(issued.session.id).toBe(sessionIdOf(issued.token));
    }
    expect(new Set(run1.map((issued) => issued.token)).size).toBe(3);
  });
});

describe('SessionManager.create', () => {
  it('stamps times from the injected clock', async () => {
    const { manager } = setup(new MemoryStore());
    const { session } = await manager.create({ userId: 'u' });
    expect(session).toMatchObject({
      version: 1,
      createdAt: START,
      lastActiveAt: START,
      idleExpiresAt: START + 30 * MINUTE,
      absoluteExpiresAt: START + 24 * 60 * MINUTE,
      ip: null,
      userAgent: null,
      data: {},
    });
  });

  it('cuts a userAgent longer than 512 characters to 512', async () => {
    const { manager } = setup(new MemoryStore());
    const long = `Mozilla/5.0 ${'x'.repeat(2000)}`;
    const { token, session } = await manager.create({ userId: 'u', userAgent: long });
    expect(session.userAgent).toBe(long.slice(0, 512));
    expect((await manager.get(token))?.userAgent).toBe(long.slice(0, 512));
    const exact = 'y'.repeat(512);
    expect((await manager.create({ userId: 'u', userAgent: exact })).session.userAgent).toBe(exact);
  });

  it('refuses a userAgent that is not a string', async () => {
    const { manager } = setup(new MemoryStore());
    await expect(
      manager.create({ userId: 'u', userAgent: 42 as unknown as string }),
    ).rejects.toBeInstanceOf(ValidationError);
  });

  it('accepts IPv4 and IPv6 addresses as given', async () => {
    const { manager } = setup(new MemoryStore());
    for (const ip of ['203.0.113.9', '2001:db8::1', '::ffff:192.0.2.1']) {
      expect((await manager.create({ userId: 'u', ip })).session.ip).toBe(ip);
    }
    for (const ip of ['203.0.113.256', 'localhost', '']) {
      await expect(manager.create({ userId: 'u', ip })).rejects.toBeInstanceOf(ValidationError);
    }
  });

  it('refuses a userId longer than 256 characters', async () => {
    const { manager } = setup(new MemoryStore());
    expect((await manager.create({ userId: 'u'.repeat(256) })).session.userId).toHaveLength(256);
    await expect(manager.create({ userId: 'u'.repeat(257) })).rejects.toBeInstanceOf(
      ValidationError,
    );
    await expect(manager.create(null as never)).rejects.toBeInstanceOf(ValidationError);
  });
});

describe('SessionManager.maxSessionsPerUser', () => {
  async function loginTimes(
    manager: SessionManager,
    clock: { now: number },
    userId: string,
    count: number,
  ) {
    const tokens: string[] = [];
    for (let i = 0; i < count; i++) {
      tokens.push((await manager.create({ userId })).token);
      clock.now += MINUTE;
    }
    return tokens;
  }

  it('revokes the earliest-created session when a user goes past the bound, with an evicted event', async () => {
    const { manager, clock } = setup(new MemoryStore(), { maxSessionsPerUser: 3 });
    const revoked: unknown[] = [];
    manager.on('revoked', (event) => revoked.push(event));
    const [first, second, third] = await loginTimes(manager, clock, 'alice', 3);
    expect(revoked).toEqual([]);
    const [fourth] = await loginTimes(manager, clock, 'alice', 1);
    expect(await manager.get(first as string)).toBeNull();
    for (const token of [second, third, fourth]) {
      expect(await manager.get(token as string)).not.toBeNull();
    }
    expect(revoked).toEqual([
      { sessionId: sessionIdOf(first as string), userId: 'alice', reason: 'evicted' },
    ]);
    expect(await manager.listForUser('alice')).toHaveLength(3);
  });

  it('evicts by creation, not activity: a busy old session still gives way', async () => {
    const { manager, clock } = setup(new MemoryStore(), {
      maxSessionsPerUser: 2,
      touchThreshold: 0,
    });
    const [old, recent] = await loginTimes(manager, clock, 'alice', 2);
    await manager.touch(old as string);
    await loginTimes(manager, clock, 'alice', 1);
    expect(await manager.get(old as string)).toBeNull();
    expect(await manager.get(recent as string)).not.toBeNull();
  });

  it('counts each user apart and ignores expired sessions', async () => {
    const { manager, clock } = setup(new MemoryStore(), { maxSessionsPerUser: 2 });
    const [expiring] = await loginTimes(manager, clock, 'alice', 1);
    clock.now += 31 * MINUTE;
    const bobs = await loginTimes(manager, clock, 'bob', 2);
    const alices = await loginTimes(manager, clock, 'alice', 2);
    expect(await manager.get(expiring as string)).toBeNull();
    for (const token of [...bobs, ...alices]) {
      expect(await manager.get(token as string)).not.toBeNull();
    }
  });

  it('cuts a user already far past the bound down to it in one create', async () => {
    const store = new MemoryStore();
    const unbounded = setup(store);
    await loginTimes(unbounded.manager, unbounded.clock, 'alice', 6);
    const { manager, clock } = setup(store, { maxSessionsPerUser: 2 });
    clock.now = unbounded.clock.now;
    const evicted: unknown[] = [];
    manager.on('revoked', (event) => evicted.push(event.reason));
    const [newest] = await loginTimes(manager, clock, 'alice', 1);
    const left = await manager.listForUser('alice');
    expect(left).toHaveLength(2);
    expect(left.map((session) => session.id)).toContain(sessionIdOf(newest as string));
    expect(evicted).toEqual(['evicted', 'evicted', 'evicted', 'evicted', 'evicted']);
  });

  it('is unbounded by default and refuses a bound that is not a positive integer', async () => {
    const { manager, clock } = setup(new MemoryStore());
    expect(manager.maxSessionsPerUser).toBeUndefined();
    await loginTimes(manager, clock, 'alice', 20);
    expect(await manager.listForUser('alice')).toHaveLength(20);
    for (const maxSessionsPerUser of [0, -1, 1.5, Number.NaN]) {
      expect(() => setup(new MemoryStore(), { maxSessionsPerUser })).toThrow(ValidationError);
    }
  });
});

describe('SessionManager.sweepExpired', () => {
  it('returns 0 when no session has expired, and removes nothing', async () => {
    const { manager, clock } = setup(new MemoryStore());
    expect(await manager.sweepExpired()).toBe(0);
    const { token } = await manager.create({ userId: 'u' });
    clock.now += 29 * MINUTE;
    const expired: string[] = [];
    manager.on('expired', (event) => expired.push(event.session.id));
    expect(await manager.sweepExpired({ batchSize: 1 })).toBe(0);
    expect(expired).toEqual([]);
    expect(await manager.get(token)).not.toBeNull();
  });

  it('stops after a batch exactly as large as the limit once the next batch is empty', async () => {
    const { manager, clock } = setup(new MemoryStore());
    await Promise.all([1, 2, 3, 4].map(() => manager.create({ userId: 'u' })));
    clock.now += 31 * MINUTE;
    expect(await manager.sweepExpired({ batchSize: 2 })).toBe(4);
    expect(await manager.sweepExpired({ batchSize: 2 })).toBe(0);
  });
});

describe('SessionManager input guards', () => {
  it('sweepExpired refuses a batch size that could never finish', async () => {
    const manager = new SessionManager({ store: new MemoryStore() });
    for (const batchSize of [0, -1, Number.NaN, 1.5]) {
      await expect(manager.sweepExpired({ batchSize })).rejects.toBeInstanceOf(ValidationError);
    }
  });

  it('refuses a touchThreshold that is not a number', () => {
    for (const touchThreshold of ['0.5', '', true]) {
      expect(
        () =>
          new SessionManager({ store: new MemoryStore(), touchThreshold: touchThreshold as never }),
      ).toThrow(ValidationError);
    }
  });

  it('cuts an oversized user agent without splitting a surrogate pair', async () => {
    const manager = new SessionManager({ store: new MemoryStore() });
    const { token, session } = await manager.create({
      userId: 'u',
      userAgent: `${'a'.repeat(511)}😀`,
    });
    expect(session.userAgent).toBe('a'.repeat(511));
    expect((await manager.get(token))?.userAgent).toBe(session.userAgent);
  });

  it('a store whose touch throws synchronously does not fail the read', async () => {
    class ThrowingTouch extends MemoryStore {
      override touch(): Promise<boolean> {
        throw new Error('sync failure');
      }
    }
    const clock = { now: 0 };
    const manager = new SessionManager({ store: new ThrowingTouch(), clock: () => clock.now });
    const errors: unknown[] = [];
    manager.on('error', ({ error }) => errors.push(error));
    const { token } = await manager.create({ userId: 'u' });
    clock.now += 10 * 60_000;
    expect(await manager.get(token)).not.toBeNull();
    await manager.settle();
    expect(errors).toHaveLength(1);
  });
});

describe('SessionManager.create with a caller-made token', () => {
  it('stores the session under that token, and refuses one that is not a token', async () => {
    const manager = new SessionManager({ store: new MemoryStore() });
    const created: string[] = [];
    manager.on('created', ({ session }) => created.push(session.id));
    const token = generateToken();
    const issued = await manager.create({ token, userId: 'u' });
    expect(issued.token).toBe(token);
    expect((await manager.get(token))?.id).toBe(issued.session.id);
    expect(created).toEqual([issued.session.id]);
    await expect(manager.create({ token: 'not-a-token', userId: 'u' })).rejects.toBeInstanceOf(
      InvalidTokenError,
    );
  });
});
