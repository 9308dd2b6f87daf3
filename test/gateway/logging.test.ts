import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import {
  echoRequestId,
  loggerOptions,
  REDACTED,
  redactQuerySecrets,
  requestIdOptions,
} from '../../src/gateway/logging.js';
import {
  type AttackTarget,
  rawRequest,
  requestText,
  signIn,
  startAttackTarget,
} from '../security/support.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const SECRETS = {
  bearer: 'bearer-secret-6f1c',
  cookie: 'cookie-secret-91ab',
  apiKey: 'apikey-secret-33d0',
  csrf: 'csrf-secret-7e22',
  context: 'context-secret-c4f8',
  queryToken: 'query-secret-a5b9',
  accessToken: 'access-secret-0d17',
  setCookie: 'setcookie-secret-e3a6',
};

const apps: FastifyInstance[] = [];
const targets: AttackTarget[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
  await Promise.all(targets.splice(0).map((target) => target.close()));
});

async function start() {
  const lines: string[] = [];
  const app = Fastify({
    logger: { ...loggerOptions('info'), stream: { write: (line: string) => lines.push(line) } },
    ...requestIdOptions(),
  });
  apps.push(app);
  echoRequestId(app);
  app.get('/echo', async (request, reply) => {
    request.log.info({ headers: request.headers }, 'headers as received');
    request.log.info(`handling ${request.url}`);
    reply.header('set-cookie', `sid=${SECRETS.setCookie}; HttpOnly`);
    reply.log.info({ response: { headers: reply.getHeaders() } }, 'headers as sent');
    return { ok: true };
  });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return { url, lines };
}

const credentials = {
  authorization: `Bearer ${SECRETS.bearer}`,
  cookie: `sid=${SECRETS.cookie}`,
  'x-api-key': SECRETS.apiKey,
  'x-csrf-token': SECRETS.csrf,
  'x-clawsession-context': SECRETS.context,
};

