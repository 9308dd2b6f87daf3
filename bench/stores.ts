/*
 * clawsession over MemoryStore and SqliteStore, each operation measured next to
 * its anchor: the same work written by hand against the raw medium, with JSON
 * as the serializer. The ratio (clawsession ops/s ÷ anchor ops/s) is what the
 * session layer costs: token hashing, validation, the codec, patch semantics,
 * the async API.
 *
 *   npx tsx bench/stores.ts      (or: npm run bench)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Bench, type FnOptions, type Task } from 'tinybench';
import { type SessionData, SessionManager, type SessionStore } from '../src/core/index.js';
import { MemoryStore, SqliteStore } from '../src/stores/index.js';

const TASK_TIME_MS = 1000;
const WARMUP_TIME_MS = 200;
/** Sessions that get, patch and touch cycle through, so no run hits a single hot record. */
const POOL_SIZE = 1000;
const IDLE_MS = 30 * 60_000;
const ABSOLUTE_MS = 24 * 60 * 60_000;

type Op = 'create' | 'get' | 'patch' | 'touch';
const OPS: readonly Op[] = ['create', 'get', 'patch', 'touch'];

/** The reference session: a signed-in user with a 10-item cart. */
function referenceData(): SessionData {
  return {
    user: {
      id: 'user-4711',
      name: 'Ada Lovelace',
      email: 'ada@example.com',
      roles: ['customer', 'beta'],
      locale: 'en-GB',
    },
    items: Array.from({ length: 10 }, (_, i) => ({
      sku: `SKU-${1000 + i}`,
      title: `Item number ${i + 1}`,
      qty: 1 + (i % 3),
      priceCents: 999 + 250 * i,
    })),
    currency: 'EUR',
  };
}

/** The value each patch appends at /items/-. */
const ADDED_ITEM = { sku: 'SKU-2000', title: 'Added item', qty: 1, priceCents: 1999 };

interface Side {
  fn: () => unknown;
  options?: FnOptions;
}

/** One store's four operations, each as clawsession and as its anchor. */
type Suite = Record<Op, { clawsession: Side; anchor: Side }>;

function cycle<T>(items: readonly T[]): () => T {
  let next = 0;
  return () => items[next++ % items.length] as T;
}

// ---- clawsession, over any store --------------------------------------------------------------

async function clawsessionSide(store: SessionStore): Promise<Record<Op, Side>> {
  const manager = new SessionManager({
    store,
    idleTimeout: IDLE_MS,
    absoluteTimeout: ABSOLUTE_MS,
  });
  const pool: string[] = [];
  for (let i = 0; i < POOL_SIZE; i++) {
    pool.push((await manager.create({ userId: `user-${i}`, data: referenceData() })).token);
  }
  const next = cycle(pool);
  let patched = '';
  return {
    create: { fn: () => manager.create({ userId: 'user-bench', data: referenceData() }) },
    get: { fn: () => manager.get(next()) },
    patch: {
      fn: () => {
        patched = next();
        return manager.patch(patched, [{ op: 'add', path: '/items/-', value: ADDED_ITEM }]);
      },
      // Undo outside the timed window, so every measured patch sees the reference data.
      options: {
        afterEach: async () => {
          await manager.patch(patched, [{ op: 'remove', path: '/items/10' }]);
        },
      },
    },
    touch: { fn: () => manager.touch(next()) },
  };
}

// ---- memory anchor: a Map of records whose data is a JSON string ---------------------------------

interface MemoryRecord {
  id: string;
  userId: string;
  data: string;
  version: number;
  createdAt: number;
  lastActiveAt: number;
  idleExpiresAt: number;
  absoluteExpiresAt: number;
}

function idFor(n: number): string {
  return n.toString(16).padStart(64, '0');
}

