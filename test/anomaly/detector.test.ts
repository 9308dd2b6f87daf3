import { describe, expect, it } from 'vitest';
import {
  ANOMALY_COLLECTIONS,
  ANOMALY_DEFAULTS,
  type AnomalyConfig,
  AnomalyDetector,
  type AnomalyFlag,
  AnomalyStateConflictError,
} from '../../src/anomaly/index.js';
import {
  type CauseOptions,
  type OutboxEvent,
  type RecordStore,
  SessionManager,
  type SessionRef,
} from '../../src/core/index.js';
import { MemoryRecordStore, MemoryStore, SqliteRecordStore } from '../../src/stores/index.js';
import { manualClock } from '../support/manual-clock.js';
import { sharedBackends } from '../support/record-backends.js';

const CHROME =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0';
const HOUR = 3_600_000;

const backends = sharedBackends('anomaly');
const shared: [string, () => Promise<RecordStore>][] = [
  ['SQLite', async () => backends.sqliteRecords],
  ['Redis', () => backends.redisRecords()],
  ['PostgreSQL', () => backends.postgresRecords()],
];

/** Rules as the defaults have them, with some settings changed. */
function configWith(
  rules: { [R in keyof AnomalyConfig['rules']]?: Partial<AnomalyConfig['rules'][R]> },
) {
  const config = structuredClone(ANOMALY_DEFAULTS);
  for (const [name, settings] of Object.entries(rules))
    Object.assign(config.rules[name as keyof AnomalyConfig['rules']], settings);
  return config;
}

/**
 * Detectors over one record store and one session manager, as gateways
 * sharing a backend have them, with every flag, event and revocation cause
 * they produced.
 */
async function setup(records: RecordStore, config: AnomalyConfig = ANOMALY_DEFAULTS) {
  const clock = manualClock();
  const manager = new SessionManager({ store: new MemoryStore(), clock: clock.now });
  const causes: { id: string; reason: string | undefined; actor: string | undefined }[] = [];
  const revoking = {
    revoke: async (ref: SessionRef, options: CauseOptions = {}) => {
      causes.push({ id: (ref as { id: string }).id, ...pick(options) });
      return manager.revoke(ref, options);
    },
    revokeAllForUser: async (userId: string, options: CauseOptions = {}) => {
      causes.push({ id: `user:${userId}`, ...pick(options) });
      return manager.revokeAllForUser(userId, options);
    },
  };
  const flags: AnomalyFlag[] = [];
  const events: OutboxEvent[] = [];
  const detector = (instance: string) =>
    new AnomalyDetector({
      records,
      manager: revoking,
      config,
      clock: clock.now,
      instance,
      onFlag: (flag, event) => {
        flags.push(flag);
        events.push(event);
      },
    });
  async function login(userId = `alice-${Math.random().toString(36).slice(2)}`) {
    const { session } = await manager.create({ userId });
    return session;
  }
  return { clock, manager, causes, flags, events, a: detector('a'), b: detector('b'), login };
}

function pick(options: CauseOptions) {
  return { reason: options.cause?.reason, actor: options.cause?.actor };
}

function request(
  session: { id: string; userId: string; absoluteExpiresAt: number },
  ip: string,
  userAgent: string | null,
) {
  return {
    sessionId: session.id,
    userId: session.userId,
    ip,
    userAgent,
    sessionExpiresAt: session.absoluteExpiresAt,
  };
}

