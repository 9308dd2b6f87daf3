import { type ArchiveSink, isExpired, type Session } from '../../core/index.js';
import type { Indexes } from './indexes.js';
import { SHARDS } from './layout.js';

export interface SweepSource {
  readonly indexes: Indexes;
  read(id: string): Promise<Session | null>;
  /** Deletes the session if it is still expired at `now`, and unindexes it. */
  reap(session: Session, now: number): Promise<void>;
}

/**
 * Redis removes a session by itself once its TTL (expiry plus the retention)
 * has passed; a sweep takes the expired ones before that, archives them and
 * deletes them (and unindexes them), and on its way corrects the expiry
 * index: ids whose key is gone are dropped, ids found early (touched since)
 * are re-scored. Without sweeps no session outlives its TTL, but the expiry
 * index keeps the ids of expired sessions, a few dozen bytes each; the user
 * index needs no sweep (its keys expire with their day).
 */
export async function sweepExpired(
  source: SweepSource,
  now: number,
  limit: number,
  archive?: ArchiveSink,
): Promise<Session[]> {
  const expired: Session[] = [];
  // Expired ids stay in the index until reaped, so the next read of a shard skips those taken.
  const taken = new Array<number>(SHARDS).fill(0);
  while (expired.length < limit) {
    const perShard = Math.ceil((limit - expired.length) / SHARDS);
    const pages = await Promise.all(
      taken.map((offset, shard) => source.indexes.expiryCandidates(shard, now, offset, perShard)),
    );
    const candidates = pages.flatMap((ids, shard) => ids.map((id) => ({ id, shard })));
    if (candidates.length === 0) break;
    const sessions = await Promise.all(candidates.map(({ id }) => source.read(id)));
    const corrections: Promise<void>[] = [];
    for (const [i, { id, shard }] of candidates.entries()) {
      const session = sessions[i];
      if (!session) corrections.push(source.indexes.forget(id));
      else if (!isExpired(session, now)) corrections.push(source.indexes.rescoreExpiry(session));
      else if (expired.length < limit) {
        expired.push(session);
        taken[shard] = (taken[shard] ?? 0) + 1;
      }
    }
    await Promise.all(corrections);
  }
  if (archive && expired.length > 0) await archive(expired);
  await Promise.all(expired.map((session) => source.reap(session, now)));
  return expired;
}
