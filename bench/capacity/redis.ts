import { createClient } from 'redis';
import { SessionManager, sessionIdOf } from '../../src/core/index.js';
import { openStore } from '../../src/stores/index.js';
import { Keys } from '../../src/stores/redis/layout.js';
import { startPrivateRedis } from './private-redis.js';
import type { Settings } from './settings.js';
import {
  mixedOp,
  type OpKind,
  type Run,
  runCount,
  runFor,
  SessionPool,
  sessionOps,
} from './workload.js';

/** All the bench asks of its own connection: raw commands. */
interface Admin {
  sendCommand(args: (string | Buffer)[]): Promise<unknown>;
}

export interface RedisOpCost {
  ops: number;
  seconds: number;
  /** What this 2-core machine happened to reach, the client sharing it: not the shard's capacity. */
  achievedOpsPerSecond: number;
  /** The whole redis-server process (INFO used_cpu_sys + used_cpu_user). */
  serverCpuMicrosPerOp: number;
  /** Its main thread, which runs every command: what bounds one shard. */
  mainThreadCpuMicrosPerOp: number;
  /** 1,000,000 µs ÷ the main thread's µs per operation. */
  opsPerShardCore: number;
  /** This process: clawsession, the client driver and the bench loop. */
  clientCpuMicrosPerOp: number;
  /** INFO commandstats over the phase (scripts' inner commands included), per operation. */
  commands: Record<string, { callsPerOp: number; usecPerCall: number }>;
}

export interface RedisMemory {
  sessions: number;
  usedMemoryBytesPerSession: number;
  rssBytesPerSession: number;
  keysPerSession: number;
  indexEntriesPerSession: { expiry: number; user: number };
  /** MEMORY USAGE of a sample of session keys: value, key name, object header and dict entry. */
  sessionKeyBytes: number;
  /** STRLEN of the same sample: the stored record itself. */
  sessionValueBytes: number;
  /** MEMORY USAGE of every index key, divided by the sessions. */
  indexBytesPerSession: number;
  /** used_memory per session less the two above: hash-table buckets and the expires entry. */
  otherBytesPerSession: number;
  indexEncodings: Record<string, number>;
  /** jemalloc's allocator_frag_ratio with the sessions freshly created, and after the timed updates and the mix. */
  fragmentation: { populated: number; afterUpdates: number };
  /** used_memory left after every session was revoked, over the baseline. */
  residualBytesAfterRevoke: number;
}

export interface RedisResult {
  server: string;
  costs: Partial<Record<OpKind | 'raw GET (anchor)' | 'mix', RedisOpCost>>;
  memory: RedisMemory;
}

const PREFIX = 'cs:';

/**
 * clawsession over RedisStore on a private redis-server: the server's CPU for
 * each operation kind and for the mix, and the memory each session takes.
 */
export async function measureRedis(settings: Settings): Promise<RedisResult> {
  const redis = await startPrivateRedis();
  const admin = createClient({ url: redis.url });
  const raw = createClient({ url: redis.url });
  const closers: (() => Promise<unknown>)[] = [() => redis.stop()];
  try {
    await admin.connect();
    closers.unshift(() => admin.close());
    await raw.connect();
    closers.unshift(() => raw.close());
    const store = await openStore(`${redis.url}/?prefix=${PREFIX}`);
    // touchThreshold 1: a read never writes a touch, so `get` is the read alone; touches are their own kind.
    const manager = new SessionManager({ store, touchThreshold: 1 });
    closers.unshift(() => manager.close());
    const pool = new SessionPool();
    const ops = sessionOps(manager, pool);
    const { concurrency, seconds, sessions } = settings;
    const costs: RedisResult['costs'] = {};
    const measure = (run: () => Promise<Run>) => redisCost(admin, run);

    // Loads the scripts and creates the index keys, so the baseline holds them.
    await runCount(200, concurrency, ops.create);
    await runCount(200, concurrency, ops.revoke);
    const baseline = await memoryReading(admin);
    costs.create = await measure(() => runCount(sessions, concurrency, ops.create));
    const populated = await memoryReading(admin);
    const breakdown = await memoryBreakdown(admin, pool);

    costs.get = await measure(() => runFor(seconds, concurrency, ops.get));
    const keys = new Keys(PREFIX);
    costs['raw GET (anchor)'] = await measure(() =>
      runFor(seconds, concurrency, async () => {
        const key = keys.session(sessionIdOf(pool.pick()));
        await raw.sendCommand(['GET', key]);
      }),
    );
    costs.touch = await measure(() => runFor(seconds, concurrency, ops.touch));
    costs.patch = await measure(() => runFor(seconds, concurrency, ops.patch));
    costs.mix = await measure(() => runFor(seconds, concurrency, mixedOp(settings.mix, ops)));
    const churned = await memoryReading(admin);
    costs.revoke = await measure(() => runCount(pool.size, concurrency, ops.revoke));
    const emptied = await memoryReading(admin);

    const perSession = (bytes: number) => bytes / sessions;
    const usedMemoryBytesPerSession = perSession(populated.usedMemory - baseline.usedMemory);
    return {
      server: `private redis-server ${(await serverInfo(admin)).get('redis_version')} (save "", appendonly no, defaults otherwise)`,
      costs,
      memory: {
        sessions,
        usedMemoryBytesPerSession,
        rssBytesPerSession: perSession(populated.rss - baseline.rss),
        keysPerSession: perSession(populated.keys - baseline.keys),
        indexEntriesPerSession: {
          expiry: perSession(breakdown.expiryEntries),
          user: perSession(breakdown.userEntries),
        },
        sessionKeyBytes: breakdown.sessionKeyBytes,
        sessionValueBytes: breakdown.sessionValueBytes,
        indexBytesPerSession: perSession(breakdown.indexBytes),
        otherBytesPerSession:
          usedMemoryBytesPerSession - breakdown.sessionKeyBytes - perSession(breakdown.indexBytes),
        indexEncodings: breakdown.encodings,
        fragmentation: { populated: populated.fragmentation, afterUpdates: churned.fragmentation },
        residualBytesAfterRevoke: emptied.usedMemory - baseline.usedMemory,
      },
    };
  } finally {
    for (const close of closers) await close().catch(() => undefined);
  }
}

