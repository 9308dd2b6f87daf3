import { type SessionManager, SessionNotFoundError } from '../../src/core/index.js';
import { CART_APPEND, referenceSession } from './reference.js';

export const OP_KINDS = ['create', 'get', 'patch', 'touch', 'revoke'] as const;
export type OpKind = (typeof OP_KINDS)[number];

/** The tokens of the live sessions a bench works on: picked at random, removed in constant time. */
export class SessionPool {
  readonly #tokens: string[] = [];

  get size(): number {
    return this.#tokens.length;
  }

  add(token: string): void {
    this.#tokens.push(token);
  }

  pick(): string {
    const token = this.#tokens[Math.floor(Math.random() * this.#tokens.length)];
    if (token === undefined) throw new Error('the session pool is empty');
    return token;
  }

  /** Removes a random token (swapping the last one into its place) and returns it. */
  take(): string {
    const at = Math.floor(Math.random() * this.#tokens.length);
    const token = this.#tokens[at];
    const last = this.#tokens.pop();
    if (token === undefined || last === undefined) throw new Error('the session pool is empty');
    if (at < this.#tokens.length) this.#tokens[at] = last;
    return token;
  }
}

/**
 * One call of each operation kind through the SessionManager, on a random
 * session of the pool. A patch or touch may meet a session the mix revoked
 * meanwhile; that is a miss the mix allows, not a failure.
 */
export function sessionOps(
  manager: SessionManager,
  pool: SessionPool,
): Record<OpKind, () => Promise<void>> {
  let created = 0;
  return {
    create: async () => {
      pool.add((await manager.create(referenceSession(created++))).token);
    },
    get: async () => {
      await manager.get(pool.pick());
    },
    patch: async () => {
      await manager.patch(pool.pick(), CART_APPEND).catch(ignoreMissing);
    },
    touch: async () => {
      await manager.touch(pool.pick());
    },
    revoke: async () => {
      await manager.revoke(pool.take());
    },
  };
}

function ignoreMissing(error: unknown): void {
  if (!(error instanceof SessionNotFoundError)) throw error;
}

export type Mix = Partial<Record<OpKind, number>>;

/** `get:90,patch:9,create:0.5,revoke:0.5` → shares that add up to 1. */
export function parseMix(text: string): Mix {
  const mix: Mix = {};
  for (const part of text.split(',')) {
    const [kind, weight] = part.split(':');
    if (!OP_KINDS.includes(kind as OpKind) || !(Number(weight) >= 0))
      throw new Error(`bad mix entry ${JSON.stringify(part)}: use ${OP_KINDS.join('|')}:<weight>`);
    mix[kind as OpKind] = Number(weight);
  }
  const total = Object.values(mix).reduce((sum, weight) => sum + weight, 0);
  if (!(total > 0)) throw new Error('a mix needs a positive weight');
  for (const kind of OP_KINDS) if (mix[kind] !== undefined) mix[kind] = (mix[kind] ?? 0) / total;
  return mix;
}

/** One operation drawn from the mix. */
export function mixedOp(mix: Mix, ops: Record<OpKind, () => Promise<void>>): () => Promise<void> {
  const cumulative: [number, () => Promise<void>][] = [];
  let sum = 0;
  for (const kind of OP_KINDS) {
    const share = mix[kind];
    if (!share) continue;
    sum += share;
    cumulative.push([sum, ops[kind]]);
  }
  return () => {
    const draw = Math.random() * sum;
    const [, op] = cumulative.find(([upTo]) => draw < upTo) ?? (cumulative.at(-1) as never);
    return op();
  };
}

/** What one operation of the mix costs on average, from what each kind costs. */
export function mixAverage(mix: Mix, perKind: (kind: OpKind) => number | undefined): number {
  let average = 0;
  for (const kind of OP_KINDS) if (mix[kind]) average += (mix[kind] ?? 0) * (perKind(kind) ?? NaN);
  return average;
}

export interface Run {
  ops: number;
  seconds: number;
}

/** `op` from `concurrency` callers at once, each starting the next as its last ends, for `seconds`. */
export function runFor(
  seconds: number,
  concurrency: number,
  op: () => Promise<void>,
): Promise<Run> {
  const deadline = performance.now() + seconds * 1000;
  return drive(concurrency, () => performance.now() < deadline, op);
}

/** `op` exactly `count` times, `concurrency` at once. */
export function runCount(
  count: number,
  concurrency: number,
  op: () => Promise<void>,
): Promise<Run> {
  return drive(concurrency, (started) => started < count, op);
}

async function drive(
  concurrency: number,
  more: (started: number) => boolean,
  op: () => Promise<void>,
): Promise<Run> {
  let started = 0;
  const start = performance.now();
  const caller = async () => {
    while (more(started)) {
      started++;
      await op();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, caller));
  return { ops: started, seconds: (performance.now() - start) / 1000 };
}
