import type { Session } from './session.js';

export interface SessionEvents {
  created: { session: Session };
  updated: { session: Session; previousVersion: number };
  regenerated: { session: Session; previousId: string };
  /** `reason` is set when the session was not asked to end: `'evicted'` by `maxSessionsPerUser`. */
  revoked: { sessionId: string; userId: string | null; reason?: 'evicted' };
  expired: { session: Session };
  /** A listener threw, or a background touch failed; the request path is never affected. */
  error: { error: unknown };
}

export type SessionEventName = keyof SessionEvents;
type Listener<K extends SessionEventName> = (event: SessionEvents[K]) => void;

/**
 * A small typed emitter. Listeners run synchronously after the store write
 * succeeded; an exception in one is reported as an `error` event and never
 * reaches the caller whose request caused the event.
 */
export class SessionEventEmitter {
  readonly #listeners = new Map<SessionEventName, Set<Listener<never>>>();

  on<K extends SessionEventName>(name: K, listener: Listener<K>): () => void {
    const set = this.#listeners.get(name) ?? new Set();
    this.#listeners.set(name, set.add(listener as Listener<never>));
    return () => this.off(name, listener);
  }

  off<K extends SessionEventName>(name: K, listener: Listener<K>): void {
    this.#listeners.get(name)?.delete(listener as Listener<never>);
  }

  emit<K extends SessionEventName>(name: K, event: SessionEvents[K]): void {
    for (const listener of this.#listeners.get(name) ?? []) {
      try {
        (listener as Listener<K>)(event);
      } catch (error) {
        if (name === 'error')
          process.emitWarning(`clawsession error listener threw: ${String(error)}`);
        else this.emit('error', { error });
      }
    }
    if (name === 'error' && !this.#listeners.get('error')?.size) {
      process.emitWarning(`clawsession: ${String((event as SessionEvents['error']).error)}`);
    }
  }
}
