/** A wait that ends after `ms` or at the next `notify()`, whichever is first; a notify while nobody waits ends the next wait at once. */
export class Wakeup {
  #pending = false;
  #wake: (() => void) | undefined;

  wait(ms: number): Promise<void> {
    if (this.#pending) {
      this.#pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.#end(), ms);
      // A background loop must not keep the process alive by itself.
      timer.unref();
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  notify(): void {
    if (this.#wake) this.#end();
    else this.#pending = true;
  }

  #end(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}
