import type { PatchOperation, SessionData, SessionValue } from '../core/index.js';

/** The most operations one patch may hold (the core's `MAX_PATCH_OPERATIONS`). */
const MAX_OPERATIONS = 1000;

/**
 * The patch that turns `before` (the session as a request loaded it) into
 * `after` (the session as the request saves it), written at the smallest
 * paths that changed, so that it composes with what concurrent requests wrote
 * meanwhile:
 *
 * - a member only in `after` is an `add`, one only in `before` a `remove`;
 * - objects on both sides are compared member by member;
 * - an array that grew from its loaded contents (`before` is a prefix of
 *   `after`) gets one `add` at `/-` per new item, so concurrent appends all
 *   land; an array of unchanged length is compared index by index; any other
 *   array change (removal, insertion, reorder) replaces the whole array;
 * - any other change is a `replace`, numbers included: a diff cannot tell
 *   `views++` from `lastSeen = Date.now()`, and turning the second into an
 *   `increment` would corrupt it under concurrency, while a `replace` at worst
 *   loses a concurrent request's count.
 *
 * Values are JSON (the store serialises sessions through JSON first). A diff
 * too long for one patch falls back to `coarsePatch`.
 */
export function diffSessionData(before: SessionData, after: SessionData): PatchOperation[] {
  const ops: PatchOperation[] = [];
  diffObject(before, after, '', ops);
  return ops.length <= MAX_OPERATIONS ? ops : coarsePatch(before, after);
}

/**
 * A patch from `before` to `after` that applies to whatever the record holds
 * now: each top-level member that differs is set whole or removed. For when
 * the fine patch no longer fits the record (a concurrent request removed a
 * member it changes or shortened an array it indexes): the changed members
 * are then last-writer-wins, the members this request did not change still
 * keep what others wrote.
 */
export function coarsePatch(before: SessionData, after: SessionData): PatchOperation[] {
  const ops: PatchOperation[] = [];
  for (const key of Object.keys(before)) {
    if (Object.hasOwn(after, key)) continue;
    // `add` on an object member always applies (it sets), so add-then-remove
    // removes the member whether or not a concurrent request removed it first.
    const path = pointer('', key);
    ops.push({ op: 'add', path, value: null }, { op: 'remove', path });
  }
  for (const [key, value] of Object.entries(after)) {
    const old = before[key];
    if (old === undefined || !sameJson(old, value)) {
      ops.push({ op: 'add', path: pointer('', key), value });
    }
  }
  return ops.length <= MAX_OPERATIONS ? ops : [{ op: 'replace', path: '', value: after }];
}

function diffValue(before: SessionValue, after: SessionValue, path: string, ops: PatchOperation[]) {
  if (isObject(before) && isObject(after)) diffObject(before, after, path, ops);
  else if (Array.isArray(before) && Array.isArray(after)) diffArray(before, after, path, ops);
  else if (!sameJson(before, after)) ops.push({ op: 'replace', path, value: after });
}

function diffObject(
  before: Record<string, SessionValue>,
  after: Record<string, SessionValue>,
  path: string,
  ops: PatchOperation[],
) {
  for (const key of Object.keys(before)) {
    if (!Object.hasOwn(after, key)) ops.push({ op: 'remove', path: pointer(path, key) });
  }
  for (const [key, value] of Object.entries(after)) {
    const old = before[key];
    if (old === undefined) ops.push({ op: 'add', path: pointer(path, key), value });
    else diffValue(old, value, pointer(path, key), ops);
  }
}

function diffArray(
  before: SessionValue[],
  after: SessionValue[],
  path: string,
  ops: PatchOperation[],
) {
  const grewFromLoaded =
    after.length > before.length &&
    before.every((item, index) => sameJson(item, after[index] as SessionValue));
  if (grewFromLoaded) {
    for (const item of after.slice(before.length))
      ops.push({ op: 'add', path: `${path}/-`, value: item });
  } else if (after.length === before.length) {
    for (const [index, item] of after.entries()) {
      diffValue(before[index] as SessionValue, item, `${path}/${index}`, ops);
    }
  } else {
    ops.push({ op: 'replace', path, value: after });
  }
}

/** RFC 6901: `~` and `/` in a member name are escaped. */
function pointer(parent: string, key: string): string {
  return `${parent}/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`;
}

function isObject(value: SessionValue): value is Record<string, SessionValue> {
  return (
    typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date)
  );
}

function sameJson(a: SessionValue, b: SessionValue): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    return (
      Array.isArray(b) &&
      a.length === b.length &&
      a.every((item, index) => sameJson(item, b[index] as SessionValue))
    );
  }
  if (isObject(a)) {
    if (!isObject(b)) return false;
    const keys = Object.keys(a);
    return (
      keys.length === Object.keys(b).length &&
      keys.every((key) => {
        const other = b[key];
        return other !== undefined && sameJson(a[key] as SessionValue, other);
      })
    );
  }
  return false;
}
