import { randomBytes } from 'node:crypto';
import { Pool } from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type ClawsessionError,
  ConfigError,
  DecodeError,
  ForbiddenPathError,
  InvalidTokenError,
  PatchMalformedError,
  PatchTargetError,
  PatchTestFailedError,
  SessionDataTooLargeError,
  SessionExistsError,
  SessionManager,
  SessionNotFoundError,
  StoreUnavailableError,
  ValidationError,
  VersionConflictError,
} from '../../src/core/index.js';
import {
  InstrumentedStore,
  isStoreFault,
  MemoryStore,
  PostgresStore,
  type StoreOperation,
} from '../../src/stores/index.js';
import { describeSessionStore } from '../conformance/session-store.js';

const POSTGRES_URL =
  process.env.CLAWSESSION_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `clawsession_instrumented_${randomBytes(4).toString('hex')}`;

interface Report {
  operation: StoreOperation;
  seconds: number;
  errorCode: string | null;
}

function recording() {
  const reports: Report[] = [];
  const observer = {
    onOperation(operation: StoreOperation, seconds: number, errorCode: string | null) {
      reports.push({ operation, seconds, errorCode });
    },
  };
  return { reports, observer };
}

describeSessionStore(
  'InstrumentedStore(memory)',
  async ({ codec }) => new InstrumentedStore(new MemoryStore({ codec }), recording().observer),
);

describe('InstrumentedStore', () => {
  afterAll(async () => {
    const admin = new Pool({ connectionString: POSTGRES_URL, max: 1 });
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.end();
  });

  it('reports each operation once, with its duration and no error code when it succeeds', async () => {
    const { reports, observer } = recording();
    const manager = new SessionManager({
      store: new InstrumentedStore(new MemoryStore(), observer),
    });
    const { token } = await manager.create({ userId: 'alice' });
    await manager.patch(token, [{ op: 'add', path: '/theme', value: 'dark' }]);
    expect(await manager.get(token, { touch: false })).not.toBeNull();
    expect(await manager.countLive()).toBe(1);
    expect(await manager.revokeAllForUser('alice')).toBe(1);
    expect(reports.map((report) => [report.operation, report.errorCode])).toEqual([
      ['create', null],
      ['update', null],
      ['get', null],
      ['countLive', null],
      ['deleteByUser', null],
    ]);
    for (const { seconds } of reports) {
      expect(seconds).toBeGreaterThanOrEqual(0);
      expect(seconds).toBeLessThan(5);
    }
  });

  it('reports a refused operation under its error code and passes the error through', async () => {
    const { reports, observer } = recording();
    const store = new InstrumentedStore(new MemoryStore(), observer);
    const manager = new SessionManager({ store });
    const { session } = await manager.create({ userId: 'alice' });
    await expect(store.create(session)).rejects.toBeInstanceOf(SessionExistsError);
    expect(reports.at(-1)).toMatchObject({ operation: 'create', errorCode: 'ERR_SESSION_EXISTS' });
  });

  it('reports an error that is not a clawsession error as ERR_INTERNAL', async () => {
    const { reports, observer } = recording();
    const clock = { now: Date.UTC(2026, 0, 1) };
    const store = new InstrumentedStore(new MemoryStore(), observer);
    const manager = new SessionManager({ store, clock: () => clock.now });
    await manager.create({ userId: 'alice' });
    clock.now += manager.idleTimeout;
    const failure = new Error('archive bucket is gone');
    await expect(
      manager.sweepExpired({
        archive: async () => {
          throw failure;
        },
      }),
    ).rejects.toBe(failure);
    expect(reports.at(-1)).toMatchObject({ operation: 'sweepExpired', errorCode: 'ERR_INTERNAL' });
  });

  it('counts the failures of a PostgreSQL store whose pool has ended as ERR_STORE_UNAVAILABLE', async () => {
    const setup = new Pool({ connectionString: POSTGRES_URL, max: 1 });
    await setup.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await setup.end();
    const pool = new Pool({ connectionString: POSTGRES_URL, max: 2 });
    const { reports, observer } = recording();
    const store = new InstrumentedStore(await PostgresStore.connect({ pool, schema }), observer);
    const manager = new SessionManager({ store });
    const { token } = await manager.create({ userId: 'alice' });
    await pool.end();
    await expect(manager.get(token)).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(manager.countLive()).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(reports.map((report) => [report.operation, report.errorCode])).toEqual([
      ['create', null],
      ['get', 'ERR_STORE_UNAVAILABLE'],
      ['countLive', 'ERR_STORE_UNAVAILABLE'],
    ]);
    await store.close();
  });

  it('tells the faults of a store from its refusals of what it was asked', () => {
    const refusals: ClawsessionError[] = [
      new VersionConflictError(1, 2),
      new PatchTestFailedError('/cart'),
      new PatchTargetError('no such member'),
      new PatchMalformedError('not a list'),
      new ForbiddenPathError('/__proto__'),
      new ValidationError('bad id'),
      new InvalidTokenError(),
      new SessionNotFoundError(),
      new SessionExistsError(),
      new SessionDataTooLargeError(2, 1),
    ];
    for (const error of refusals)
      expect([error.code, isStoreFault(error.code)]).toEqual([error.code, false]);
    const faults = [
      new StoreUnavailableError('redis is down'),
      new DecodeError('unknown key id'),
      new ConfigError('no schema'),
    ].map((error) => error.code);
    for (const code of [...faults, 'ERR_INTERNAL', 'ERR_SOMETHING_NEW'])
      expect([code, isStoreFault(code)]).toEqual([code, true]);
  });
});
