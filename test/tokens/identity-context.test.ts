import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { base64url, createLocalJWKSet, exportJWK, SignJWT } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, ValidationError } from '../../src/core/index.js';
import { toErrorResponse } from '../../src/http/index.js';
import {
  AccessTokens,
  IDENTITY_CONTEXT_HEADER,
  IdentityContextError,
  IdentityContextKeysUnavailableError,
  IdentityContexts,
  identityFromRequest,
  SigningKeys,
  TokenInvalidError,
  verifyIdentityContext,
} from '../../src/tokens/index.js';

const ISSUER = 'https://gateway.example';
const AUDIENCE = 'upstreams';
const MINUTE = 60_000;

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(
    servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))),
  );
});

/** A real HTTP server on 127.0.0.1 answering every request with `respond`. */
async function serve(respond: () => { status: number; body: unknown }): Promise<URL> {
  const server = createServer((_request, response) => {
    const { status, body } = respond();
    response.writeHead(status, { 'content-type': 'application/json' });
    response.end(JSON.stringify(body));
  });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return new URL(`http://127.0.0.1:${port}/.well-known/jwks.json`);
}

/** A signer and the JWKS URL it publishes on, fresh for each test (so no verifier cache is shared). */
async function setup(options: { algorithm?: 'EdDSA' | 'ES256' } = {}) {
  const keyClock = { now: Date.now() };
  const keys = await SigningKeys.generate({
    algorithm: options.algorithm,
    clock: () => keyClock.now,
  });
  const contexts = new IdentityContexts({ keys, issuer: ISSUER, audience: AUDIENCE });
  const jwks = await serve(() => ({ status: 200, body: keys.jwks() }));
  const verify = (header: string | undefined, overrides: Record<string, unknown> = {}) =>
    verifyIdentityContext(header, { jwks, issuer: ISSUER, audience: AUDIENCE, ...overrides });
  return { keys, keyClock, contexts, jwks, verify };
}

const alice = {
  userId: 'alice',
  sessionId: 'a'.repeat(64),
  roles: ['admin', 'billing'],
  scopes: ['orders:read', 'orders:write'],
  via: 'session' as const,
};

function decodePart(token: string, index: 0 | 1): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[index] as string, 'base64url').toString());
}