describe('gateway logging', () => {
  it('logs JSON lines with the request id and none of the secrets a request carries', async () => {
    const { url, lines } = await start();
    const query = `?token=${SECRETS.queryToken}&access_token=${SECRETS.accessToken}&page=2`;
    const response = await fetch(`${url}/echo${query}`, {
      headers: { ...credentials, 'x-request-id': 'trace-4711.a_B' },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-request-id')).toBe('trace-4711.a_B');
    expect(response.headers.get('set-cookie')).toContain(SECRETS.setCookie);

    const log = lines.join('');
    for (const secret of Object.values(SECRETS)) expect(log).not.toContain(secret);
    const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const received = entries.find((entry) => entry.msg === 'headers as received') as {
      reqId: string;
      headers: Record<string, string>;
    };
    expect(received.reqId).toBe('trace-4711.a_B');
    expect(received.headers.authorization).toBe(REDACTED);
    expect(received.headers.cookie).toBe(REDACTED);
    expect(received.headers['x-api-key']).toBe(REDACTED);
    expect(received.headers['x-request-id']).toBe('trace-4711.a_B');
    const sent = entries.find((entry) => entry.msg === 'headers as sent') as {
      response: { headers: Record<string, string> };
    };
    expect(sent.response.headers['set-cookie']).toBe(REDACTED);
    const incoming = entries.find((entry) => entry.msg === 'incoming request') as {
      req: { url: string };
    };
    expect(incoming.req.url).toBe(`/echo?token=${REDACTED}&access_token=${REDACTED}&page=2`);
    expect(entries.find((entry) => entry.msg === `handling ${incoming.req.url}`)).toBeDefined();
    const ofRequest = entries.filter((entry) => !String(entry.msg).startsWith('Server listening'));
    expect(ofRequest.map((entry) => entry.reqId)).toEqual(ofRequest.map(() => 'trace-4711.a_B'));
    expect(ofRequest.length).toBe(5);
  });

  it('keeps secrets out of the line Fastify logs for an unmatched route', async () => {
    const { url, lines } = await start();
    const response = await fetch(`${url}/nowhere?refresh_token=${SECRETS.queryToken}`);
    expect(response.status).toBe(404);
    const log = lines.join('');
    expect(log).not.toContain(SECRETS.queryToken);
    expect(log).toContain(`/nowhere?refresh_token=${REDACTED}`);
    expect(log).toContain(String(response.headers.get('x-request-id')));
  });

  it('replaces a malformed or missing request id with a fresh UUID', async () => {
    const { url, lines } = await start();
    const idOf = async (headers: Record<string, string>) =>
      String((await fetch(`${url}/echo`, { headers })).headers.get('x-request-id'));
    const given = ['x'.repeat(129), 'two words', 'semi;colon', 'a,b', '"quoted"', ''];
    const ids = [await idOf({})];
    for (const id of given) ids.push(await idOf({ 'x-request-id': id }));
    for (const id of ids) expect(id).toMatch(UUID);
    expect(new Set(ids).size).toBe(ids.length);
    expect(await idOf({ 'x-request-id': 'y'.repeat(128) })).toBe('y'.repeat(128));
    for (const id of ids) expect(lines.join('')).toContain(id);
  });

  it('redacts the values of secret query parameters only, however their names are spelled', () => {
    expect(redactQuerySecrets('/a?page=2&sort=name')).toBe('/a?page=2&sort=name');
    expect(redactQuerySecrets('/a?apiKey=k1&KEY=k2&client_secret=s&_csrf=c&code=x&sig=y')).toBe(
      `/a?apiKey=${REDACTED}&KEY=${REDACTED}&client_secret=${REDACTED}&_csrf=${REDACTED}&code=${REDACTED}&sig=${REDACTED}`,
    );
    expect(redactQuerySecrets('/a?acc%65ss_token=t&x=%zz')).toBe(
      `/a?acc%65ss_token=${REDACTED}&x=%zz`,
    );
    expect(redactQuerySecrets('GET /a?token=t1 then /b?password=p&q=1#token=frag')).toBe(
      `GET /a?token=${REDACTED} then /b?password=${REDACTED}&q=1#token=frag`,
    );
    expect(redactQuerySecrets('/a?token')).toBe('/a?token');
  });
});

/** Query parameter names that must be redacted: spellings, array and bracket forms, encodings. */
const SECRET_NAMES = [
  'token',
  'token[]',
  'access_token[0]',
  'a[token]',
  'a[b][token]',
  'a.token',
  'api_key[]',
  '%74oken',
  '%2574oken',
  'acc%65ss_token',
  'Access+Token',
  '%EF%BD%94oken',
  'session',
  'sessionId',
  'sid',
  'PHPSESSID',
  'jsessionid',
  'jwt',
  'pwd',
  'pass',
  'passwd',
  'password',
  'user[password]',
  'new-password',
  'bearer',
  'authorization',
  'auth',
  'oauth',
  'key',
  'KEY',
  'key2',
  'apikey',
  'api-key',
  'API_KEY',
  'x-api-key',
  'secret',
  'client_secret',
  'signature',
  'X-Amz-Signature',
  'X-Amz-Credential',
  'X-Amz-Security-Token',
  'sig',
  'code',
  'auth_code',
  'csrf',
  '_csrf',
  'xsrf',
  'X-XSRF-TOKEN',
  'refresh_token',
  'id_token',
  'credential',
  'credentials',
  'private',
  'private_key',
  'otp',
  'totp',
  'pin',
  'client_assertion',
  'ticket',
];

/** Names that carry no secret and stay readable in logs. */
const ORDINARY_NAMES = [
  'page',
  'sort',
  'q',
  'author',
  'passenger',
  'footprint',
  'state',
  'scope',
  'client_id',
  'redirect_uri',
  'lang',
  'keyword',
  'a[b]',
  'limit[0]',
];

describe('which query parameters are redacted', () => {
  it.each(SECRET_NAMES)('redacts the value of %s', (name) => {
    expect(redactQuerySecrets(`/a?page=2&${name}=v4lue&sort=x`)).toBe(
      `/a?page=2&${name}=${REDACTED}&sort=x`,
    );
  });

  it.each(ORDINARY_NAMES)('keeps the value of %s', (name) => {
    expect(redactQuerySecrets(`/a?${name}=v4lue`)).toBe(`/a?${name}=v4lue`);
  });

  it('redacts matrix parameters and pairs hidden behind a semicolon', () => {
    expect(redactQuerySecrets('/a;jsessionid=S1?page=2')).toBe(`/a;jsessionid=${REDACTED}`);
    expect(redactQuerySecrets('/a?page=2;token=S2&q=1')).toBe(`/a?page=2;token=${REDACTED}&q=1`);
  });
});

describe("a real gateway's logs", () => {
  it('hold none of the secret query values, whichever path a request takes', async () => {
    const lines: string[] = [];
    const target = await startAttackTarget({
      routes: ({ upstream }) => [{ prefix: '/pub', upstream: upstream?.url ?? '', auth: 'none' }],
      config: { logLevel: 'trace' },
      logStream: { write: (line) => lines.push(line) },
    });
    targets.push(target);
    const values = SECRET_NAMES.map((_name, index) => `s3cret${index}x`);
    const query = SECRET_NAMES.map((name, index) => `${name}=${values[index]}`).join('&');
    const paths = [
      `/pub/logged-proxied?${query}`,
      `/logged-unknown?${query}`,
      `/v1/users/logged-v1/sessions?${query}`,
      `/%zz/logged-bad-url?${query}`,
    ];
    for (const path of paths) {
      const response = await rawRequest(target.port, requestText(path));
      expect(response.status).toBeGreaterThanOrEqual(200);
    }
    const tooLong = requestText(`/logged-overflow?${query}`, [`X-Filler: ${'f'.repeat(20_000)}`]);
    expect((await rawRequest(target.port, tooLong)).status).toBe(431);

    const log = lines.join('');
    for (const marker of ['logged-proxied', 'logged-unknown', 'logged-v1', 'logged-bad-url'])
      expect(log).toContain(marker);
    expect(log).toContain('malformed request refused');
    const leaked = values.filter((value) => log.includes(value));
    expect(leaked).toEqual([]);
  });

  it('write one access line per request, probes at debug, with the route, status, duration and user', async () => {
    const lines: string[] = [];
    const target = await startAttackTarget({
      routes: ({ upstream }) => [
        { prefix: '/api', upstream: upstream?.url ?? '', auth: 'session' },
      ],
      config: { logLevel: 'info' },
      logStream: { write: (line) => lines.push(line) },
    });
    targets.push(target);
    const alice = await signIn(target, 'alice');
    lines.length = 0;
    const call = (path: string, headers: Record<string, string> = {}) =>
      fetch(`${target.url}${path}`, {
        headers: { 'x-request-id': `req-${path.split('/')[1]}`, ...headers },
      });
    expect((await call('/healthz')).status).toBe(200);
    expect((await call('/api/orders?token=t0ps3cret', { cookie: alice.cookie })).status).toBe(200);
    expect(
      (await call('/v1/users/alice/sessions', { authorization: `Bearer ${target.adminToken}` }))
        .status,
    ).toBe(200);

    const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const access = entries.filter((entry) => entry.msg === 'request');
    expect(access.map((entry) => entry.route)).toEqual(['/api/*', '/v1/users/:userId/sessions']);
    const [proxied, service] = access as Array<Record<string, unknown> & { req: { url: string } }>;
    expect(proxied).toMatchObject({
      level: 30,
      reqId: 'req-api',
      req: { method: 'GET', url: `/api/orders?token=${REDACTED}` },
      status: 200,
      userId: 'alice',
    });
    expect(proxied?.time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    expect(proxied?.durationMs).toBeGreaterThanOrEqual(0);
    expect(service).toMatchObject({ status: 200, credential: 'root' });
    // One line per request: nothing else is logged for them at info.
    expect(entries.filter((entry) => entry.reqId === 'req-api')).toHaveLength(1);
    const log = lines.join('');
    for (const secret of ['t0ps3cret', target.adminToken, alice.cookie.split('=')[1] as string])
      expect(log).not.toContain(secret);
  });
});
