import type { CloudEvent } from './envelope.js';

/**
 * Events arrive at least once: a relay sends a batch again whole after a
 * failure, and a consumer group hands out again an entry whose handler threw
 * or whose consumer died. These helpers keep, in this process, what a
 * handler needs to skip a repeat. A handler whose effect lives in a database
 * keeps the same marks there instead, in the transaction that applies the
 * effect (an `applied_events` table, or the session's last sequence in its
 * row), so that they survive a restart and are shared by a group's consumers.
 */

/** Remembers the last `capacity` event ids seen: a repeat within that window is recognised. */
export class Deduplicator {
  readonly #capacity: number;
  readonly #seen = new Set<string>();

  /** `capacity`: how many ids to remember; the oldest is forgotten first. Default 10,000. */
  constructor(capacity = 10_000) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError('a Deduplicator remembers at least one id');
    this.#capacity = capacity;
  }

  /** Whether `id` was seen before (within the window); remembers it either way. */
  seenBefore(id: string): boolean {
    if (this.#seen.has(id)) return true;
    this.#seen.add(id);
    if (this.#seen.size > this.#capacity) this.#forgetOldest();
    return false;
  }

  /** Forgets `id`, so that its next delivery counts as new: after its handler failed. */
  forget(id: string): void {
    this.#seen.delete(id);
  }

  #forgetOldest(): void {
    const oldest = this.#seen.values().next();
    if (!oldest.done) this.#seen.delete(oldest.value);
  }
}

/**
 * The last sequence applied per session, to apply each session's events
 * only forward: an event whose `data.sequence` is not above the last applied
 * one for its session is a repeat or arrived after a newer one. A session
 * keeps its count across regenerations and rotations while its id changes,
 * so a `session.regenerated` or `session.rotated` event carries the count on
 * from `previousId`. Events of no session (sequence 0) are always new here:
 * deduplicate those by id.
 */
export class SessionSequences {
  readonly #capacity: number;
  readonly #last = new Map<string, number>();

  /** `capacity`: how many sessions to remember; the least recently applied is forgotten first. Default 100,000. */
  constructor(capacity = 100_000) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError('SessionSequences remembers at least one session');
    this.#capacity = capacity;
  }

  /** Whether `event` is newer than what was applied for its session. */
  isNew(event: CloudEvent): boolean {
    const { sessionId, sequence } = event.data;
    if (sessionId === null) return true;
    return sequence > this.#lastOf(sessionId, event);
  }

  /** Records `event` as applied; call it once its effect is done. */
  markApplied(event: CloudEvent): void {
    const { sessionId, sequence } = event.data;
    if (sessionId === null) return;
    const last = Math.max(sequence, this.#lastOf(sessionId, event));
    this.#last.delete(sessionId);
    this.#last.set(sessionId, last);
    if (this.#last.size > this.#capacity) {
      const oldest = this.#last.keys().next();
      if (!oldest.done) this.#last.delete(oldest.value);
    }
  }

  #lastOf(sessionId: string, event: CloudEvent): number {
    const own = this.#last.get(sessionId);
    if (own !== undefined) return own;
    const previousId = event.data.previousId;
    return typeof previousId === 'string' ? (this.#last.get(previousId) ?? 0) : 0;
  }
}
