import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  ConfigError,
  createCodec,
  SessionManager,
  StoreUnavailableError,
} from '../../src/core/index.js';
import { NearCache, PostgresInvalidationBus, SqliteStore } from '../../src/stores/index.js';

const POSTGRES_URL =
  process.env.CLAWSESSION_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const dir = mkdtempSync(join(tmpdir(), 'clawsession-pg-bus-'));
const admin = new Pool({ connectionString: POSTGRES_URL });
afterAll(async () => {
  await admin.end();
  rmSync(dir, { recursive: true, force: true });
});

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((closable) => closable.close()));
});

const freshChannel = () => `cs_test_${randomBytes(6).toString('hex')}`;

async function bus(channel: string) {
  const connected = await PostgresInvalidationBus.connect({
    connectionString: POSTGRES_URL,
    channel,
    maxReconnectDelay: 100,
  });
  open.push(connected);
  return connected;
}

/** Subscribes and collects what arrives. */
async function listening(channel: string) {
  const received: (string | null)[] = [];
  await (await bus(channel)).subscribe((id) => received.push(id));
  return received;
}

describe('PostgresInvalidationBus', () => {
  it('says "drop everything" when its listening connection comes back, then keeps listening', async () => {
    const channel = freshChannel();
    const received = await listening(channel);
    const { rowCount } = await admin.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
       WHERE pid <> pg_backend_pid() AND query = $1`,
      [`LISTEN "${channel}"`],
    );
    expect(rowCount).toBe(1);
    await expect.poll(() => received, { timeout: 5_000 }).toEqual([null]);
    const publisher = await bus(channel);
    await publisher.publish('after');
    await expect.poll(() => received, { timeout: 5_000 }).toEqual([null, 'after']);
  });

  it('refuses a channel that is not a plain identifier, and an unreachable server', async () => {
    for (const channel of ['Upper', 'with-dash', 'x'.repeat(64), '', 'semi;colon']) {
      await expect(
        PostgresInvalidationBus.connect({ connectionString: POSTGRES_URL, channel }),
      ).rejects.toBeInstanceOf(ConfigError);
    }
    await expect(
      PostgresInvalidationBus.connect({
        connectionString: 'postgres://postgres@127.0.0.1:1/test',
        connectTimeout: 500,
      }),
    ).rejects.toBeInstanceOf(StoreUnavailableError);
  });

  it('keeps NearCache instances over one store in step without Redis', async () => {
    const filename = join(dir, 'near.db');
    const channel = freshChannel();
    const codec = createCodec();
    const instance = async () => {
      const manager = new SessionManager({
        store: await NearCache.create(new SqliteStore({ filename, codec }), {
          ttl: 600_000,
          bus: await PostgresInvalidationBus.connect({ connectionString: POSTGRES_URL, channel }),
        }),
      });
      open.push(manager);
      return manager;
    };
    const a = await instance();
    const b = await instance();
    const { token } = await a.create({ userId: 'u', data: { role: 'admin' } });
    expect((await b.get(token))?.data).toEqual({ role: 'admin' });
    await a.revoke(token);
    await expect.poll(async () => b.get(token), { timeout: 5_000, interval: 5 }).toBeNull();
  });
});
