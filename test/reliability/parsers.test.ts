import fc from 'fast-check';
import { createLocalJWKSet } from 'jose';
import { describe, expect, it } from 'vitest';
import { ClawsessionError, parsePatch, SessionManager, sessionIdOf } from '../../src/core/index.js';
import { assertCsrfToken, assertSameOrigin } from '../../src/http/csrf.js';
import { csrfTokenMatches, parseIfMatch, SessionCookie } from '../../src/http/index.js';
import { parseKey } from '../../src/keys/key-format.js';
import { MemoryRecordStore, MemoryStore } from '../../src/stores/index.js';
import {
  AccessTokens,
  RecordRefreshFamilyStore,
  RecordTokenDenylist,
  RefreshTokens,
  SigningKeys,
  verifyIdentityContext,
} from '../../src/tokens/index.js';

/*
 * Whatever a client sends, the parsers of what it sends (cookies, session
 * tokens, API keys, If-Match, CSRF tokens and origins, access, refresh and
 * context tokens, patches) either accept it or refuse it with a typed
 * ClawsessionError: never a TypeError, a RangeError or anything else that
 * would become a 500. Inputs are random text and near misses of each format.
 */

const RUNS = { numRuns: 2_000 };
const base64url = fc.string({
  unit: fc.constantFrom(...'ABCabc012-_=+/.'.split('')),
  maxLength: 90,
});
const text = fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), base64url);
const anything = fc.oneof(text, fc.anything());

/** Near misses of a compact JWS: three dot-separated parts, each random or random JSON. */
const jwsLike = fc
  .tuple(
    fc.oneof(base64url, fc.jsonValue().map(encodeJson)),
    fc.oneof(base64url, fc.jsonValue().map(encodeJson)),
    base64url,
  )
  .map((parts) => parts.join('.'));

function encodeJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value) ?? 'null').toString('base64url');
}

/** Runs `parse`, letting only ClawsessionError out. */
async function onlyTypedErrors(parse: () => unknown): Promise<void> {
  try {
    await parse();
  } catch (error) {
    expect(error).toBeInstanceOf(ClawsessionError);
  }
}

describe('parsers of client input', () => {
  it('the session cookie reader never throws, and finds only a token-shaped value', () => {
    const cookie = new SessionCookie();
    const header = fc.oneof(
      text,
      fc
        .array(fc.tuple(fc.constantFrom(cookie.name, 'other', ' ', ''), fc.oneof(text, base64url)))
        .map((pairs) => pairs.map(([name, value]) => `${name}=${value}`).join('; ')),
      fc.array(text, { maxLength: 3 }),
    );
    fc.assert(
      fc.property(header, (value) => {
        const token = cookie.read(value);
        expect(token === null || /^[A-Za-z0-9_-]{43}$/.test(token)).toBe(true);
      }),
      RUNS,
    );
  });

  it('session tokens, API keys, If-Match and patches are refused only with typed errors', async () => {
    await fc.assert(
      fc.asyncProperty(anything, async (input) => {
        await onlyTypedErrors(() => sessionIdOf(input as string));
        await onlyTypedErrors(() => parseKey(input));
        await onlyTypedErrors(() => parsePatch(input));
        if (typeof input !== 'string') return;
        await onlyTypedErrors(() => parseKey(`cs_live_${input}`));
        await onlyTypedErrors(() => parseIfMatch(input));
      }),
      RUNS,
    );
  });

  it('CSRF tokens and origins are checked without throwing anything but CsrfError', async () => {
    const headers = fc.record(
      {
        origin: fc.oneof(text, fc.webUrl(), fc.constant('null')),
        host: fc.oneof(text, fc.domain()),
        'sec-fetch-site': fc.constantFrom('same-origin', 'cross-site', 'none', ''),
        'x-csrf-token': fc.oneof(text, base64url),
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(headers, text, anything, async (sent, secret, body) => {
        expect(typeof csrfTokenMatches(sent['x-csrf-token'] ?? '', secret)).toBe('boolean');
        await onlyTypedErrors(() =>
          assertCsrfToken(
            secret,
            { headers: sent, body },
            { header: 'x-csrf-token', field: '_csrf' },
          ),
        );
        for (const requireHttps of [true, false])
          await onlyTypedErrors(() =>
            assertSameOrigin(sent, {
              trustedOrigins: new Set(['https://app.example']),
              requireHttps,
            }),
          );
      }),
      RUNS,
    );
  });

  it('access, refresh and identity-context tokens are refused only with typed errors', async () => {
    const keys = await SigningKeys.generate();
    const accessTokens = new AccessTokens({
      keys,
      issuer: 'clawsession',
      audience: 'clawsession',
      denylist: new RecordTokenDenylist(new MemoryRecordStore()),
    });
    const manager = new SessionManager({ store: new MemoryStore() });
    const refreshTokens = new RefreshTokens({
      store: new RecordRefreshFamilyStore(new MemoryRecordStore()),
      manager,
      secret: 'a-refresh-secret-of-at-least-32-bytes!!',
    });
    const jwks = createLocalJWKSet(keys.jwks());
    const refreshLike = fc
      .tuple(base64url, base64url)
      .map(([family, secret]) => `${family}.${secret}`);
    await fc.assert(
      fc.asyncProperty(fc.oneof(anything, jwsLike, refreshLike), async (token) => {
        await onlyTypedErrors(() => accessTokens.verify(token as string));
        await onlyTypedErrors(() => refreshTokens.rotate(token as string));
        await onlyTypedErrors(() =>
          verifyIdentityContext(token as string, {
            jwks,
            issuer: 'clawsession',
            audience: 'clawsession-upstream',
          }),
        );
      }),
      RUNS,
    );
  });
});
