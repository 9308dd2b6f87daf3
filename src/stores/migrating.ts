import {
  type Activity,
  type ArchiveSink,
  type Outbox,
  type PatchOperation,
  type RenameOptions,
  type ScanPage,
  type Session,
  SessionExistsError,
  SessionNotFoundError,
  type SessionStore,
  type UpdateOptions,
  type WriteOptions,
} from '../core/index.js';

/** A move between the stores is no lifecycle change: neither store records an event for it. */
const SILENT: WriteOptions = { silent: true };

/*
 * The sessions of a fleet moving from one store to another while it serves
 * (`migrating:<old url>|<new url>`). The rules that keep every session that
 * was acknowledged, and bring back none that was deleted:
 *
 * 1. Nothing is written to the old store any more: it only loses sessions
 *    (deletions, sweeps and moves). A session read there is as its last
 *    writer left it.
 * 2. A session moves by being read in old, created in new, then deleted in
 *    old. `create` refuses an id that new has, so of two movers one wins;
 *    the loser uses new's copy and leaves old alone. Only the winner deletes
 *    in old. A reader that misses in new and then in old reads new again:
 *    a move between its two reads created in new before deleting in old.
 * 3. If the winner's delete in old finds nothing, the session was deleted
 *    there after it was read: a sign-out, a revocation, the old id of a
 *    rename (these delete in old first, rule 4) or an expiry. The winner
 *    then deletes its copy in new, so a deletion racing a move never brings
 *    the session back. (A copy that expired in old also expires in new,
 *    unless touched in new within the same milliseconds.)
 * 4. Deletions go to old, then to new: a mover that creates after the
 *    deletion reached new finds old empty and undoes its copy (rule 3); one
 *    that created before has its copy deleted in new.
 * 5. Updates, touches and renames first move the session, then change it in
 *    new only; a moved session keeps its version, so If-Match carries over.
 * 6. New sessions are created in new. Once `drainSessions` has moved what old
 *    held, old has no live session left, so a gateway on the new URL alone
 *    and one still on migrating: agree: falling back finds nothing.
 *
 * A gateway still on the old URL alone (during the roll onto migrating:)
 * writes to old and breaks rule 1: its change to a session already moved
 * fails as if the session were gone (nothing acknowledged is lost), but its
 * deletion of one is not seen by new. Hence the procedure in the README.
 * Aliases of rotated tokens are read in both stores and not moved: they last
 * seconds, and old answers for them until the fleet leaves it.
 */
export class MigratingStore implements SessionStore {
  readonly old: SessionStore;
  readonly new: SessionStore;

  constructor(old: SessionStore, next: SessionStore) {
    this.old = old;
    this.new = next;
  }

  /** New's: changes made through the migration are recorded where sessions are going. */
  get outbox(): Outbox | undefined {
    return this.new.outbox;
  }

  async create(session: Session, options?: WriteOptions): Promise<void> {
    await this.new.create(session, options);
  }

  async get(id: string, now: number): Promise<Session | null> {
    return (await this.new.get(id, now)) ?? (await this.move(id, now)).session;
  }

  /**
   * Moves the session from old to new (rules 2 and 3), and says what it
   * found: `moved` when this call moved it, `present` when new already had
   * it, `absent` when neither store has it live.
   */
  async move(
    id: string,
    now: number,
  ): Promise<{ outcome: 'moved' | 'present' | 'absent'; session: Session | null }> {
    const found = await this.old.get(id, now);
    if (!found) {
      // Another mover may have moved it since new was read: its create came before its delete.
      const session = await this.new.get(id, now);
      return { outcome: session ? 'present' : 'absent', session };
    }
    try {
      await this.new.create(found, SILENT);
    } catch (error) {
      if (!(error instanceof SessionExistsError)) throw error;
      const session = await this.new.get(id, now);
      return { outcome: session ? 'present' : 'absent', session };
    }
    if (await this.old.delete(id, SILENT)) return { outcome: 'moved', session: found };
    await this.new.delete(id, SILENT);
    return { outcome: 'absent', session: null };
  }

  async update(
    id: string,
    ops: readonly PatchOperation[],
    options: UpdateOptions,
  ): Promise<Session> {
    if (!(await this.get(id, options.now))) throw new SessionNotFoundError();
    return this.new.update(id, ops, options);
  }

  async touch(id: string, activity: Activity): Promise<boolean> {
    if (!(await this.get(id, activity.now))) return false;
    return this.new.touch(id, activity);
  }

  async rename(
    fromId: string,
    toId: string,
    activity: Activity,
    options?: RenameOptions,
  ): Promise<Session | null> {
    if (!(await this.get(fromId, activity.now))) return null;
    return this.new.rename(fromId, toId, activity, options);
  }

  async resolveAlias(id: string, now: number): Promise<string | null> {
    return (await this.new.resolveAlias(id, now)) ?? (await this.old.resolveAlias(id, now));
  }

  async delete(id: string, options?: WriteOptions): Promise<boolean> {
    // Old's outbox is not relayed: a session only old held ends without an event (docs/events.md).
    const inOld = await this.old.delete(id, SILENT);
    const inNew = await this.new.delete(id, options);
    return inOld || inNew;
  }

  /** Both stores' sessions of the user, new's copy where both have one, newest first. */
  async listByUser(userId: string, now: number): Promise<Session[]> {
    const [inNew, inOld] = await Promise.all([
      this.new.listByUser(userId, now),
      this.old.listByUser(userId, now),
    ]);
    const ids = new Set(inNew.map((session) => session.id));
    return [...inNew, ...inOld.filter((session) => !ids.has(session.id))].sort(
      (a, b) => b.createdAt - a.createdAt,
    );
  }

  async deleteByUser(userId: string, exceptId?: string, options?: WriteOptions): Promise<string[]> {
    const inOld = await this.old.deleteByUser(userId, exceptId, SILENT);
    const inNew = await this.new.deleteByUser(userId, exceptId, options);
    return [...new Set([...inOld, ...inNew])];
  }

  /** New's expired sessions, then old's with what is left of `limit`. */
  async sweepExpired(now: number, limit: number, archive?: ArchiveSink): Promise<Session[]> {
    const swept = await this.new.sweepExpired(now, limit, archive);
    if (swept.length >= limit) return swept;
    return [...swept, ...(await this.old.sweepExpired(now, limit - swept.length, archive))];
  }

  /** New's sessions then old's; one moving meanwhile may be seen in both. */
  async scan(cursor: string | null, limit: number, now: number): Promise<ScanPage> {
    if (cursor === null || cursor.startsWith('new:')) {
      const page = await this.new.scan(cursor?.slice('new:'.length) ?? null, limit, now);
      return { sessions: page.sessions, cursor: page.cursor ? `new:${page.cursor}` : 'old:' };
    }
    const page = await this.old.scan(cursor.slice('old:'.length) || null, limit, now);
    return { sessions: page.sessions, cursor: page.cursor ? `old:${page.cursor}` : null };
  }

  /** Both stores' counts: a session counted twice is one caught between the steps of a move. */
  async countLive(now: number): Promise<number> {
    const [inNew, inOld] = await Promise.all([this.new.countLive(now), this.old.countLive(now)]);
    return inNew + inOld;
  }

  async close(): Promise<void> {
    await Promise.all([this.old.close(), this.new.close()]);
  }
}
