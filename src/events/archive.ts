import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { appendGzipJsonl } from '../stores/index.js';
import { toCloudEvent } from './envelope.js';
import type { OutboxArchive } from './retention.js';

export interface GzipJsonlEventArchiveOptions {
  /** Folder for the archive files; created if missing. */
  directory: string;
  /** Name of the day's file from the archive time; default `events-YYYY-MM-DD.jsonl.gz` (UTC). */
  fileName?: (archivedAt: Date) => string;
  clock?: () => number;
}

/**
 * The audit log's cold tier: the events retention removes from the outbox,
 * appended to the day's gzip JSON Lines file (one CloudEvent per line, as the
 * brokers and `GET /admin/audit` show them, so without the replay payload)
 * and fsynced before the relay removes them. `zcat events-*.jsonl.gz | jq`
 * reads them.
 */
export function gzipJsonlEventArchive(options: GzipJsonlEventArchiveOptions): OutboxArchive {
  const clock = options.clock ?? Date.now;
  const fileName =
    options.fileName ?? ((at: Date) => `events-${at.toISOString().slice(0, 10)}.jsonl.gz`);
  let ready: Promise<unknown> | undefined;
  return async (records) => {
    if (records.length === 0) return;
    ready ??= mkdir(options.directory, { recursive: true });
    await ready;
    const path = join(options.directory, fileName(new Date(clock())));
    await appendGzipJsonl(path, records.map(toCloudEvent));
  };
}