describe.each(shared)('two detectors over one %s record store', (_name, open) => {
  it('see one session as one: the second flags a move first seen by neither, and the first does not flag it again', async () => {
    const { a, b, flags, login } = await setup(await open());
    const session = await login();
    expect(await a.observeLoginSuccess(request(session, '203.0.113.5', CHROME))).toEqual({
      outcome: 'allow',
    });
    expect(await a.observeRequest(request(session, '203.0.113.5', CHROME))).toEqual({
      outcome: 'allow',
    });
    await b.observeRequest(request(session, '198.51.100.7', FIREFOX));
    expect(flags.map((flag) => flag.rule).sort()).toEqual(['network-change', 'user-agent-change']);
    await a.observeRequest(request(session, '198.51.100.7', FIREFOX));
    expect(flags).toHaveLength(2);
    const listed = await a.listFlags({ userId: session.userId, limit: 10 });
    expect(listed.flags.map((flag) => flag.id).sort()).toEqual(flags.map((flag) => flag.id).sort());
    expect(listed.flags[0]).toMatchObject({
      sessionId: session.id,
      userId: session.userId,
      network: '198.51.0.0/16',
      userAgentFamily: 'Firefox',
      action: 'log',
    });
  });

  it('lose no request counts when they race: a lost compare-and-set keeps its count for the next write', async () => {
    const records = await open();
    // A limit under 40 writes the count at every request: every request races for the record.
    const { a, b, login, clock } = await setup(
      records,
      configWith({ 'request-rate': { limit: 39 } }),
    );
    const session = await login();
    await a.observeLoginSuccess(request(session, '203.0.113.5', CHROME));
    const racing = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) =>
        (i % 2 === 0 ? a : b).observeRequest(request(session, '203.0.113.5', CHROME)),
      ),
    );
    const failed = racing.flatMap((result) =>
      result.status === 'rejected' ? [result.reason] : [],
    );
    for (const error of failed) expect(error).toBeInstanceOf(AnomalyStateConflictError);
    const counted = async () => {
      const state = await records.get(ANOMALY_COLLECTIONS.sessions, session.id, clock.now());
      return (state?.value as { rate: { current: number } } | undefined)?.rate.current;
    };
    expect(await counted()).toBe(20 - failed.length);
    // One more request on each carries what its detector held back: every request counted once.
    await a.observeRequest(request(session, '203.0.113.5', CHROME));
    await b.observeRequest(request(session, '203.0.113.5', CHROME));
    expect(await counted()).toBe(22);
  });

  it('flag credential stuffing from one address once, whichever detector the failures reach', async () => {
    const config = configWith({ 'credential-stuffing': { limit: 3, action: 'revoke' } });
    const { a, b, flags, clock } = await setup(await open(), config);
    const ip = `203.0.113.${Math.floor(Math.random() * 200)}`;
    await a.observeLoginFailure({ account: 'ann', ip });
    await b.observeLoginFailure({ account: 'ann', ip });
    await b.observeLoginFailure({ account: 'bob', ip });
    expect(await a.loginRefusal(ip)).toBeNull();
    await a.observeLoginFailure({ account: 'cid', ip });
    expect(flags.map((flag) => flag.rule)).toEqual(['credential-stuffing']);
    expect(flags[0]).toMatchObject({ sessionId: null, userId: null, network: `${ip}/32` });
    await b.observeLoginFailure({ account: 'dan', ip });
    expect(flags).toHaveLength(1);
    const refusal = await b.loginRefusal(ip);
    expect(refusal?.retryAfterMs).toBe(24 * HOUR);
    expect(await b.loginRefusal('198.51.100.1')).toBeNull();
    clock.advance(24 * HOUR);
    expect(await a.loginRefusal(ip)).toBeNull();
  });
});

