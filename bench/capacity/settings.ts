import { type Mix, parseMix } from './workload.js';

export interface Settings {
  /** Sessions created (and measured for their size) before the timed phases. */
  sessions: number;
  /** Length of each timed phase. */
  seconds: number;
  /** Operations in flight at once. */
  concurrency: number;
  mix: Mix;
  mixText: string;
  /** PostgreSQL: operations of each write kind right after a CHECKPOINT, for their full-page images. */
  coldOps: number;
  only: 'redis' | 'postgres' | undefined;
}

/**
 * 90% reads, 5 points of which slide the idle expiry (a read past the touch
 * threshold writes a touch), 9% updates, 1% creates and revokes.
 */
export const DEFAULT_MIX = 'get:85,touch:5,patch:9,create:0.5,revoke:0.5';

export function readSettings(env: NodeJS.ProcessEnv): Settings {
  const mixText = env.CAPACITY_MIX ?? DEFAULT_MIX;
  const only = env.CAPACITY_ONLY;
  if (only !== undefined && only !== 'redis' && only !== 'postgres')
    throw new Error('CAPACITY_ONLY is redis or postgres');
  return {
    sessions: positive(env.CAPACITY_SESSIONS ?? '100000', 'CAPACITY_SESSIONS'),
    seconds: positive(env.CAPACITY_SECONDS ?? '5', 'CAPACITY_SECONDS'),
    concurrency: positive(env.CAPACITY_CONCURRENCY ?? '16', 'CAPACITY_CONCURRENCY'),
    mix: parseMix(mixText),
    mixText,
    coldOps: positive(env.CAPACITY_PG_COLD_OPS ?? '500', 'CAPACITY_PG_COLD_OPS'),
    only,
  };
}

function positive(text: string, name: string): number {
  const value = Number(text);
  if (!(value > 0)) throw new Error(`${name} must be a positive number`);
  return value;
}
