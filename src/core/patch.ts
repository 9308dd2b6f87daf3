import { assertSessionData, assertSessionValue, FORBIDDEN_KEYS, isPlainObject } from './data.js';
import {
  ForbiddenPathError,
  PatchMalformedError,
  PatchTargetError,
  PatchTestFailedError,
  ValidationError,
} from './errors.js';
import type { SessionData, SessionValue } from './session.js';

/**
 * A JSON Patch (RFC 6902) operation, plus `increment`, which adds `value` to
 * the number at `path` (creating it when the parent exists and the key does not).
 */
export type PatchOperation =
  | { op: 'add'; path: string; value: SessionValue }
  | { op: 'remove'; path: string }
  | { op: 'replace'; path: string; value: SessionValue }
  | { op: 'move'; from: string; path: string }
  | { op: 'copy'; from: string; path: string }
  | { op: 'test'; path: string; value: SessionValue }
  | { op: 'increment'; path: string; value: number };

export const MAX_PATCH_OPERATIONS = 1000;

const OPS_WITH_VALUE = new Set(['add', 'replace', 'test', 'increment']);
const OPS_WITH_FROM = new Set(['move', 'copy']);
const KNOWN_OPS = new Set(['add', 'remove', 'replace', 'move', 'copy', 'test', 'increment']);

/**
 * Checks that `input` is a well-formed patch and returns it typed. Throws
 * `PatchMalformedError` or `ForbiddenPathError`; applies nothing.
 */
export function parsePatch(input: unknown): PatchOperation[] {
  if (!Array.isArray(input))
    throw new PatchMalformedError('a patch must be an array of operations');
  if (input.length === 0) throw new PatchMalformedError('a patch must hold at least one operation');
  if (input.length > MAX_PATCH_OPERATIONS) {
    throw new PatchMalformedError(`a patch may hold at most ${MAX_PATCH_OPERATIONS} operations`);
  }
  return input.map((raw, index) => parseOperation(raw, index));
}

function parseOperation(raw: unknown, index: number): PatchOperation {
  const at = `operation ${index}`;
  if (!isPlainObject(raw)) throw new PatchMalformedError(`${at} must be an object`);
  const { op, path, from } = raw;
  if (typeof op !== 'string' || !KNOWN_OPS.has(op)) {
    throw new PatchMalformedError(`${at} has unsupported op ${JSON.stringify(op)}`);
  }
  if (typeof path !== 'string') throw new PatchMalformedError(`${at} needs a string "path"`);
  parsePointer(path);
  if (OPS_WITH_FROM.has(op)) {
    if (typeof from !== 'string')
      throw new PatchMalformedError(`${at} (${op}) needs a string "from"`);
    parsePointer(from);
  }
  if (OPS_WITH_VALUE.has(op)) {
    if (!Object.hasOwn(raw, 'value'))
      throw new PatchMalformedError(`${at} (${op}) needs a "value"`);
    if (op === 'increment' && (typeof raw.value !== 'number' || !Number.isFinite(raw.value))) {
      throw new PatchMalformedError(`${at} (increment) needs a finite number "value"`);
    }
    try {
      assertSessionValue(raw.value);
    } catch (error) {
      if (error instanceof ValidationError)
        throw new PatchMalformedError(`${at}: ${error.message}`);
      throw error;
    }
  }
  return raw as PatchOperation;
}

/** Splits a JSON Pointer (RFC 6901) into unescaped segments. */
export function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) {
    throw new PatchMalformedError(
      `path ${JSON.stringify(pointer)} must be empty or start with "/"`,
    );
  }
  return pointer
    .slice(1)
    .split('/')
    .map((segment) => {
      if (/~[^01]|~$/.test(segment)) {
        throw new PatchMalformedError(`path ${JSON.stringify(pointer)} has a bad "~" escape`);
      }
      const key = segment.replaceAll('~1', '/').replaceAll('~0', '~');
      if (FORBIDDEN_KEYS.has(key)) throw new ForbiddenPathError(pointer);
      return key;
    });
}

/**
 * Applies a parsed patch to a copy of `data` and returns the copy. The whole
 * patch applies or none of it does: on any error `data` is left untouched.
 * The result is checked as new data would be (`ValidationError` when it nests
 * too deep), since values that each pass the check can be stacked, copied or
 * moved under one another.
 */
export function applyPatch(data: SessionData, ops: readonly PatchOperation[]): SessionData {
  const doc: { root: SessionValue } = { root: structuredClone(data) };
  // Counting the data is work only a patch that copies needs.
  const copies = ops.some((operation) => operation.op === 'copy') ? copyBudget(data) : { left: 0 };
  for (const operation of ops) applyOperation(doc, operation, copies);
  if (!isPlainObject(doc.root))
    throw new PatchTargetError('the patched session data must stay an object');
  assertSessionData(doc.root);
  return doc.root as SessionData;
}

type Container = SessionValue[] | { [key: string]: SessionValue };
type Location = { parent: Container | { root: SessionValue }; key: string };

/**
 * How many values the copies of one patch may create: as many as the data
 * held, plus COPY_ALLOWANCE. Copying a value into itself doubles it, so
 * without a bound a few dozen copies in one patch would exhaust memory long
 * before the size cap sees the result.
 */
const COPY_ALLOWANCE = 100_000;

function copyBudget(data: SessionData): { left: number } {
  return { left: countValues(data, Number.POSITIVE_INFINITY) + COPY_ALLOWANCE };
}

