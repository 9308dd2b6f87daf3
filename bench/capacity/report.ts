import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { createCodec } from '../../src/core/index.js';
import { commandOutput, machine, packageVersion } from '../report.js';
import type { PostgresOpCost, PostgresResult, PostgresStorage } from './postgres.js';
import { busyBetween, type MachineReading, machineReading } from './process-cpu.js';
import type { RedisOpCost, RedisResult } from './redis.js';
import { referenceSession } from './reference.js';
import type { Settings } from './settings.js';
import { type Mix, mixAverage } from './workload.js';

export interface Measurements {
  settings: Settings;
  redis?: RedisResult;
  postgres?: PostgresResult;
}

/** The reference session's sizes before any store sees it. */
function referenceSizes() {
  const { userId, data, ip, userAgent } = referenceSession(0);
  return {
    userId,
    // As text: the results file then stays as the formatter writes it (it folds short arrays).
    dataJson: JSON.stringify(data),
    ip,
    userAgent,
    dataJsonBytes: Buffer.byteLength(JSON.stringify(data)),
    dataCodecBytes: createCodec().encode('0'.repeat(64), data ?? {}).byteLength,
  };
}

/** Writes bench/results/capacity.json (everything) and capacity.md (the tables), and returns the markdown. */
export function writeReport(measured: Measurements, start: MachineReading): string {
  const date = new Date().toISOString();
  const { mix: _, ...settings } = measured.settings;
  const report = {
    date,
    command: 'npm run bench:capacity',
    machine: {
      ...machine(),
      loadAverage1m: { start: start.loadAverage, end: loadavg()[0] },
      /** Share of both cores busy over the run, everyone's work included: the bench ran beside it. */
      busyShare: busyBetween(start, machineReading()),
    },
    versions: {
      node: process.version,
      clawsession: packageVersion('../'),
      redis: commandOutput('redis-server', ['--version']),
      postgres: measured.postgres?.server,
    },
    settings: { ...settings, mixShares: measured.settings.mix },
    reference: referenceSizes(),
    redis: measured.redis && {
      ...measured.redis,
      mixFromPerKind: redisMixAverage(measured.settings.mix, measured.redis),
    },
    postgres: measured.postgres && {
      ...measured.postgres,
      mixFromPerKind: postgresMixAverage(measured.settings.mix, measured.postgres),
    },
  };
  const results = new URL('../results/', import.meta.url);
  mkdirSync(results, { recursive: true });
  writeFileSync(new URL('capacity.json', results), `${JSON.stringify(report, null, 2)}\n`);
  const markdown = [
    `Measured ${date.slice(0, 10)} with \`npm run bench:capacity\` on ${report.machine.cpus} × ${report.machine.cpu}, ${report.machine.memoryGiB} GiB, Node ${process.version}, both cores ${Math.round(report.machine.busyShare * 100)}% busy over the run, others' work included (provisional). ${settings.sessions.toLocaleString('en-US')} reference sessions (${report.reference.dataCodecBytes} bytes of data as stored, ${report.reference.dataJsonBytes} as JSON), ${settings.concurrency} operations in flight, ${settings.seconds} s per timed phase, mix ${settings.mixText}.`,
    '',
    ...(measured.redis ? redisTables(measured.redis, measured.settings) : []),
    ...(measured.postgres ? postgresTables(measured.postgres, measured.settings) : []),
  ].join('\n');
  writeFileSync(new URL('capacity.md', results), `${markdown}\n`);
  return markdown;
}

const integer = (value: number) => Math.round(value).toLocaleString('en-US');
const fixed = (value: number, digits = 1) => value.toFixed(digits);

function commandList(cost: RedisOpCost): string {
  return Object.entries(cost.commands)
    .filter(([, { callsPerOp }]) => callsPerOp >= 0.05)
    .sort(([, a], [, b]) => b.callsPerOp - a.callsPerOp)
    .map(([name, { callsPerOp }]) => `${fixed(callsPerOp, 1)} ${name}`)
    .join(', ');
}

/** The mix's cost per operation as the per-kind phases predict it, to set beside the measured mix. */
function redisMixAverage(mix: Mix, redis: RedisResult) {
  const mainThreadCpuMicrosPerOp = mixAverage(
    mix,
    (kind) => redis.costs[kind]?.mainThreadCpuMicrosPerOp,
  );
  return { mainThreadCpuMicrosPerOp, opsPerShardCore: 1e6 / mainThreadCpuMicrosPerOp };
}

function postgresMixAverage(mix: Mix, postgres: PostgresResult) {
  const cost = (kind: keyof PostgresResult['costs']) => postgres.costs[kind];
  const cpuMicrosPerOp = mixAverage(mix, (kind) => {
    const phase = cost(kind);
    return phase && phase.backendCpuMicrosPerOp + phase.backgroundCpuMicrosPerOp;
  });
  return {
    cpuMicrosPerOp,
    opsPerCore: 1e6 / cpuMicrosPerOp,
    // Records only: how many page images a phase logs depends on when the last checkpoint was.
    walRecordBytesPerOp: mixAverage(mix, (kind) => cost(kind)?.wal?.recordBytesPerOp),
  };
}