describe('actions', () => {
  it('revoke ends the session with the cause anomaly:<rule>', async () => {
    const config = configWith({ 'network-change': { action: 'revoke' } });
    const { a, manager, causes, login } = await setup(new MemoryRecordStore(), config);
    const session = await login();
    await a.observeLoginSuccess(request(session, '203.0.113.5', CHROME));
    const verdict = await a.observeRequest(request(session, '198.51.100.7', CHROME));
    expect(verdict).toEqual({ outcome: 'revoked', rule: 'network-change' });
    expect(causes).toEqual([{ id: session.id, actor: 'system', reason: 'anomaly:network-change' }]);
    expect(await manager.get({ id: session.id })).toBeNull();
  });

  it('step-up marks the session until it ends, without running the rules again', async () => {
    const config = configWith({ 'user-agent-change': { action: 'step-up' } });
    const { a, b, flags, manager, login } = await setup(new MemoryRecordStore(), config);
    const session = await login();
    await a.observeLoginSuccess(request(session, '203.0.113.5', CHROME));
    expect(await a.observeRequest(request(session, '203.0.113.5', FIREFOX))).toEqual({
      outcome: 'step-up',
      rule: 'user-agent-change',
    });
    expect(await b.observeRequest(request(session, '203.0.113.5', CHROME))).toEqual({
      outcome: 'step-up',
      rule: 'user-agent-change',
    });
    expect(flags).toHaveLength(1);
    expect(await manager.get({ id: session.id })).not.toBeNull();
    const next = await login(session.userId);
    await a.observeLoginSuccess(request(next, '203.0.113.5', FIREFOX));
    expect(await a.observeRequest(request(next, '203.0.113.5', FIREFOX))).toEqual({
      outcome: 'allow',
    });
  });

  it('the strongest action of one request wins, and each finding is its own flag', async () => {
    const config = configWith({
      'user-agent-change': { action: 'step-up' },
      'network-change': { action: 'revoke' },
    });
    const { a, flags, login } = await setup(new MemoryRecordStore(), config);
    const session = await login();
    await a.observeLoginSuccess(request(session, '203.0.113.5', CHROME));
    const verdict = await a.observeRequest(request(session, '198.51.100.7', FIREFOX));
    expect(verdict).toEqual({ outcome: 'revoked', rule: 'network-change' });
    expect(flags.map((flag) => `${flag.rule}:${flag.action}`).sort()).toEqual([
      'network-change:revoke',
      'user-agent-change:step-up',
    ]);
  });

  it('a disabled rule flags nothing, though its state is kept', async () => {
    const config = configWith({ 'user-agent-change': { enabled: false } });
    const { a, flags, login } = await setup(new MemoryRecordStore(), config);
    const session = await login();
    await a.observeLoginSuccess(request(session, '203.0.113.5', CHROME));
    expect(await a.observeRequest(request(session, '203.0.113.5', FIREFOX))).toEqual({
      outcome: 'allow',
    });
    expect(flags).toEqual([]);
  });

  it('refresh reuse is flagged for the ended session, and with revoke ends the user’s other sessions', async () => {
    const config = configWith({ 'refresh-reuse': { action: 'revoke' } });
    const { a, flags, causes, manager, login } = await setup(new MemoryRecordStore(), config);
    const reused = await login();
    const other = await login(reused.userId);
    await a.observeRefreshReuse({ sessionId: reused.id, userId: reused.userId });
    expect(flags).toMatchObject([
      { rule: 'refresh-reuse', sessionId: reused.id, userId: reused.userId, score: 90 },
    ]);
    expect(causes).toEqual([
      { id: `user:${reused.userId}`, actor: 'system', reason: 'anomaly:refresh-reuse' },
    ]);
    expect(await manager.get({ id: other.id })).toBeNull();
  });
});

describe('a session whose token was renamed', () => {
  it('keeps its state under the new id, and with it any step-up it owes', async () => {
    const config = configWith({ 'user-agent-change': { action: 'step-up' } });
    const { a, b, flags, manager, login } = await setup(new MemoryRecordStore(), config);
    const session = await login();
    await a.observeLoginSuccess(request(session, '203.0.113.5', CHROME));
    const rotated = (await manager.regenerate({ id: session.id })).session;
    a.noteRenamed(session.id, rotated.id);
    // Without the note, the new id would start afresh from this request's network.
    await a.observeRequest(request(rotated, '198.51.100.7', CHROME));
    expect(flags.map((flag) => flag.rule)).toEqual(['network-change']);
    // Another detector, which saw no rename, finds the state moved.
    expect(await b.observeRequest(request(rotated, '198.51.100.7', FIREFOX))).toMatchObject({
      outcome: 'step-up',
    });
    const again = (await manager.regenerate({ id: rotated.id })).session;
    b.noteRenamed(rotated.id, again.id);
    expect(await b.observeRequest(request(again, '198.51.100.7', FIREFOX))).toEqual({
      outcome: 'step-up',
      rule: 'user-agent-change',
    });
  });
});

