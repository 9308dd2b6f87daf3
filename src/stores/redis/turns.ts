import { StoreUnavailableError } from '../../core/index.js';

/**
 * Takes turns per key inside one process: a task for a key starts once the
 * tasks queued before it for that key have settled; tasks for other keys do
 * not wait. A task whose turn comes more than `maxWait` ms after it was
 * queued fails with StoreUnavailableError without running, so a queue behind
 * a store that stopped answering drains at once instead of one timeout at a time.
 */
export class Turns {
  readonly #maxWait: number;
  readonly #tails = new Map<string, Promise<void>>();

  constructor(maxWait: number) {
    this.#maxWait = maxWait;
  }

  take<T>(key: string, task: () => Promise<T>): Promise<T> {
    const queuedAt = Date.now();
    const previous = this.#tails.get(key);
    const turn = async () => {
      if (previous !== undefined && Date.now() - queuedAt > this.#maxWait)
        throw new StoreUnavailableError(
          `waited over ${this.#maxWait} ms behind other updates of this session; nothing was written`,
        );
      return task();
    };
    const result = previous === undefined ? turn() : previous.then(turn);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.#tails.set(key, tail);
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return result;
  }
}
