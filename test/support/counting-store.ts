import type { SessionStore } from '../../src/core/index.js';

/** Wraps a real store and counts the calls to each method, for tests about how often a layer asks its store. */
export function countingStore<T extends SessionStore>(
  store: T,
): { store: T; calls: Record<string, number> } {
  const calls: Record<string, number> = {};
  const proxy = new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver === proxy ? target : receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls[String(property)] = (calls[String(property)] ?? 0) + 1;
        return value.apply(target, args);
      };
    },
  });
  return { store: proxy, calls };
}
