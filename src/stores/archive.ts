import { appendFile, mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { ArchiveSink, Session } from '../core/index.js';

export interface GzipJsonlArchiveOptions {
  /** Folder for the archive files; created if missing. */
  directory: string;
  /** Name of the day's file from the archive time; default `sessions-YYYY-MM-DD.jsonl.gz` (UTC). */
  fileName?: (archivedAt: Date) => string;
  clock?: () => number;
}

/**
 * A cold tier for audit: each batch handed over by a sweep is appended to the
 * day's file as one gzip member (concatenated members are one valid gzip
 * stream, so `zcat` and `gunzip` read the whole file) and fsynced before the
 * sweep deletes anything. One JSON object per line:
 * `{ "id", "userId", "data", "version", "createdAt", "lastActiveAt",
 *    "idleExpiresAt", "absoluteExpiresAt", "ip", "userAgent", "archivedAt" }`
 * with every time as ISO 8601 and Dates inside `data` as ISO strings.
 */
export function gzipJsonlArchive(options: GzipJsonlArchiveOptions): ArchiveSink {
  const clock = options.clock ?? Date.now;
  const fileName =
    options.fileName ?? ((at: Date) => `sessions-${at.toISOString().slice(0, 10)}.jsonl.gz`);
  let ready: Promise<unknown> | undefined;
  return async (sessions) => {
    ready ??= mkdir(options.directory, { recursive: true });
    await ready;
    const archivedAt = new Date(clock());
    const lines = sessions.map((session) => archiveLine(session, archivedAt));
    await appendGzipJsonl(join(options.directory, fileName(archivedAt)), lines);
  };
}

/**
 * Appends `lines` as JSON Lines to the file at `path` in one gzip member
 * (concatenated members are one valid gzip stream), fsynced before it
 * resolves, so what was handed over is on disk before its source is deleted.
 */
export async function appendGzipJsonl(path: string, lines: readonly unknown[]): Promise<void> {
  await appendFile(path, gzipSync(lines.map((line) => `${JSON.stringify(line)}\n`).join('')));
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function archiveLine(session: Session, archivedAt: Date) {
  const iso = (ms: number) => new Date(ms).toISOString();
  return {
    id: session.id,
    userId: session.userId,
    data: session.data,
    version: session.version,
    createdAt: iso(session.createdAt),
    lastActiveAt: iso(session.lastActiveAt),
    idleExpiresAt: iso(session.idleExpiresAt),
    absoluteExpiresAt: iso(session.absoluteExpiresAt),
    tokenIssuedAt: iso(session.tokenIssuedAt),
    ip: session.ip,
    userAgent: session.userAgent,
    archivedAt: archivedAt.toISOString(),
  };
}
