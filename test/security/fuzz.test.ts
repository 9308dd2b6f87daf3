import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AttackTarget,
  createApiKey,
  rawRequest,
  requestText,
  signIn,
  startAttackTarget,
  type UpstreamHit,
} from './support.js';

/*
 * Random paths and headers through the real proxy, sent as raw bytes. Each
 * route has an upstream of its own, so where a request arrived tells which
 * route the gateway chose. Whatever the request, three things hold:
 * nothing reaches an upstream outside its route, no gateway credential or
 * trusted header from the client reaches an upstream, and nothing answers 5xx.
 */

/** The route each upstream serves, and the path every request it receives must lie under. */
const UNDER: Record<string, string> = {
  pub: '/pub',
  api: '/api',
  apiary: '/apiary',
  based: '/svc',
};

const SEGMENTS = [
  '',
  '.',
  '..',
  '...',
  '%2e',
  '%2E%2e',
  '%252e%252e',
  '.%2e',
  '..;',
  ';',
  '\\',
  '%5c',
  '%5C..%5C',
  '%2f',
  '%2F..',
  '%00',
  '%',
  '%zz',
  '%e0%a4%a',
  'é',
  '%C3%A9',
  '%7E',
  '~',
  'pub',
  'api',
  'apiary',
  'based',
  'admin',
  'v1',
  'auth',
  'x',
  'secret',
];
const SEPARATORS = ['/', '/', '/', '\\', '//', '/./', '%2f'];

const pathArbitrary = fc
  .array(fc.tuple(fc.constantFrom(...SEPARATORS), fc.constantFrom(...SEGMENTS)), {
    minLength: 1,
    maxLength: 8,
  })
  .chain((parts) =>
    fc
      .tuple(
        fc.constantFrom('', '?q=1', '?a=..%2f..', '?x=\\..', '#frag', '?'),
        fc.constantFrom('/', ''),
      )
      .map(([query, lead]) => {
        const joined = parts.map(([separator, segment]) => `${separator}${segment}`).join('');
        return `${lead === '/' && !joined.startsWith('/') ? '/' : ''}${joined}${query}`;
      }),
  );

/** Header names a downstream server may take as said by a proxy or by the gateway. */
const TRUSTED_NAMES = [
  'X-Forwarded-For',
  'X-Forwarded-Host',
  'X-Forwarded-Proto',
  'X-Forwarded-Prefix',
  'X-Forwarded-Port',
  'Forwarded',
  'X-Real-IP',
  'True-Client-IP',
  'CF-Connecting-IP',
  'X-Client-IP',
  'X-Cluster-Client-IP',
  'X-Original-URL',
  'X-Rewrite-URL',
  'X-Clawsession-Context',
  'X-Clawsession-User',
];

function spelling(name: string, style: number): string {
  if (style === 1) return name.toLowerCase();
  if (style === 2) return name.toUpperCase();
  if (style === 3) return name.replaceAll('-', '_');
  if (style === 4) return name.toLowerCase().replaceAll('-', '_');
  return name;
}

const FORGED = 'FORGED0value';

/** A header name as the upstream's folding would see it: lower case, `_` as `-`. */
function folded(name: string): string {
  return name.toLowerCase().replaceAll('_', '-');
}

/** The path with unreserved percent-escapes decoded, as a lenient upstream would read it. */
function leniently(path: string): string {
  return path.replace(
    /%(2[dDeE]|5[fF]|7[eE]|[46][1-9a-fA-F]|[57][0-9aA]|3[0-9])/g,
    (percentEscape) => String.fromCharCode(Number.parseInt(percentEscape.slice(1), 16)),
  );
}

describe('random requests through the proxy', () => {
  let target: AttackTarget;
  let alice: { cookie: string; csrfToken: string };
  let apiKey: string;

  beforeAll(async () => {
    target = await startAttackTarget({
      upstreams: ['pub', 'api', 'apiary', 'based'],
      routes: (upstreams) => [
        { prefix: '/pub', upstream: upstreams.pub?.url as string, auth: 'none' },
        { prefix: '/api', upstream: upstreams.api?.url as string, auth: 'session' },
        { prefix: '/apiary', upstream: upstreams.apiary?.url as string, auth: 'none' },
        {
          prefix: '/based',
          upstream: `${upstreams.based?.url}/svc`,
          auth: 'none',
          stripPrefix: true,
        },
      ],
    });
    alice = await signIn(target, 'alice', { roles: ['reader'] });
    apiKey = await createApiKey(target, { owner: 'fuzz', scopes: ['sessions:read'] });
  });
  afterAll(async () => {
    await target?.close();
  });

  function hits(): Array<[string, UpstreamHit]> {
    return Object.entries(target.upstreams).flatMap(([name, upstream]) =>
      upstream.hits.map((hit): [string, UpstreamHit] => [name, hit]),
    );
  }

  it('never leaves a route, leaks a credential or trusted header, or answers 5xx', async () => {
    const secrets = () => [
      target.adminToken,
      apiKey,
      alice.csrfToken,
      alice.cookie.split('=')[1] as string,
      FORGED,
    ];
    await fc.assert(
      fc.asyncProperty(
        pathArbitrary,
        fc.subarray(TRUSTED_NAMES),
        fc.integer({ min: 0, max: 4 }),
        fc.constantFrom('none', 'cookie', 'admin', 'api-key', 'x-api-key'),
        fc.constantFrom('GET', 'POST', 'DELETE'),
        async (path, trusted, style, credential, method) => {
          for (const upstream of Object.values(target.upstreams)) upstream.hits.length = 0;
          const headers = trusted.map((name) => `${spelling(name, style)}: ${FORGED}`);
          if (credential === 'cookie')
            headers.push(`Cookie: ${alice.cookie}`, `X-CSRF-Token: ${alice.csrfToken}`);
          if (credential === 'admin') headers.push(`Authorization: Bearer ${target.adminToken}`);
          if (credential === 'api-key') headers.push(`Authorization: Bearer ${apiKey}`);
          if (credential === 'x-api-key') headers.push(`X-API-Key: ${apiKey}`);
          const body = method === 'POST' ? '{}' : undefined;
          if (body !== undefined) headers.push('Content-Type: application/json');
          const response = await rawRequest(
            target.port,
            requestText(path, headers, { method, body }),
          );

          expect(response.status, `${method} ${path}`).toBeGreaterThanOrEqual(100);
          expect(response.status, `${method} ${path}`).toBeLessThan(500);
          for (const [name, hit] of hits()) {
            const under = UNDER[name] as string;
            const pathOnly = hit.url.split('?')[0] as string;
            expect(pathOnly === under || pathOnly.startsWith(`${under}/`), hit.url).toBe(true);
            const segments = leniently(pathOnly).split('/');
            expect(segments.includes('..') || segments.includes('.'), hit.url).toBe(false);
            expect(/\\|%5c/i.test(pathOnly), hit.url).toBe(false);
            if (name === 'api') {
              expect(credential).toBe('cookie');
              expect(hit.headers['x-clawsession-context']).toMatch(/^ey/);
            }
            for (let i = 0; i < hit.rawHeaders.length; i += 2) {
              const headerName = folded(hit.rawHeaders[i] as string);
              const value = hit.rawHeaders[i + 1] as string;
              for (const secret of secrets())
                expect(value.includes(secret), `${headerName} reached ${name}`).toBe(false);
              if (TRUSTED_NAMES.some((trustedName) => folded(trustedName) === headerName))
                expect(value).not.toContain(FORGED);
            }
          }
        },
      ),
      { numRuns: 400 },
    );
  });
});
