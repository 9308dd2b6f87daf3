/**
 * One chain of refresh tokens issued for one session. Only hashes of the
 * current and the previous secret are kept.
 */
export interface RefreshFamily {
  id: string;
  sessionId: string;
  userId: string;
  generation: number;
  currentHash: string;
  /** The secret the current one replaced, for the grace window of a racing second use. */
  previousHash: string | null;
  rotatedAt: number;
  expiresAt: number;
}

/** Where refresh families live. `advance` is a compare-and-set on the generation. */
export interface RefreshFamilyStore {
  create(family: RefreshFamily): Promise<void>;
  get(id: string, now: number): Promise<RefreshFamily | null>;
  /** Moves the family one generation on, only if it is still at `fromGeneration`. False if it moved or is gone. */
  advance(
    id: string,
    fromGeneration: number,
    next: Pick<RefreshFamily, 'currentHash' | 'previousHash' | 'rotatedAt'>,
  ): Promise<boolean>;
  delete(id: string): Promise<boolean>;
  close(): Promise<void>;
}
