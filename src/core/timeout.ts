import { setMaxListeners } from 'node:events';

/** `work`'s outcome, or a rejection with `timeoutError()` once `ms` have passed without one. */
export async function withTimeout<T>(
  work: Promise<T>,
  ms: number,
  timeoutError: () => Error,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(timeoutError()), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** The waits that began within one slice of time: they share a deadline and a signal. */
interface Slice {
  readonly began: number;
  readonly controller: AbortController;
  readonly expiries: Set<() => void>;
}

/**
 * Bounds many waits of one length with a timer and an AbortSignal per slice
 * of time, where `withTimeout` starts and clears a timer and races two
 * promises for each wait: on a hot path (every store command) that costs
 * more than the command's own bookkeeping. The waits that begin within one
 * slice (a tenth of the limit) all time out together, at the limit counted
 * from the first of them: each wait lasts at most the limit, and at least
 * nine tenths of it.
 *
 * The signal, which aborts when its wait times out, is handed out only while
 * waits are timing out: from the end of a slice in which one did until the
 * end of one in which none did. Listening to a signal costs a command more
 * than the deadline itself, and while all is well nothing needs it.
 */
export class Deadline {
  readonly #ms: number;
  readonly #sliceMs: number;
  #open: Slice | undefined;
  #timingOut = false;

  constructor(ms: number) {
    this.#ms = ms;
    this.#sliceMs = ms / 10;
  }

  /**
   * `start(signal)`'s outcome, or a rejection with `timeoutError()` once the
   * limit has passed without one. `signal`, when given, aborts at that
   * moment, so that what `start` began can be dropped too.
   */
  bound<T>(
    start: (signal: AbortSignal | undefined) => Promise<T>,
    timeoutError: () => Error,
  ): Promise<T> {
    const slice = this.#slice();
    const signal = this.#timingOut ? slice.controller.signal : undefined;
    return new Promise<T>((resolve, reject) => {
      const expire = () => reject(timeoutError());
      slice.expiries.add(expire);
      start(signal).then(
        (value) => {
          slice.expiries.delete(expire);
          resolve(value);
        },
        (error: unknown) => {
          slice.expiries.delete(expire);
          reject(error);
        },
      );
    });
  }

  #slice(): Slice {
    const now = performance.now();
    const open = this.#open;
    if (open && now - open.began < this.#sliceMs) return open;
    const slice: Slice = { began: now, controller: new AbortController(), expiries: new Set() };
    // Everything started in a slice may listen to its signal.
    setMaxListeners(0, slice.controller.signal);
    // Unref'd: a wait keeps the process alive by what it waits for, not by its deadline.
    setTimeout(() => this.#expire(slice), this.#ms).unref();
    this.#open = slice;
    return slice;
  }

  /** Slices end in the order they began, so the last to end says whether waits are timing out. */
  #expire(slice: Slice): void {
    if (this.#open === slice) this.#open = undefined;
    this.#timingOut = slice.expiries.size > 0;
    for (const expire of slice.expiries) expire();
    slice.controller.abort();
  }
}
