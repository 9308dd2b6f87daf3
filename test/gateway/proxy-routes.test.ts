import { describe, expect, it } from 'vitest';
import { compileRoutes, routeFor, upstreamUrlFor } from '../../src/gateway/proxy-routes.js';

const routes = compileRoutes([
  { prefix: '/', upstream: 'http://127.0.0.1:7000', auth: 'none' },
  { prefix: '/api', upstream: 'http://127.0.0.1:7001', auth: 'session' },
  { prefix: '/apiary/', upstream: 'http://127.0.0.1:7002', auth: 'none' },
  { prefix: '/based', upstream: 'http://127.0.0.1:7003/svc/v1/', auth: 'none', stripPrefix: true },
]);
const [root, api, apiary, based] = routes as [
  (typeof routes)[number],
  (typeof routes)[number],
  (typeof routes)[number],
  (typeof routes)[number],
];

describe('proxy routes', () => {
  it('pick the longest whole-segment prefix of the path', () => {
    expect(routeFor(routes, '/api')).toBe(api);
    expect(routeFor(routes, '/api/x')).toBe(api);
    expect(routeFor(routes, '/apiary')).toBe(apiary);
    expect(routeFor(routes, '/apiary/x')).toBe(apiary);
    expect(routeFor(routes, '/apix')).toBe(root);
    expect(routeFor(routes, '/')).toBe(root);
    expect(routeFor(routes.slice(1), '/elsewhere')).toBeNull();
  });

  it('put the path, stripped when asked, under the upstream base path', () => {
    expect(upstreamUrlFor(api, '/api/x')).toBe('http://127.0.0.1:7001/api/x');
    expect(upstreamUrlFor(based, '/based/x/y')).toBe('http://127.0.0.1:7003/svc/v1/x/y');
    expect(upstreamUrlFor(based, '/based')).toBe('http://127.0.0.1:7003/svc/v1');
    expect(upstreamUrlFor(root, '/')).toBe('http://127.0.0.1:7000/');
  });

  it('refuse to build a URL that a URL parser would read as another path or host', () => {
    // The last line of defence: these never arrive normalised, but if one did it must not be forwarded.
    for (const [route, path] of [
      [root, '//evil.example/x'],
      [root, '/x\\..\\..\\api/secret'],
      [root, '/x/%2e%2e/api'],
      [based, '/based/x/../../../internal'],
      [based, '/based/%2E%2E/internal'],
      [based, '/based\\..\\internal'],
      [api, '/api/x#/../y'],
    ] as const) {
      expect(() => upstreamUrlFor(route, path), path).toThrow(
        expect.objectContaining({ code: 'ERR_PATH_INVALID' }),
      );
    }
  });
});