function memoryAnchor(): Record<Op, Side> {
  const map = new Map<string, MemoryRecord>();
  let created = 0;
  const put = (id: string, userId: string, data: SessionData) => {
    const now = Date.now();
    map.set(id, {
      id,
      userId,
      data: JSON.stringify(data),
      version: 1,
      createdAt: now,
      lastActiveAt: now,
      idleExpiresAt: now + IDLE_MS,
      absoluteExpiresAt: now + ABSOLUTE_MS,
    });
  };
  const live = (id: string, now: number) => {
    const record = map.get(id);
    return record && Math.min(record.idleExpiresAt, record.absoluteExpiresAt) > now
      ? record
      : undefined;
  };
  const pool = Array.from({ length: POOL_SIZE }, () => idFor(++created));
  for (const [i, id] of pool.entries()) put(id, `user-${i}`, referenceData());
  const referenceJson = JSON.stringify(referenceData());
  const next = cycle(pool);
  let patched = '';
  return {
    create: { fn: () => put(idFor(++created), 'user-bench', referenceData()) },
    get: {
      fn: () => {
        const record = live(next(), Date.now());
        return record ? { ...record, data: JSON.parse(record.data) } : null;
      },
    },
    patch: {
      fn: () => {
        patched = next();
        const now = Date.now();
        const record = live(patched, now);
        if (!record) throw new Error('anchor session vanished');
        const data = JSON.parse(record.data);
        data.items.push(ADDED_ITEM);
        map.set(patched, {
          ...record,
          data: JSON.stringify(data),
          version: record.version + 1,
          lastActiveAt: now,
          idleExpiresAt: now + IDLE_MS,
        });
      },
      options: {
        afterEach: () => {
          const record = map.get(patched) as MemoryRecord;
          record.data = referenceJson;
        },
      },
    },
    touch: {
      fn: () => {
        const now = Date.now();
        const record = live(next(), now);
        if (!record) return false;
        record.lastActiveAt = Math.max(record.lastActiveAt, now);
        record.idleExpiresAt = Math.max(record.idleExpiresAt, now + IDLE_MS);
        return true;
      },
    },
  };
}

// ---- SQLite anchor: the store's table, driven by hand with prepared statements -----------------

interface SqliteRow {
  id: string;
  data: Buffer;
  version: number;
}

async function sqliteAnchor(
  filename: string,
): Promise<{ sides: Record<Op, Side>; db: Database.Database }> {
  // The store creates its own schema on open, so the anchor drives exactly the store's table.
  await new SqliteStore({ filename }).close();
  const db = new Database(filename);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  const insert = db.prepare(
    `INSERT INTO sessions (id, user_id, data, version, created_at, last_active_at,
       idle_expires_at, absolute_expires_at, ip, user_agent)
     VALUES (?, ?, ?, 1, ?, ?, ?, ?, NULL, NULL)`,
  );
  const select = db.prepare(
    'SELECT id, user_id, data, version, created_at, last_active_at, idle_expires_at, absolute_expires_at, ip, user_agent FROM sessions WHERE id = ? AND expires_at > ?',
  );
  const updateData = db.prepare(
    'UPDATE sessions SET data = ?, version = ?, last_active_at = ?, idle_expires_at = ? WHERE id = ?',
  );
  const resetData = db.prepare('UPDATE sessions SET data = ? WHERE id = ?');
  const touch = db.prepare(
    `UPDATE sessions SET last_active_at = max(last_active_at, @now),
       idle_expires_at = max(idle_expires_at, @idleExpiresAt) WHERE id = @id AND expires_at > @now`,
  );
  let created = 0;
  const put = (id: string, userId: string) => {
    const now = Date.now();
    insert.run(
      id,
      userId,
      Buffer.from(JSON.stringify(referenceData())),
      now,
      now,
      now + IDLE_MS,
      now + ABSOLUTE_MS,
    );
  };
  const pool = Array.from({ length: POOL_SIZE }, () => idFor(++created));
  for (const [i, id] of pool.entries()) put(id, `user-${i}`);
  const referenceBlob = Buffer.from(JSON.stringify(referenceData()));
  const next = cycle(pool);
  let patched = '';
  const patch = db.transaction((id: string) => {
    const now = Date.now();
    const row = select.get(id, now) as SqliteRow | undefined;
    if (!row) throw new Error('anchor session vanished');
    const data = JSON.parse(row.data.toString('utf8'));
    data.items.push(ADDED_ITEM);
    updateData.run(Buffer.from(JSON.stringify(data)), row.version + 1, now, now + IDLE_MS, id);
  });
  return {
    db,
    sides: {
      create: { fn: () => put(idFor(++created), 'user-bench') },
      get: {
        fn: () => {
          const row = select.get(next(), Date.now()) as SqliteRow | undefined;
          return row ? { ...row, data: JSON.parse(row.data.toString('utf8')) } : null;
        },
      },
      patch: {
        fn: () => {
          patched = next();
          patch.immediate(patched);
        },
        options: { afterEach: () => void resetData.run(referenceBlob, patched) },
      },
      touch: {
        fn: () => {
          const now = Date.now();
          return touch.run({ id: next(), now, idleExpiresAt: now + IDLE_MS }).changes > 0;
        },
      },
    },
  };
}

