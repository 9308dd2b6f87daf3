import {
  ForbiddenPathError,
  type PatchOperation,
  parsePointer,
  type SessionData,
  type SessionValue,
} from '../core/index.js';

/**
 * Top-level session data keys that belong to clawsession, not to the
 * application or to services: the CSRF secret, the roles granted at login.
 * Only their owner writes them; no patch, from a request's handle or from the
 * service API, can add, change, remove, move, copy or test them.
 */
export const RESERVED_KEY_PREFIX = '__clawsession_';

/** The roles the credential source granted at login; what the gateway signs into identity contexts. */
export const ROLES_DATA_KEY = `${RESERVED_KEY_PREFIX}roles`;

export function isReservedKey(key: string): boolean {
  return key.startsWith(RESERVED_KEY_PREFIX);
}

/** Throws ForbiddenPathError when `data` has a reserved top-level key. */
export function assertNoReservedKey(data: SessionData): void {
  const reserved = Object.keys(data).find(isReservedKey);
  if (reserved !== undefined) throw reservedKeyError(`/${reserved}`);
}

/**
 * Checks a parsed patch against the reserved keys and tells whether it writes
 * the whole data (an op on the root), which would drop them:
 * the caller then writes them back, or refuses. Throws ForbiddenPathError for
 * an op whose `path` or `from` is a reserved key or inside one, for a `move`
 * or `copy` from the whole data (it would take them along), for a `test`
 * of the whole data (it would compare them), for a `move` or `copy` onto the
 * whole data (what it brings cannot be checked before it applies), and for a
 * whole-data value holding a reserved key.
 */
export function checkReservedKeys(ops: readonly PatchOperation[]): { writesRoot: boolean } {
  let writesRoot = false;
  for (const op of ops) {
    for (const pointer of 'from' in op ? [op.path, op.from] : [op.path]) {
      const [first] = parsePointer(pointer);
      if (first !== undefined && isReservedKey(first)) throw reservedKeyError(pointer);
    }
    if ('from' in op && op.from === '')
      throw new ForbiddenPathError(
        '',
        `a ${op.op} of the whole session data would take the reserved keys along`,
      );
    if (op.path !== '') continue;
    if (op.op === 'test')
      throw new ForbiddenPathError('', 'a test of the whole session data is refused');
    if (op.op === 'move' || op.op === 'copy')
      throw new ForbiddenPathError('', `a ${op.op} onto the whole session data is refused`);
    if ((op.op === 'add' || op.op === 'replace') && isObject(op.value))
      assertNoReservedKey(op.value);
    writesRoot = true;
  }
  return { writesRoot };
}

/** The roles granted at login: the reserved key's list of non-empty strings; anything else grants none. */
export function grantedRoles(data: SessionData): string[] {
  const value = Object.hasOwn(data, ROLES_DATA_KEY) ? data[ROLES_DATA_KEY] : undefined;
  return Array.isArray(value) && value.every((role) => typeof role === 'string' && role !== '')
    ? [...(value as string[])]
    : [];
}

function isObject(value: SessionValue): value is SessionData {
  return (
    typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date)
  );
}

function reservedKeyError(pointer: string): ForbiddenPathError {
  return new ForbiddenPathError(
    pointer,
    `${JSON.stringify(pointer)} is reserved for clawsession (${RESERVED_KEY_PREFIX}*) and cannot be patched`,
  );
}
