import { HttpError } from './errors.js';

/**
 * What an `If-Match` header asks for (RFC 9110 §13.1.1): `any` for `*`, else
 * the opaque tags of its strong entity-tags. Weak tags are dropped, since
 * If-Match compares strongly and a weak tag never matches.
 */
export type IfMatch = { any: true } | { any: false; strongTags: string[] };

/** One entity-tag: optional `W/`, then a quoted run of etagc (%x21 / %x23-7E / obs-text). */
const ENTITY_TAG = /^(W\/)?"([\x21\x23-\x7e\x80-\xff]*)"$/;

/**
 * Parses an `If-Match` field value, or gives undefined when there is none.
 * A list may hold empty elements (RFC 9110 §5.6.1); anything that is not `*`
 * or a list of entity-tags is a 400 `ERR_PRECONDITION_MALFORMED`.
 */
export function parseIfMatch(header: string | undefined): IfMatch | undefined {
  if (header === undefined) return undefined;
  if (header.trim() === '*') return { any: true };
  const strongTags: string[] = [];
  let elements = 0;
  for (const element of header.split(',')) {
    const trimmed = element.trim();
    if (trimmed === '') continue;
    const match = ENTITY_TAG.exec(trimmed);
    if (!match)
      throw new HttpError(
        'ERR_PRECONDITION_MALFORMED',
        'If-Match must be * or a list of entity-tags such as "3"',
      );
    elements += 1;
    if (match[1] === undefined) strongTags.push(match[2] as string);
  }
  if (elements === 0)
    throw new HttpError('ERR_PRECONDITION_MALFORMED', 'If-Match names no entity-tag');
  return { any: false, strongTags };
}
