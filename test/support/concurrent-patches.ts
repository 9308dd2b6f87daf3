import fc from 'fast-check';
import type { PatchOperation, SessionData } from '../../src/core/index.js';

/** The data every generated patch works on: a number, a list and an object. */
export const INITIAL: SessionData = { n: 0, list: [], obj: { a: 1 } };

const key = fc.constantFrom('a', 'b', 'c');
const small = fc.integer({ min: -3, max: 3 });
const operation: fc.Arbitrary<PatchOperation> = fc.oneof(
  small.map((value) => ({ op: 'increment', path: '/n', value })),
  small.map((value) => ({ op: 'replace', path: '/n', value })),
  small.map((value) => ({ op: 'test', path: '/n', value })),
  small.map((value) => ({ op: 'add', path: '/list/-', value })),
  small.map((value) => ({ op: 'add', path: '/list/0', value })),
  fc.constant({ op: 'remove', path: '/list/0' }),
  fc.tuple(key, small).map(([name, value]) => ({ op: 'add', path: `/obj/${name}`, value })),
  key.map((name) => ({ op: 'remove', path: `/obj/${name}` })),
  key.map((name) => ({ op: 'copy', from: '/n', path: `/obj/${name}` })),
) as fc.Arbitrary<PatchOperation>;

/**
 * Up to five patches of `INITIAL` of one to three operations, many of which
 * fail on some data (a `test`, a `remove` of what may be missing): five
 * patches have 120 serial orders.
 */
export const concurrentPatches = fc.array(fc.array(operation, { minLength: 1, maxLength: 3 }), {
  minLength: 2,
  maxLength: 5,
});
