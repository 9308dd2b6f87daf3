import type { Outcome } from './http-client.js';
import { appendToCart } from './sessions-api.js';

/** One append the load made: which session, which item, in which phase it was sent, and how it ended. */
export interface Append<Phase extends string> {
  sessionId: string;
  item: string;
  phase: Phase;
  outcome: Outcome;
}

export interface AppendLoad<Phase extends string> {
  appends: Append<Phase>[];
  /** Items each session acknowledged (2xx). */
  acknowledged(): Map<string, string[]>;
  /** Stops issuing and resolves once every request in flight has ended. */
  stop(): Promise<void>;
}

/**
 * Keeps `workers` requests in flight appending unique items to the carts of
 * `sessionIds` through `base`, until stopped or `maxRequests` were sent. Each
 * append is tagged with `phase()` as it was when the request was sent, and
 * bounded by `timeoutMs`.
 */
export function startAppendLoad<Phase extends string>(options: {
  base: string;
  sessionIds: readonly string[];
  workers: number;
  maxRequests: number;
  timeoutMs: number;
  phase: () => Phase;
}): AppendLoad<Phase> {
  const appends: Append<Phase>[] = [];
  let sent = 0;
  let stopped = false;
  const worker = async () => {
    while (!stopped && sent < options.maxRequests) {
      const n = sent++;
      const sessionId = options.sessionIds[n % options.sessionIds.length] as string;
      const item = `item-${n}`;
      const phase = options.phase();
      const outcome = await appendToCart(options.base, sessionId, item, options.timeoutMs);
      appends.push({ sessionId, item, phase, outcome });
    }
  };
  const running = Promise.all(Array.from({ length: options.workers }, worker));
  return {
    appends,
    acknowledged() {
      const bySession = new Map<string, string[]>();
      for (const append of appends) {
        if (append.outcome.kind !== 'response' || append.outcome.status >= 300) continue;
        bySession.set(append.sessionId, [...(bySession.get(append.sessionId) ?? []), append.item]);
      }
      return bySession;
    },
    async stop() {
      stopped = true;
      await running;
    },
  };
}
