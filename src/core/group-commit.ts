import { SessionNotFoundError, StoreUnavailableError } from './errors.js';
import type { PatchOperation } from './patch.js';
import { isExpired, type Session } from './session.js';
import { updatedSession } from './session-update.js';
import type { UpdateOptions } from './store.js';

/** One caller's update of a session, as `SessionStore.update` received it. */
export interface QueuedUpdate {
  readonly ops: readonly PatchOperation[];
  readonly options: UpdateOptions;
}

/** What one update of a batch came to: the session right after it, or the error it alone gets. */
export type UpdateOutcome = { session: Session } | { error: unknown };

/**
 * Writes a batch of updates of one session, in one step on the store, and
 * returns each one's outcome in order. Throws when it could not write, in
 * which case every update of the batch fails with that error.
 */
export type CommitBatch = (id: string, batch: readonly QueuedUpdate[]) => Promise<UpdateOutcome[]>;

export interface GroupCommitLimits {
  /** The longest an update waits behind others of its session, in ms, before it fails unrun. */
  maxWait: number;
  /** The most updates written together. */
  maxBatch: number;
}

/**
 * The wait is PostgreSQL's default lock wait. The batch is more than a server
 * usually has in flight on one session, and small enough that applying it
 * (every patch encoded, for its size check) holds the event loop only briefly.
 */
export const GROUP_COMMIT_LIMITS: GroupCommitLimits = { maxWait: 5000, maxBatch: 64 };

interface Waiting extends QueuedUpdate {
  readonly queuedAt: number;
  resolve(session: Session): void;
  reject(error: unknown): void;
}

/**
 * Group commit of the updates of one session within a process. An update
 * starts at once when its session has none in flight; the ones that arrive
 * meanwhile queue, and when the write in flight settles they go together, up
 * to `maxBatch`, in one batch. A store that pays round trips per update (a
 * read and a compare-and-set, or a transaction) pays them once per batch, and
 * a hot session's writers stop queueing for their turn one by one.
 *
 * A queue must not turn one outage into a wait of one timeout per update, so
 * an update fails with StoreUnavailableError, without running, when the
 * batch before it found the store unavailable or when its batch starts more
 * than `maxWait` ms after it was queued.
 */
export class GroupCommit {
  readonly #commit: CommitBatch;
  readonly #limits: GroupCommitLimits;
  /** Per session with a batch in flight, the updates queued behind it. */
  readonly #queues = new Map<string, Waiting[]>();

  constructor(commit: CommitBatch, limits: GroupCommitLimits = GROUP_COMMIT_LIMITS) {
    this.#commit = commit;
    this.#limits = limits;
  }

  update(id: string, ops: readonly PatchOperation[], options: UpdateOptions): Promise<Session> {
    return new Promise((resolve, reject) => {
      const waiting: Waiting = { ops, options, queuedAt: Date.now(), resolve, reject };
      const queue = this.#queues.get(id);
      if (queue) {
        queue.push(waiting);
        return;
      }
      this.#queues.set(id, []);
      void this.#run(id, [waiting]);
    });
  }

  async #run(id: string, first: Waiting[]): Promise<void> {
    const queue = this.#queues.get(id) as Waiting[];
    for (let batch = first; batch.length > 0; batch = this.#nextBatch(queue)) {
      if (await this.#settle(id, batch)) failQueued(queue);
    }
    this.#queues.delete(id);
  }

  /** Commits the batch and settles its callers; true if the store was unavailable. */
  async #settle(id: string, batch: readonly Waiting[]): Promise<boolean> {
    let outcomes: UpdateOutcome[];
    try {
      outcomes = await this.#commit(id, batch);
    } catch (error) {
      for (const waiting of batch) waiting.reject(error);
      return error instanceof StoreUnavailableError;
    }
    for (const [i, waiting] of batch.entries()) {
      const outcome = outcomes[i] as UpdateOutcome;
      if ('session' in outcome) waiting.resolve(outcome.session);
      else waiting.reject(outcome.error);
    }
    return false;
  }

  /** The next updates of the queue, up to `maxBatch`, failing those that waited too long. */
  #nextBatch(queue: Waiting[]): Waiting[] {
    const { maxWait, maxBatch } = this.#limits;
    const now = Date.now();
    const batch: Waiting[] = [];
    while (batch.length < maxBatch) {
      const waiting = queue.shift();
      if (!waiting) break;
      if (now - waiting.queuedAt <= maxWait) batch.push(waiting);
      else
        waiting.reject(
          new StoreUnavailableError(
            `waited over ${maxWait} ms behind other updates of this session; nothing was written`,
          ),
        );
    }
    return batch;
  }
}

function failQueued(queue: Waiting[]): void {
  for (const waiting of queue.splice(0))
    waiting.reject(
      new StoreUnavailableError(
        'the update queued before this one found the store unavailable; nothing was written',
      ),
    );
}

/**
 * The clock to read a batch's record at: the earliest in the batch, since a
 * record live at the clock of whichever update applies first is live then too.
 */
export function readClock(batch: readonly QueuedUpdate[]): number {
  return Math.min(...batch.map(({ options }) => options.now));
}

export interface AppliedBatch<Encoded> {
  /** One per update, in order. */
  outcomes: UpdateOutcome[];
  /** The session after the last update that applied, and its encoding; null if none applied. */
  written: { session: Session; encoded: Encoded } | null;
}

/**
 * Applies a batch to the stored record one update after another, exactly as
 * if each were its own `update`: each is checked against the session as the
 * ones before it left it (live at its own clock, its `expectedVersion`, its
 * patch, its encoded size, by `encode`), gets its own version, and a failing
 * one gets its own error and changes nothing for the rest.
 */
export function applyInOrder<Encoded>(
  stored: Session | null,
  batch: readonly QueuedUpdate[],
  encode: (session: Session) => Encoded,
): AppliedBatch<Encoded> {
  let current = stored;
  let written: AppliedBatch<Encoded>['written'] = null;
  const outcomes = batch.map(({ ops, options }): UpdateOutcome => {
    try {
      if (!current || isExpired(current, options.now)) throw new SessionNotFoundError();
      const session = updatedSession(current, ops, options);
      written = { session, encoded: encode(session) };
      current = session;
      return { session };
    } catch (error) {
      return { error };
    }
  });
  return { outcomes, written };
}
