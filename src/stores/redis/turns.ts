import { StoreUnavailableError } from '../../core/index.js';

/**
 * Takes turns per key inside one process: a task for a key starts once the
 * tasks queued before it for that key have settled; tasks for other keys do
 * not wait. A queue must not turn one outage into a wait of one timeout per
 * task, so a task fails with StoreUnavailableError, without running, when
 * the task before it found the store unavailable or when its turn comes more
 * than `maxWait` ms after it was queued.
 */
export class Turns {
  readonly #maxWait: number;
  /** Per key, the last task queued: settles true when it found the store unavailable. */
  readonly #tails = new Map<string, Promise<boolean>>();

  constructor(maxWait: number) {
    this.#maxWait = maxWait;
  }

  take<T>(key: string, task: () => Promise<T>): Promise<T> {
    const queuedAt = Date.now();
    const previous = this.#tails.get(key);
    const turn = async (previousUnavailable: boolean) => {
      if (previousUnavailable)
        throw new StoreUnavailableError(
          'the update queued before this one found the store unavailable; nothing was written',
        );
      if (Date.now() - queuedAt > this.#maxWait)
        throw new StoreUnavailableError(
          `waited over ${this.#maxWait} ms behind other updates of this session; nothing was written`,
        );
      return task();
    };
    const result = previous === undefined ? task() : previous.then(turn);
    const tail = result.then(
      () => false,
      (error: unknown) => error instanceof StoreUnavailableError,
    );
    this.#tails.set(key, tail);
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return result;
  }
}