describe('flags and their events', () => {
  it('every flag comes with an anomaly.flagged event that carries no token, address or User-Agent', async () => {
    const { a, events, flags, login } = await setup(new MemoryRecordStore());
    const session = await login();
    await a.observeLoginSuccess(request(session, '203.0.113.5', CHROME));
    await a.observeRequest(request(session, '198.51.100.7', FIREFOX));
    expect(events).toHaveLength(2);
    const event = events.find((e) => e.data.rule === 'network-change');
    expect(event).toEqual({
      id: flags.find((f) => f.rule === 'network-change')?.id,
      type: 'anomaly.flagged',
      time: Date.UTC(2026, 0, 1),
      sessionId: session.id,
      userId: session.userId,
      sequence: 0,
      instance: 'a',
      data: {
        rule: 'network-change',
        reason: 'the session moved from network 203.0.0.0/16 to 198.51.0.0/16',
        score: 30,
        action: 'log',
        network: '198.51.0.0/16',
        userAgentFamily: 'Firefox',
      },
    });
    const text = JSON.stringify(events);
    expect(text).not.toContain('198.51.100.7');
    expect(text).not.toContain('Gecko');
  });

  it('are listed by user and by session a page at a time, and end after flagRetention', async () => {
    const config = { ...ANOMALY_DEFAULTS, flagRetention: 10 * HOUR };
    const { a, clock, login } = await setup(new MemoryRecordStore(), config);
    const first = await login('alice');
    const second = await login('alice');
    const other = await login('bob');
    for (const session of [first, second, other]) {
      await a.observeLoginSuccess(request(session, '203.0.113.5', CHROME));
      clock.advance(1_000);
      await a.observeRequest(request(session, '203.0.113.5', FIREFOX));
    }
    const page1 = await a.listFlags({ userId: 'alice', limit: 1 });
    expect(page1.flags.map((f) => f.sessionId)).toEqual([first.id]);
    const page2 = await a.listFlags({ userId: 'alice', limit: 5, after: page1.next as string });
    expect(page2).toEqual({
      flags: [expect.objectContaining({ sessionId: second.id })],
      next: null,
    });
    const bySession = await a.listFlags({ sessionId: second.id, limit: 5 });
    expect(bySession.flags.map((f) => f.sessionId)).toEqual([second.id]);
    expect((await a.listFlags({ limit: 10 })).flags).toHaveLength(3);
    clock.advance(10 * HOUR);
    expect((await a.listFlags({ limit: 10 })).flags).toEqual([]);
  });

  it('keeps a session’s state only until the session’s absolute expiry', async () => {
    const records = new MemoryRecordStore();
    const { a, clock, login } = await setup(records);
    const session = await login();
    await a.observeLoginSuccess(request(session, '203.0.113.5', CHROME));
    const now = clock.now();
    expect(await records.get(ANOMALY_COLLECTIONS.sessions, session.id, now)).not.toBeNull();
    const lifetime = session.absoluteExpiresAt - now;
    expect(await records.get(ANOMALY_COLLECTIONS.sessions, session.id, now + lifetime)).toBeNull();
  });
});

describe('a failing record store', () => {
  it('fails the observation with the store’s error', async () => {
    const dir = await import('node:fs').then((fs) =>
      fs.mkdtempSync(`${(process.env.TMPDIR ?? '/tmp').replace(/\/$/, '')}/clawsession-anomaly-`),
    );
    const records = new SqliteRecordStore({ filename: `${dir}/records.db` });
    const { a, login } = await setup(records);
    const session = await login();
    await a.observeLoginSuccess(request(session, '203.0.113.5', CHROME));
    await records.close();
    await expect(a.observeRequest(request(session, '203.0.113.5', CHROME))).rejects.toThrow();
  });
});