function redisTables(redis: RedisResult, settings: Settings): string[] {
  const rows = Object.entries(redis.costs).map(
    ([kind, cost]) =>
      `| ${kind} | ${integer(cost.ops)} | ${fixed(cost.serverCpuMicrosPerOp)} | ${fixed(cost.mainThreadCpuMicrosPerOp)} | ${integer(cost.opsPerShardCore)} | ${fixed(cost.clientCpuMicrosPerOp)} | ${commandList(cost)} |`,
  );
  const predicted = redisMixAverage(settings.mix, redis);
  const m = redis.memory;
  return [
    `### Redis: ${redis.server}, one shard`,
    '',
    "| operation | ops | server CPU µs/op | main thread µs/op | ops/s per shard core | client CPU µs/op | commands per op (scripts' inner commands included) |",
    '| --- | ---: | ---: | ---: | ---: | ---: | --- |',
    ...rows,
    `| mix, from the per-kind rows | | | ${fixed(predicted.mainThreadCpuMicrosPerOp)} | ${integer(predicted.opsPerShardCore)} | | |`,
    '',
    '| memory per session | bytes |',
    '| --- | ---: |',
    `| used_memory delta ÷ sessions | **${fixed(m.usedMemoryBytesPerSession)}** |`,
    `| used_memory_rss delta ÷ sessions | ${fixed(m.rssBytesPerSession)} |`,
    `| session key, MEMORY USAGE (value ${fixed(m.sessionValueBytes)} bytes) | ${fixed(m.sessionKeyBytes)} |`,
    `| index keys, MEMORY USAGE ÷ sessions (${fixed(m.indexEntriesPerSession.expiry, 2)} expiry + ${fixed(m.indexEntriesPerSession.user, 2)} user entries; ${Object.entries(
      m.indexEncodings,
    )
      .map(([encoding, count]) => `${count} ${encoding}`)
      .join(', ')}) | ${fixed(m.indexBytesPerSession)} |`,
    `| the rest: dict buckets, expires entry | ${fixed(m.otherBytesPerSession)} |`,
    `| keys per session | ${fixed(m.keysPerSession, 3)} |`,
    `| allocator fragmentation, fresh → after the updates and the mix | ${fixed(m.fragmentation.populated, 2)} → ${fixed(m.fragmentation.afterUpdates, 2)} |`,
    `| left after revoking them all | ${integer(m.residualBytesAfterRevoke)} bytes in all |`,
    '',
  ];
}

function postgresTables(postgres: PostgresResult, settings: Settings): string[] {
  const row = (kind: string, cost: PostgresOpCost) =>
    `| ${kind} | ${integer(cost.ops)} | ${fixed(cost.backendCpuMicrosPerOp)} | ${fixed(cost.backgroundCpuMicrosPerOp)} | ${integer(cost.opsPerCore)} | ${fixed(cost.clientCpuMicrosPerOp)} | ${cost.wal ? `${integer(cost.wal.bytesPerOp)} | ${integer(cost.wal.recordBytesPerOp)} + ${integer(cost.wal.fpiBytesPerOp)} | ${fixed(cost.wal.recordsPerOp)} | ${fixed(cost.wal.fpisPerOp, 2)}` : 'n/a | n/a | n/a | n/a'} | ${integer(cost.serverWalBytesPerOp)} | ${cost.othersActive} |`;
  const header = [
    '| operation | ops | backend CPU µs/op | background CPU µs/op | ops/s per core | client CPU µs/op | WAL bytes/op | records + page images | WAL records/op | page images/op | server-wide WAL bytes/op | others active |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  const predicted = postgresMixAverage(settings.mix, postgres);
  const storageRow = (when: string, s: PostgresStorage) =>
    `| ${when} | ${integer(s.rows)} | ${fixed(s.heapBytes / s.rows)} | ${Object.entries(
      s.indexBytes,
    )
      .map(
        ([name, bytes]) =>
          `${name.replace(/^clawsession_sessions_?/, '') || 'pkey'} ${fixed(bytes / s.rows)}`,
      )
      .join(
        ', ',
      )} | ${fixed(s.toastAndMapsBytes / s.rows)} | **${fixed(s.bytesPerRow)}** | ${fixed(s.avgTupleBytes)} | ${fixed(s.avgDataBytes)} |`;
  return [
    `### PostgreSQL ${postgres.server} (${Object.entries(postgres.settings)
      .map(([name, value]) => `${name}=${value}`)
      .join(', ')})`,
    '',
    "WAL bytes are this schema's records (pg_waldump, padding left out); server-wide is the LSN delta, everyone's writes included.",
    '',
    ...header,
    ...Object.entries(postgres.costs).map(([kind, cost]) => row(kind, cost)),
    `| mix, from the per-kind rows | | ${fixed(predicted.cpuMicrosPerOp)} (with background) | | ${integer(predicted.opsPerCore)} | | | ${integer(predicted.walRecordBytesPerOp)} + page images | | | | |`,
    '',
    'Each write kind right after a `CHECKPOINT`, so that the first change to each page logs the whole page:',
    '',
    ...header,
    ...Object.entries(postgres.cold).map(([kind, cost]) => row(kind, cost)),
    ...(postgres.walUnreadable ? ['', `The WAL could not be read: ${postgres.walUnreadable}`] : []),
    '',
    '| table | rows | heap bytes/row | index bytes/row | toast+maps bytes/row | total bytes/row | tuple bytes | data bytes |',
    '| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |',
    storageRow('after the creates', postgres.storage.afterCreate),
    storageRow('after the timed updates (dead tuples, no vacuum)', postgres.storage.afterUpdates),
  ];
}
