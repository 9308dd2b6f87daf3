import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HttpError, normalizeRequestTarget } from '../../src/http/index.js';

/** The normal form, or null when the target is refused (any other throw fails the test). */
function normalOrNull(target: string): string | null {
  try {
    return normalizeRequestTarget(target);
  } catch (error) {
    expect(error).toBeInstanceOf(HttpError);
    expect((error as HttpError).code).toBe('ERR_PATH_INVALID');
    return null;
  }
}

function pathOf(target: string): string {
  const query = target.indexOf('?');
  return query === -1 ? target : target.slice(0, query);
}

/** Characters that make paths interesting: separators, dots, the hex of their escapes, parameters. */
const RICH = fc.constantFrom(...'/\\.%2eEfF5cC;:?#ab'.split(''), '%2e', '%2F', '%5c', '..', '//');
const TARGETS = fc.oneof(
  fc.string({ unit: RICH, maxLength: 30 }).map((rest) => `/${rest}`),
  fc.string({ unit: 'binary', maxLength: 30 }).map((rest) => `/${rest}`),
  fc.string({ unit: 'binary', maxLength: 30 }),
);

describe('normalizeRequestTarget', () => {
  it('either refuses a target or returns a path that is its own normal form, with no dot segment, no // and no backslash', () => {
    fc.assert(
      fc.property(TARGETS, (target) => {
        const normal = normalOrNull(target);
        if (normal === null) return;
        expect(normalizeRequestTarget(normal)).toBe(normal);
        const path = pathOf(normal);
        expect(path.startsWith('/')).toBe(true);
        expect(path).not.toContain('//');
        expect(path).not.toContain('\\');
        for (const [, hex = ''] of path.matchAll(/%(..)/g)) {
          expect(hex).toMatch(/^[0-9A-F]{2}$/);
          expect(String.fromCharCode(Number.parseInt(hex, 16))).not.toMatch(/[A-Za-z0-9\-._~/\\]/);
        }
        expect(path.split('/').filter((segment) => segment === '.' || segment === '..')).toEqual(
          [],
        );
      }),
      { numRuns: 3000 },
    );
  });

  it('keeps the query exactly as sent', () => {
    fc.assert(
      fc.property(fc.string({ unit: RICH, maxLength: 20 }), fc.string(), (path, query) => {
        const normal = normalOrNull(`/${path.replaceAll('?', '')}?${query}`);
        if (normal !== null) expect(normal.slice(normal.indexOf('?'))).toBe(`?${query}`);
      }),
    );
  });

  it('gives one normal form to a path whatever unreserved characters are escaped, in either case', () => {
    const unreserved = fc.constantFrom(...'abcXYZ019-._~'.split(''));
    const segment = fc.string({ unit: unreserved, minLength: 1, maxLength: 6 });
    fc.assert(
      fc.property(
        fc.array(segment, { minLength: 1, maxLength: 5 }),
        fc.infiniteStream(fc.constantFrom('as is', 'lower', 'upper')),
        (segments, choices) => {
          const path = `/${segments.join('/')}`;
          const escaped = [...path]
            .map((char) => {
              if (char === '/') return char;
              const hex = char.charCodeAt(0).toString(16);
              const choice = choices.next().value;
              if (choice === 'lower') return `%${hex.toLowerCase()}`;
              if (choice === 'upper') return `%${hex.toUpperCase()}`;
              return char;
            })
            .join('');
          expect(normalOrNull(escaped)).toBe(normalOrNull(path));
        },
      ),
    );
  });

  it.each([
    ['/', '/'],
    ['/a//b/', '/a/b/'],
    ['/a/./b/../c', '/a/c'],
    ['/a/b/..', '/a/'],
    ['/%7e%41%3a%3F', '/~A%3A%3F'],
    ['/%252e%252E', '/%252e%252E'],
    ['/caf%c3%a9', '/caf%C3%A9'],
    ['/a{b}', '/a%7Bb%7D'],
    ['/a?b=/../c#d', '/a?b=/../c#d'],
  ])('writes %s as %s', (target, normal) => {
    expect(normalizeRequestTarget(target)).toBe(normal);
  });

  it.each([
    ['a backslash', '/a\\b'],
    ['an escaped backslash', '/a%5cb'],
    ['an escaped slash', '/a%2Fb'],
    ['a climb above the root', '/a/../..'],
    ['an escaped climb above the root', '/%2e%2e'],
    ['a Tomcat dot segment', '/a/..;/b'],
    ['an escaped NUL', '/a%00'],
    ['invalid percent-encoding', '/a%g0'],
    ['invalid UTF-8', '/a%ff'],
    ['raw non-ASCII', '/café'],
    ['a fragment', '/a#b'],
    ['absolute-form', 'http://host/a'],
    ['asterisk-form', '*'],
  ])('refuses %s without quoting it', (_what, target) => {
    expect(() => normalizeRequestTarget(target)).toThrow(
      expect.objectContaining({
        code: 'ERR_PATH_INVALID',
        message: expect.not.stringContaining(target),
      }),
    );
  });
});