/** The values in `value` (itself included), counted without recursion; stops once past `limit`. */
function countValues(value: SessionValue, limit: number): number {
  let count = 0;
  const pending: SessionValue[] = [value];
  while (pending.length > 0 && count <= limit) {
    const next = pending.pop() as SessionValue;
    count += 1;
    const children = Array.isArray(next)
      ? next
      : isPlainObject(next)
        ? Object.values(next as Record<string, SessionValue>)
        : [];
    for (const child of children) pending.push(child);
  }
  return count;
}

function applyOperation(
  doc: { root: SessionValue },
  operation: PatchOperation,
  copies: { left: number },
): void {
  switch (operation.op) {
    case 'add':
      add(locate(doc, operation.path), structuredClone(operation.value));
      break;
    case 'remove':
      if (operation.path === '')
        throw new PatchTargetError('the session data root cannot be removed');
      remove(locate(doc, operation.path), operation.path);
      break;
    case 'replace':
      remove(locate(doc, operation.path), operation.path);
      add(locate(doc, operation.path), structuredClone(operation.value));
      break;
    case 'move': {
      if (operation.path.startsWith(`${operation.from}/`)) {
        throw new PatchTargetError(
          `cannot move ${operation.from} into its own child ${operation.path}`,
        );
      }
      add(locate(doc, operation.path), remove(locate(doc, operation.from), operation.from));
      break;
    }
    case 'copy': {
      const value = read(doc, operation.from);
      copies.left -= countValues(value, copies.left);
      if (copies.left < 0)
        throw new PatchTargetError('the copies of this patch would create too many values');
      add(locate(doc, operation.path), structuredClone(value));
      break;
    }
    case 'test':
      if (!deepEqual(read(doc, operation.path), operation.value))
        throw new PatchTestFailedError(operation.path);
      break;
    case 'increment':
      increment(locate(doc, operation.path), operation.path, operation.value);
      break;
  }
}

/** Finds the container that holds the last segment of `pointer`. */
function locate(doc: { root: SessionValue }, pointer: string): Location {
  const segments = parsePointer(pointer);
  if (segments.length === 0) return { parent: doc, key: 'root' };
  let parent: SessionValue = doc.root;
  for (const segment of segments.slice(0, -1)) {
    parent = child(parent, segment, pointer);
  }
  if (!isContainer(parent))
    throw new PatchTargetError(`the parent of ${pointer} is not an object or array`);
  return { parent, key: segments[segments.length - 1] as string };
}

function read(doc: { root: SessionValue }, pointer: string): SessionValue {
  let value: SessionValue = doc.root;
  for (const segment of parsePointer(pointer)) value = child(value, segment, pointer);
  return value;
}

function child(value: SessionValue, segment: string, pointer: string): SessionValue {
  if (Array.isArray(value)) {
    const index = arrayIndex(segment, value.length - 1, pointer);
    return value[index] as SessionValue;
  }
  if (isContainer(value) && Object.hasOwn(value, segment)) return value[segment] as SessionValue;
  throw new PatchTargetError(`${pointer} does not exist`);
}

function add({ parent, key }: Location, value: SessionValue): void {
  if (Array.isArray(parent)) {
    const index = key === '-' ? parent.length : arrayIndex(key, parent.length, key);
    parent.splice(index, 0, value);
    return;
  }
  (parent as Record<string, SessionValue>)[key] = value;
}

function remove({ parent, key }: Location, pointer: string): SessionValue {
  if (Array.isArray(parent)) {
    const index = arrayIndex(key, parent.length - 1, pointer);
    return parent.splice(index, 1)[0] as SessionValue;
  }
  const record = parent as Record<string, SessionValue>;
  if (!Object.hasOwn(record, key)) throw new PatchTargetError(`${pointer} does not exist`);
  const value = record[key] as SessionValue;
  delete record[key];
  return value;
}

function increment({ parent, key }: Location, pointer: string, by: number): void {
  const record = parent as Record<string, SessionValue>;
  const current = Array.isArray(parent)
    ? parent[arrayIndex(key, parent.length - 1, pointer)]
    : Object.hasOwn(record, key)
      ? record[key]
      : 0;
  if (typeof current !== 'number') throw new PatchTargetError(`${pointer} is not a number`);
  const next = current + by;
  if (!Number.isFinite(next)) throw new PatchTargetError(`incrementing ${pointer} overflows`);
  if (Array.isArray(parent)) parent[Number(key)] = next;
  else record[key] = next;
}

function arrayIndex(segment: string, max: number, pointer: string): number {
  if (!/^(0|[1-9][0-9]*)$/.test(segment)) {
    throw new PatchTargetError(`${pointer}: ${JSON.stringify(segment)} is not an array index`);
  }
  const index = Number(segment);
  if (index > max) throw new PatchTargetError(`${pointer}: index ${index} is out of bounds`);
  return index;
}

function isContainer(value: SessionValue): value is Container {
  return Array.isArray(value) || isPlainObject(value);
}

/** Structural equality over session values; Dates compare by instant. */
export function deepEqual(a: SessionValue, b: SessionValue): boolean {
  if (a === b) return true;
  if (a instanceof Date || b instanceof Date) {
    return a instanceof Date && b instanceof Date && a.getTime() === b.getTime();
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    return (
      Array.isArray(a) &&
      Array.isArray(b) &&
      a.length === b.length &&
      a.every((item, index) => deepEqual(item, b[index] as SessionValue))
    );
  }
  if (!isPlainObject(a) || !isPlainObject(b)) return false;
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every(
    (key) => Object.hasOwn(b, key) && deepEqual(a[key] as SessionValue, b[key] as SessionValue),
  );
}