// ---- run and report --------------------------------------------------------------------------

function combine(clawsession: Record<Op, Side>, anchor: Record<Op, Side>): Suite {
  return Object.fromEntries(
    OPS.map((op) => [op, { clawsession: clawsession[op], anchor: anchor[op] }]),
  ) as Suite;
}

interface Measured {
  opsPerSecond: number;
  meanMicros: number;
}

function measured(task: Task | undefined): Measured {
  const result = task?.result;
  if (!result || !('latency' in result)) {
    const reason = result && 'error' in result ? String(result.error) : result?.state;
    throw new Error(`task ${task?.name} did not complete: ${reason}`);
  }
  // ops/s from the mean latency, so that ops/s and mean µs describe the same samples.
  return { opsPerSecond: 1000 / result.latency.mean, meanMicros: result.latency.mean * 1000 };
}

function formatTable(rows: string[][]): string {
  const widths = rows[0]?.map((_, column) =>
    Math.max(...rows.map((row) => row[column]?.length ?? 0)),
  );
  const line = (row: string[]) =>
    row
      .map((cell, column) => {
        const width = widths?.[column] ?? 0;
        return column < 2 ? cell.padEnd(width) : cell.padStart(width);
      })
      .join('  ');
  const [header, ...body] = rows;
  return [
    line(header ?? []),
    (widths ?? []).map((w) => '-'.repeat(w)).join('  '),
    ...body.map(line),
  ].join('\n');
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'clawsession-bench-'));
  const closers: (() => Promise<void> | void)[] = [];
  try {
    const memoryStore = new MemoryStore({ max: 1_000_000 });
    const sqliteStore = new SqliteStore({ filename: join(dir, 'clawsession.db') });
    closers.push(
      () => memoryStore.close(),
      () => sqliteStore.close(),
    );
    const anchorSqlite = await sqliteAnchor(join(dir, 'anchor.db'));
    closers.push(() => void anchorSqlite.db.close());

    const suites: [string, Suite][] = [
      ['memory', combine(await clawsessionSide(memoryStore), memoryAnchor())],
      ['sqlite', combine(await clawsessionSide(sqliteStore), anchorSqlite.sides)],
    ];

    const reference = referenceData();
    console.log(
      `node ${process.version} · ${process.platform}/${process.arch} · tinybench ${TASK_TIME_MS} ms per task · pool of ${POOL_SIZE} sessions`,
    );
    console.log(
      `reference session: ${JSON.stringify(reference).length} bytes as JSON, ${JSON.stringify(reference)}`,
    );
    console.log(`patch: one add of ${JSON.stringify(ADDED_ITEM)} to /items/-\n`);

    const bench = new Bench({ time: TASK_TIME_MS, warmupTime: WARMUP_TIME_MS, throws: true });
    for (const [store, suite] of suites) {
      for (const op of OPS) {
        const { clawsession, anchor } = suite[op];
        bench.add(`${store} ${op} clawsession`, clawsession.fn, clawsession.options);
        bench.add(`${store} ${op} anchor`, anchor.fn, anchor.options);
      }
    }
    await bench.run();

    const byName = new Map(bench.tasks.map((task) => [task.name, task]));
    const rows = [['store', 'op', 'ops/s', 'mean µs', 'anchor ops/s', 'ratio']];
    for (const [store] of suites) {
      for (const op of OPS) {
        const ours = measured(byName.get(`${store} ${op} clawsession`));
        const anchor = measured(byName.get(`${store} ${op} anchor`));
        rows.push([
          store,
          op,
          Math.round(ours.opsPerSecond).toLocaleString('en-US'),
          ours.meanMicros.toFixed(2),
          Math.round(anchor.opsPerSecond).toLocaleString('en-US'),
          (ours.opsPerSecond / anchor.opsPerSecond).toFixed(2),
        ]);
      }
    }
    console.log(formatTable(rows));
    console.log(
      '\nanchors: memory = Map of records holding JSON.stringify(data), read with JSON.parse;' +
        '\n         sqlite = the same table in a WAL file (synchronous=NORMAL) through prepared' +
        '\n         statements: INSERT / SELECT by primary key + JSON.parse / read-modify-write' +
        '\n         UPDATE of the data blob in an immediate transaction / UPDATE of the expiry.',
    );
  } finally {
    for (const close of closers) await close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
