import { type Session, SessionExistsError, type SessionStore } from '../core/index.js';

export interface CopyProgress {
  /** Where to resume: pass it back as `cursor` after an interruption. Null once complete. */
  cursor: string | null;
  copied: number;
  /** Already in the target at the same or a newer version (an earlier, interrupted run). */
  skipped: number;
  /** In the target at an older version and replaced by the source's. */
  refreshed: number;
  /** Read back from the target after writing: every session of the batch, or the copy fails. */
  verified: number;
}

export interface CopyOptions {
  batchSize?: number;
  /** Resume after this cursor (from a previous run's progress). */
  cursor?: string | null;
  clock?: () => number;
  onProgress?: (progress: CopyProgress) => void | Promise<void>;
}

/**
 * Copies every live session from one store to another in batches, while the
 * source keeps serving. Idempotent: a session already in the target is kept
 * when at least as new and replaced when older, so a run can be resumed from
 * its last cursor or simply repeated to catch up before switching stores.
 */
export async function copySessions(
  from: SessionStore,
  to: SessionStore,
  options: CopyOptions = {},
): Promise<CopyProgress> {
  const batchSize = options.batchSize ?? 500;
  const clock = options.clock ?? Date.now;
  const progress: CopyProgress = {
    cursor: options.cursor ?? null,
    copied: 0,
    skipped: 0,
    refreshed: 0,
    verified: 0,
  };
  do {
    const now = clock();
    const page = await from.scan(progress.cursor, batchSize, now);
    for (const session of page.sessions) progress[await copyOne(to, session, now)]++;
    const present = await Promise.all(page.sessions.map((session) => to.get(session.id, now)));
    const lost = page.sessions
      .filter((_, index) => present[index] === null)
      .map((session) => session.id);
    if (lost.length > 0)
      throw new Error(`copy verification failed: ${lost.length} sessions missing in the target`);
    progress.verified += page.sessions.length;
    progress.cursor = page.cursor;
    await options.onProgress?.({ ...progress });
  } while (progress.cursor !== null);
  return progress;
}

async function copyOne(
  to: SessionStore,
  session: Session,
  now: number,
): Promise<'copied' | 'skipped' | 'refreshed'> {
  try {
    await to.create(session);
    return 'copied';
  } catch (error) {
    if (!(error instanceof SessionExistsError)) throw error;
  }
  const existing = await to.get(session.id, now);
  if (existing && existing.version >= session.version) return 'skipped';
  await to.delete(session.id);
  await to.create(session);
  return 'refreshed';
}
