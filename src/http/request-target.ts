import { isUtf8 } from 'node:buffer';
import { HttpError } from './errors.js';

/** RFC 3986 §2.3: their escapes mean the same as the characters themselves. */
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;
/** Printable ASCII that RFC 3986 does not allow in a path: escaped in the normal form, as browsers do. */
const ESCAPED_WHEN_RAW = new Set('"<>[]^`{|}');

/**
 * Segments that are no dot segment here but may be one to an upstream:
 * Tomcat and Jetty drop `;` parameters (`..;` is `..` to them), and
 * @fastify/reply-from refuses any `/..` or `../` in the path it forwards.
 */
const READ_AS_DOT_SEGMENT = /^\.\.|\.\.$|^\.;/;

/**
 * A path already in its normal form, as most are: segments of characters
 * written raw in the normal form, no escape, no dot (so no dot segment), no
 * empty segment. Checked by one expression instead of character by character.
 */
const ALREADY_NORMAL = /^(?:\/[A-Za-z0-9_~!$&'()*+,;=:@-]+)*\/?$/;

function refused(message: string): HttpError {
  return new HttpError('ERR_PATH_INVALID', message);
}

/**
 * The one form of an origin-form request target (`/path?query`) that the
 * gateway routes and forwards: escapes of unreserved characters decoded,
 * other escapes in upper case, printable characters a path may not hold
 * escaped, duplicate slashes merged and `.` / `..` segments resolved (RFC 3986
 * §6.2.2, §5.2.4). The query is kept exactly as sent. The result is its own
 * normal form. Throws an ERR_PATH_INVALID HttpError, whose message never quotes
 * the target, for what has no safe normal form: any target that is not a path
 * (absolute-form, `*`), a backslash or a slash written as an escape (upstreams
 * disagree on whether they separate segments), control characters and NUL,
 * raw non-ASCII, invalid percent-encoding or UTF-8, a `#`, a `..` that climbs
 * above the root, and segments that some servers read as dot segments
 * (beginning or ending with `..`, or `.` with `;` parameters).
 */
export function normalizeRequestTarget(target: string): string {
  if (!target.startsWith('/'))
    throw refused('the request target must be a path beginning with / (origin-form)');
  const queryStart = target.indexOf('?');
  const path = queryStart === -1 ? target : target.slice(0, queryStart);
  if (ALREADY_NORMAL.test(path)) return target;
  const query = queryStart === -1 ? '' : target.slice(queryStart);
  return `${withoutDotSegments(canonicalCharacters(path))}${query}`;
}

/** `path` with each character, raw or escaped, in its one written form. */
function canonicalCharacters(path: string): string {
  let written = '';
  const bytes: number[] = [];
  for (let at = 0; at < path.length; at++) {
    const char = path.charAt(at);
    const code = path.charCodeAt(at);
    if (char === '%') {
      const hex = path.slice(at + 1, at + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex))
        throw refused('the request path is not valid percent-encoding');
      at += 2;
      const byte = Number.parseInt(hex, 16);
      bytes.push(byte);
      written += escapedByte(byte);
    } else if (code <= 0x20 || code === 0x7f) {
      throw refused('the request path must not contain spaces or control characters');
    } else if (code > 0x7f) {
      throw refused('the request path must percent-encode characters outside ASCII');
    } else if (char === '\\') {
      throw refused('the request path must not contain a backslash');
    } else if (char === '#') {
      throw refused('the request path must not contain a fragment');
    } else {
      bytes.push(code);
      written += ESCAPED_WHEN_RAW.has(char) ? `%${hexOf(code)}` : char;
    }
  }
  if (!isUtf8(Uint8Array.from(bytes))) throw refused('the request path does not decode to UTF-8');
  return written;
}

/** An escaped byte as written in the normal form, or refused when it would change the path's structure. */
function escapedByte(byte: number): string {
  const char = String.fromCharCode(byte);
  if (UNRESERVED.test(char)) return char;
  if (char === '/' || char === '\\')
    throw refused('the request path must not contain an escaped slash or backslash');
  if (byte < 0x20 || byte === 0x7f)
    throw refused('the request path must not contain spaces or control characters');
  return `%${hexOf(byte)}`;
}

function hexOf(byte: number): string {
  return byte.toString(16).toUpperCase().padStart(2, '0');
}

/** RFC 3986 remove_dot_segments, with empty segments merged, refusing a climb above the root. */
function withoutDotSegments(path: string): string {
  const segments = path.slice(1).split('/');
  const kept: string[] = [];
  segments.forEach((segment, index) => {
    const last = index === segments.length - 1;
    if (segment === '..') {
      if (kept.pop() === undefined) throw refused('the request path must not climb above the root');
    } else if (segment !== '.' && segment !== '') {
      if (READ_AS_DOT_SEGMENT.test(segment))
        throw refused(
          'the request path must not contain segments that servers may read as . or ..',
        );
      kept.push(segment);
      return;
    }
    // A dot or empty last segment names the directory: `/a/b/..` is `/a/`.
    if (last) kept.push('');
  });
  return `/${kept.join('/')}`;
}