async function redisCost(admin: Admin, run: () => Promise<Run>): Promise<RedisOpCost> {
  await admin.sendCommand(['CONFIG', 'RESETSTAT']);
  const before = await serverCpu(admin);
  const client = process.cpuUsage();
  const { ops, seconds } = await run();
  const clientCpu = process.cpuUsage(client);
  const after = await serverCpu(admin);
  const micros = (cpuSeconds: number) => (cpuSeconds * 1e6) / ops;
  const mainThreadCpuMicrosPerOp = micros(after.mainThread - before.mainThread);
  return {
    ops,
    seconds,
    achievedOpsPerSecond: ops / seconds,
    serverCpuMicrosPerOp: micros(after.total - before.total),
    mainThreadCpuMicrosPerOp,
    opsPerShardCore: 1e6 / mainThreadCpuMicrosPerOp,
    clientCpuMicrosPerOp: (clientCpu.user + clientCpu.system) / ops,
    commands: await commandsPerOp(admin, ops),
  };
}

async function serverInfo(admin: Admin, section = 'server'): Promise<Map<string, string>> {
  const text = String(await admin.sendCommand(['INFO', section]));
  const fields = new Map<string, string>();
  for (const line of text.split('\r\n')) {
    const at = line.indexOf(':');
    if (at > 0 && !line.startsWith('#')) fields.set(line.slice(0, at), line.slice(at + 1));
  }
  return fields;
}

async function serverCpu(admin: Admin): Promise<{ total: number; mainThread: number }> {
  const cpu = await serverInfo(admin, 'cpu');
  const field = (name: string) => Number(cpu.get(name));
  return {
    total: field('used_cpu_sys') + field('used_cpu_user'),
    mainThread: field('used_cpu_sys_main_thread') + field('used_cpu_user_main_thread'),
  };
}

/** The phase's commands, less the bench's own INFO and CONFIG. */
async function commandsPerOp(admin: Admin, ops: number): Promise<RedisOpCost['commands']> {
  const commands: RedisOpCost['commands'] = {};
  for (const [name, value] of await serverInfo(admin, 'commandstats')) {
    const command = name.replace(/^cmdstat_/, '');
    if (command === 'info' || command.startsWith('config')) continue;
    const stat = Object.fromEntries(value.split(',').map((pair) => pair.split('=')));
    commands[command] = {
      callsPerOp: Number(stat.calls) / ops,
      usecPerCall: Number(stat.usec_per_call),
    };
  }
  return commands;
}

async function memoryReading(admin: Admin) {
  const memory = await serverInfo(admin, 'memory');
  return {
    usedMemory: Number(memory.get('used_memory')),
    rss: Number(memory.get('used_memory_rss')),
    fragmentation: Number(memory.get('allocator_frag_ratio')),
    keys: Number(await admin.sendCommand(['DBSIZE'])),
  };
}

/** What the keys hold: a sample of session keys, and every index key. */
async function memoryBreakdown(admin: Admin, pool: SessionPool) {
  const keys = new Keys(PREFIX);
  const sample = Array.from({ length: Math.min(1000, pool.size) }, () =>
    keys.session(sessionIdOf(pool.pick())),
  );
  let sessionKeyBytes = 0;
  let sessionValueBytes = 0;
  for (const key of sample) {
    sessionKeyBytes += Number(await admin.sendCommand(['MEMORY', 'USAGE', key, 'SAMPLES', '0']));
    sessionValueBytes += Number(await admin.sendCommand(['STRLEN', key]));
  }
  let indexBytes = 0;
  let expiryEntries = 0;
  let userEntries = 0;
  const encodings: Record<string, number> = {};
  for (const pattern of ['exp:*', 'u:*', 'ud:*']) {
    for (const key of await scanKeys(admin, `${PREFIX}${pattern}`)) {
      indexBytes += Number(await admin.sendCommand(['MEMORY', 'USAGE', key, 'SAMPLES', '0']));
      const entries = Number(await admin.sendCommand(['ZCARD', key]));
      if (pattern === 'exp:*') expiryEntries += entries;
      if (pattern === 'u:*') userEntries += entries;
      const encoding = `${pattern.slice(0, -2)} ${String(await admin.sendCommand(['OBJECT', 'ENCODING', key]))}`;
      encodings[encoding] = (encodings[encoding] ?? 0) + 1;
    }
  }
  return {
    sessionKeyBytes: sessionKeyBytes / sample.length,
    sessionValueBytes: sessionValueBytes / sample.length,
    indexBytes,
    expiryEntries,
    userEntries,
    encodings,
  };
}

async function scanKeys(admin: Admin, pattern: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = (await admin.sendCommand([
      'SCAN',
      cursor,
      'MATCH',
      pattern,
      'COUNT',
      '1000',
    ])) as [string, string[]];
    cursor = String(next);
    found.push(...keys.map(String));
  } while (cursor !== '0');
  return found;
}
