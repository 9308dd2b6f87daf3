import { VersionConflictError } from './errors.js';
import { applyPatch, type PatchOperation } from './patch.js';
import type { Session } from './session.js';
import type { Activity, UpdateOptions } from './store.js';

/*
 * The pure steps of the store contract, so every backend that changes a
 * record in its own atomic section (a transaction, a lock, a single thread)
 * computes the change the same way.
 */

/** The session after `ops`, or a thrown conflict or patch error. */
export function updatedSession(
  current: Session,
  ops: readonly PatchOperation[],
  options: UpdateOptions,
): Session {
  if (options.expectedVersion !== undefined && options.expectedVersion !== current.version) {
    throw new VersionConflictError(options.expectedVersion, current.version);
  }
  return {
    ...current,
    data: applyPatch(current.data, ops),
    version: current.version + 1,
    ...activityFields(options),
  };
}

/** The session moved to `toId`, same data and version, marked active, its token issued now. */
export function renamedSession(current: Session, toId: string, act: Activity): Session {
  return { ...current, id: toId, tokenIssuedAt: act.now, ...activityFields(act) };
}

export function activityFields(act: Activity): Pick<Session, 'lastActiveAt' | 'idleExpiresAt'> {
  return { lastActiveAt: act.now, idleExpiresAt: act.idleExpiresAt };
}