describe('identity contexts', () => {
  for (const algorithm of ['EdDSA', 'ES256'] as const) {
    it(`round-trips a ${algorithm} context through a JWKS served over HTTP`, async () => {
      const { contexts, keys, verify } = await setup({ algorithm });
      const before = Date.now();
      const context = await contexts.sign(alice);
      expect(decodePart(context, 0)).toEqual({
        alg: algorithm,
        kid: keys.current().kid,
        typ: 'clawsession-context+jwt',
      });
      expect(decodePart(context, 1)).toMatchObject({
        iss: ISSUER,
        aud: AUDIENCE,
        sub: 'alice',
        sid: alice.sessionId,
        roles: ['admin', 'billing'],
        scope: 'orders:read orders:write',
        via: 'session',
      });
      const verified = await verify(context);
      expect(verified).toMatchObject({
        userId: 'alice',
        sessionId: alice.sessionId,
        roles: ['admin', 'billing'],
        scopes: ['orders:read', 'orders:write'],
        via: 'session',
      });
      expect(verified.id).toMatch(/^[A-Za-z0-9_-]{22}$/);
      expect(verified.expiresAt - verified.issuedAt).toBe(MINUTE);
      expect(verified.issuedAt).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    });
  }

  it('carries an identity without a session, roles or scopes', async () => {
    const { contexts, verify } = await setup();
    const context = await contexts.sign({ userId: 'svc', sessionId: null, via: 'api-key' });
    await expect(verify(context)).resolves.toMatchObject({
      userId: 'svc',
      sessionId: null,
      roles: [],
      scopes: [],
      via: 'api-key',
    });
  });

  it('reads the header from node:http and Fetch API headers alike', async () => {
    const { contexts, jwks } = await setup();
    const context = await contexts.sign(alice);
    const options = { jwks, issuer: ISSUER, audience: AUDIENCE };
    await expect(
      identityFromRequest({ [IDENTITY_CONTEXT_HEADER]: context, host: 'x' }, options),
    ).resolves.toMatchObject({ userId: 'alice' });
    await expect(
      identityFromRequest(new Headers({ 'X-Clawsession-Context': context }), options),
    ).resolves.toMatchObject({ userId: 'alice' });
    await expect(identityFromRequest({ host: 'x' }, options)).rejects.toBeInstanceOf(
      IdentityContextError,
    );
    // Sent twice: neither copy is picked.
    await expect(
      identityFromRequest({ [IDENTITY_CONTEXT_HEADER]: [context, context] }, options),
    ).rejects.toBeInstanceOf(IdentityContextError);
  });

  it('accepts a key lookup function in place of a URL', async () => {
    const { contexts, keys } = await setup();
    const context = await contexts.sign(alice);
    await expect(
      verifyIdentityContext(context, {
        jwks: createLocalJWKSet(keys.jwks()),
        issuer: ISSUER,
        audience: AUDIENCE,
      }),
    ).resolves.toMatchObject({ userId: 'alice' });
  });

  it('refuses every missing, tampered, foreign or mistyped context with ERR_CONTEXT_INVALID', async () => {
    const { contexts, keys, verify } = await setup();
    const context = await contexts.sign(alice);
    const [header, payload, signature] = context.split('.') as [string, string, string];
    const claims = decodePart(context, 1);
    const json = (value: unknown) => base64url.encode(JSON.stringify(value));

    const foreignKeys = await SigningKeys.generate();
    const foreign = await new IdentityContexts({
      keys: foreignKeys,
      issuer: ISSUER,
      audience: AUDIENCE,
    }).sign(alice);
    // The right kid in the header, but signed by another key.
    const impostor = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'EdDSA', kid: keys.current().kid, typ: 'clawsession-context+jwt' })
      .sign(foreignKeys.current().privateKey);
    const hmacWithPublicKey = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', kid: keys.current().kid, typ: 'clawsession-context+jwt' })
      .sign(new TextEncoder().encode(JSON.stringify(await exportJWK(keys.current().publicKey))));
    const otherAudience = await new IdentityContexts({
      keys,
      issuer: ISSUER,
      audience: 'billing',
    }).sign(alice);
    const otherIssuer = await new IdentityContexts({
      keys,
      issuer: 'https://elsewhere.example',
      audience: AUDIENCE,
    }).sign(alice);
    const accessToken = await new AccessTokens({ keys, issuer: ISSUER, audience: AUDIENCE }).issue({
      userId: 'alice',
      sessionId: alice.sessionId,
    });
    const untyped = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'EdDSA', kid: keys.current().kid })
      .sign(keys.current().privateKey);
    const malformedClaims = await new SignJWT({ ...claims, roles: 'admin' })
      .setProtectedHeader({ alg: 'EdDSA', kid: keys.current().kid, typ: 'clawsession-context+jwt' })
      .sign(keys.current().privateKey);

    const cases: [string, string | undefined][] = [
      ['missing header', undefined],
      ['empty header', ''],
      ['not a JWS', 'hello'],
      ['changed payload', `${header}.${json({ ...claims, sub: 'mallory' })}.${signature}`],
      ['changed roles', `${header}.${json({ ...claims, roles: ['root'] })}.${signature}`],
      ['truncated signature', context.slice(0, -4)],
      ['alg none', `${json({ alg: 'none', typ: 'clawsession-context+jwt' })}.${payload}.AAAA`],
      ['HMAC signed with the public key (alg confusion)', hmacWithPublicKey],
      ['signed by an unknown key', foreign],
      ['signed by another key under our kid', impostor],
      ['for another audience', otherAudience],
      ['from another issuer', otherIssuer],
      ['an access token (typ at+jwt)', accessToken.token],
      ['no typ at all', untyped],
      ['claims of the wrong shape', malformedClaims],
      ['oversize', `${header}.${'A'.repeat(9000)}.${signature}`],
    ];
    for (const [what, candidate] of cases) {
      const error = await verify(candidate).catch((caught: unknown) => caught);
      expect(error, what).toBeInstanceOf(IdentityContextError);
      expect((error as IdentityContextError).code, what).toBe('ERR_CONTEXT_INVALID');
      expect(toErrorResponse(error).status, what).toBe(401);
    }
  });

  it('is never accepted as an access token either', async () => {
    const { contexts, keys } = await setup();
    const tokens = new AccessTokens({ keys, issuer: ISSUER, audience: AUDIENCE });
    await expect(tokens.verify(await contexts.sign(alice))).rejects.toBeInstanceOf(
      TokenInvalidError,
    );
  });

  it('expires after its ttl, within the clock tolerance', async () => {
    const { contexts, verify } = await setup();
    const context = await contexts.sign(alice);
    const at = (offset: number) => () => Date.now() + offset;
    await expect(verify(context, { clock: at(MINUTE + 3000) })).resolves.toMatchObject({
      userId: 'alice',
    });
    const error = await verify(context, { clock: at(MINUTE + 7000) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IdentityContextError);
    expect((error as Error).message).toBe('identity context has expired');
    await expect(
      verify(context, { clock: at(MINUTE + 7000), clockTolerance: 10_000 }),
    ).resolves.toMatchObject({ userId: 'alice' });
  });

  it('keeps verifying a rotated-out key until it retires, then refuses it', async () => {
    const signedBeforeRotation = async () => {
      const fixture = await setup();
      const context = await fixture.contexts.sign(alice);
      await fixture.keys.rotate(2 * MINUTE);
      return { ...fixture, context };
    };
    const retiring = await signedBeforeRotation();
    await expect(retiring.verify(retiring.context)).resolves.toMatchObject({ userId: 'alice' });

    const retired = await signedBeforeRotation();
    retired.keyClock.now += 2 * MINUTE;
    expect(retired.keys.jwks().keys).toHaveLength(1);
    await expect(retired.verify(retired.context)).rejects.toBeInstanceOf(IdentityContextError);
    // The key that replaced it signs contexts the same upstream accepts.
    await expect(retired.verify(await retired.contexts.sign(alice))).resolves.toMatchObject({
      userId: 'alice',
    });
  });

  it('says the keys are unavailable (503), not the context invalid, when the JWKS cannot be fetched', async () => {
    const { contexts } = await setup();
    const context = await contexts.sign(alice);
    const failing = await serve(() => ({ status: 500, body: { error: 'down' } }));
    const closed = await serve(() => ({ status: 200, body: {} }));
    await new Promise((resolve) => servers.pop()?.close(resolve));
    const notAKeySet = await serve(() => ({ status: 200, body: { keys: 'none' } }));
    for (const jwks of [failing, closed, notAKeySet]) {
      const error = await verifyIdentityContext(context, {
        jwks,
        issuer: ISSUER,
        audience: AUDIENCE,
      }).catch((e: unknown) => e);
      expect(error, jwks.href).toBeInstanceOf(IdentityContextKeysUnavailableError);
      expect(toErrorResponse(error).status).toBe(503);
    }
  });

  it('refuses a JWKS location that is not an http(s) URL', async () => {
    const { contexts } = await setup();
    const context = await contexts.sign(alice);
    for (const jwks of ['not a url', 'file:///etc/jwks.json']) {
      await expect(
        verifyIdentityContext(context, { jwks, issuer: ISSUER, audience: AUDIENCE }),
      ).rejects.toBeInstanceOf(ConfigError);
    }
  });

  it('hands out one signed context per identity and audience for reuseFor, then signs anew', async () => {
    const keys = await SigningKeys.generate();
    const clock = { now: Date.UTC(2026, 0, 1) };
    const contexts = new IdentityContexts({
      keys,
      issuer: ISSUER,
      audience: AUDIENCE,
      clock: () => clock.now,
    });
    expect(contexts.reuseFor).toBe(30_000);
    const first = await contexts.sign(alice);
    clock.now += 29_000;
    expect(await contexts.sign(alice)).toBe(first);
    expect(await contexts.sign({ ...alice, roles: ['admin'] })).not.toBe(first);
    expect(await contexts.sign(alice, { audience: 'billing' })).not.toBe(first);
    expect(await contexts.sign({ ...alice, sessionId: 'b'.repeat(64) })).not.toBe(first);
    clock.now += 1_000;
    const second = await contexts.sign(alice);
    expect(second).not.toBe(first);
    // What is handed out always has at least ttl - reuseFor to live.
    expect((decodePart(second, 1).exp as number) * 1000 - clock.now).toBeGreaterThanOrEqual(30_000);

    await keys.rotate(MINUTE);
    expect(decodePart(await contexts.sign(alice), 0).kid).toBe(keys.current().kid);

    const every = new IdentityContexts({ keys, issuer: ISSUER, audience: AUDIENCE, reuseFor: 0 });
    expect(await every.sign(alice)).not.toBe(await every.sign(alice));
    for (const reuseFor of [-1, 1.5, MINUTE]) {
      expect(
        () => new IdentityContexts({ keys, issuer: ISSUER, audience: AUDIENCE, reuseFor }),
      ).toThrow(ValidationError);
    }
  });

  it('refuses to sign a malformed identity', async () => {
    const { contexts, keys } = await setup();
    const bad = [
      { ...alice, userId: '' },
      { ...alice, sessionId: '' },
      { ...alice, scopes: ['two words'] },
      { ...alice, roles: [''] },
      { ...alice, via: 'cookie' },
    ];
    for (const identity of bad) {
      await expect(
        contexts.sign(identity as Parameters<IdentityContexts['sign']>[0]),
        JSON.stringify(identity),
      ).rejects.toBeInstanceOf(ValidationError);
    }
    expect(
      () => new IdentityContexts({ keys, issuer: ISSUER, audience: AUDIENCE, ttl: 10 }),
    ).toThrow(ValidationError);
  });
});
