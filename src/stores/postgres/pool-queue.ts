import { StoreBusyError } from '../../core/index.js';

export interface PoolQueueLimits {
  /** Connections handed out at once: the pool's size. */
  slots: number;
  /** Requests that may wait for a connection; one more is refused at once. */
  maxWaiting: number;
  /** The longest a request waits for a connection, in ms. */
  maxWait: number;
}

interface Waiter {
  grant(): void;
}

/**
 * The wait for a connection of a pool, in arrival order, bounded in length
 * and in time. pg's own queue is bounded by `connectionTimeoutMillis`, the
 * same bound as opening a connection, so a burst on a healthy server would
 * read as "unavailable". Handing out no more slots than the pool has
 * connections, this keeps pg from ever queueing: its timeout bounds only
 * connecting, and a request refused here is StoreBusyError.
 */
export class PoolQueue {
  readonly #limits: PoolQueueLimits;
  readonly #server: string;
  readonly #waiters: Waiter[] = [];
  #free: number;

  /** `server` names the pool in errors, such as `PostgreSQL at db:5432 (sessions)`. */
  constructor(limits: PoolQueueLimits, server: string) {
    this.#limits = limits;
    this.#server = server;
    this.#free = limits.slots;
  }

  /** Requests waiting for a connection now. */
  get waiting(): number {
    return this.#waiters.length;
  }

  /** Resolves with a slot's release (which may be called more than once), or fails with StoreBusyError. */
  async acquire(): Promise<() => void> {
    if (this.#free > 0) {
      this.#free--;
      return this.#releaser();
    }
    const { maxWaiting, maxWait, slots } = this.#limits;
    if (this.#waiters.length >= maxWaiting)
      throw new StoreBusyError(
        `${this.#server} is busy: ${maxWaiting} requests already wait for one of its ${slots} connections`,
      );
    await new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        grant() {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        reject(
          new StoreBusyError(
            `${this.#server} is busy: no connection of its ${slots} was free within ${maxWait} ms`,
          ),
        );
      }, maxWait);
      this.#waiters.push(waiter);
    });
    return this.#releaser();
  }

  #releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiters.shift();
      if (next) next.grant();
      else this.#free++;
    };
  }
}
