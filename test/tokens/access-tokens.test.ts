import { base64url, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { ConfigError, ValidationError } from '../../src/core/index.js';
import { MemoryRecordStore } from '../../src/stores/index.js';
import {
  AccessTokens,
  RecordTokenDenylist,
  SigningKeys,
  type TokenDenylist,
  TokenExpiredError,
  TokenInvalidError,
  TokenRevokedError,
} from '../../src/tokens/index.js';
import { sharedBackends } from '../support/record-backends.js';

const backends = sharedBackends('deny');

/** Denylists that instances share; each call is one more instance's handle on the same list. */
const sharedDenylists: [string, () => Promise<TokenDenylist>][] = [
  ['a Redis record store', async () => new RecordTokenDenylist(await backends.redisRecords())],
  ['a SQLite record store', async () => new RecordTokenDenylist(backends.sqliteRecords)],
  [
    'a PostgreSQL record store',
    async () => new RecordTokenDenylist(await backends.postgresRecords()),
  ],
];

const MINUTE = 60_000;

async function setup(options: { algorithm?: 'EdDSA' | 'ES256' } = {}) {
  const clock = { now: Date.UTC(2026, 10, 24, 12) };
  const keys = await SigningKeys.generate({ algorithm: options.algorithm, clock: () => clock.now });
  const tokens = new AccessTokens({
    keys,
    issuer: 'https://gateway.example',
    audience: 'orders-service',
    ttl: 5 * MINUTE,
    clockSkew: 30_000,
    denylist: new RecordTokenDenylist(new MemoryRecordStore()),
    clock: () => clock.now,
  });
  return { clock, keys, tokens };
}

/** A token issued for 5 minutes and revoked at once, through `denylist`. */
async function revokedWith(denylist: TokenDenylist) {
  const clock = { now: Date.now() };
  const tokens = new AccessTokens({
    keys: await SigningKeys.generate({ clock: () => clock.now }),
    issuer: 'gw',
    audience: 'svc',
    ttl: 5 * MINUTE,
    clock: () => clock.now,
    denylist,
  });
  const { claims } = await tokens.issue({ userId: 'alice', sessionId: 's1' });
  await tokens.revoke(claims);
  return claims;
}

/** Splits a compact JWS and re-joins it with one part replaced. */
function replacePart(token: string, index: 0 | 1 | 2, value: string): string {
  const parts = token.split('.');
  parts[index] = value;
  return parts.join('.');
}

const encodeJson = (value: unknown) => base64url.encode(JSON.stringify(value));

describe('AccessTokens', () => {
  for (const algorithm of ['EdDSA', 'ES256'] as const) {
    it(`issues a ${algorithm} token with kid and typ that verifies to its claims`, async () => {
      const { tokens, keys } = await setup({ algorithm });
      const { token, claims } = await tokens.issue({
        userId: 'alice',
        sessionId: 's1',
        scope: ['orders:read'],
      });
      const header = JSON.parse(Buffer.from(token.split('.')[0] as string, 'base64url').toString());
      expect(header).toEqual({ alg: algorithm, kid: keys.current().kid, typ: 'at+jwt' });
      expect(await tokens.verify(token)).toEqual(claims);
      expect(claims).toMatchObject({
        sub: 'alice',
        sid: 's1',
        scope: ['orders:read'],
        aud: 'orders-service',
      });
      expect(claims.exp - claims.iat).toBe(300);
    });
  }

  it('refuses every tampered or foreign token', async () => {
    const { tokens, clock } = await setup();
    const { token } = await tokens.issue({ userId: 'alice', sessionId: 's1' });
    const [header, payload] = token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    const other = await setup();
    const foreign = (await other.tokens.issue({ userId: 'alice', sessionId: 's1' })).token;
    const publicJwk = await exportJWK(
      (await generateKeyPair('EdDSA', { crv: 'Ed25519' })).publicKey,
    );
    const hmacWithPublicKey = await new SignJWT(claims)
      .setProtectedHeader({
        alg: 'HS256',
        kid: JSON.parse(Buffer.from(header, 'base64url').toString()).kid,
        typ: 'at+jwt',
      })
      .sign(new TextEncoder().encode(JSON.stringify(publicJwk)));
    const wrongAudience = await new AccessTokens({
      keys: (await setup()).keys,
      issuer: 'https://gateway.example',
      audience: 'billing-service',
      clock: () => clock.now,
    }).issue({ userId: 'alice', sessionId: 's1' });

    const cases: [string, string][] = [
      ['changed payload', replacePart(token, 1, encodeJson({ ...claims, sub: 'mallory' }))],
      ['alg none', `${encodeJson({ alg: 'none', typ: 'at+jwt' })}.${payload}.`],
      ['HMAC signed with the public key (alg confusion)', hmacWithPublicKey],
      ['signed by another key set (unknown kid)', foreign],
      ['wrong audience', wrongAudience.token],
      ['truncated signature', token.slice(0, -5)],
      ['not a JWT', 'hello'],
      ['empty', ''],
    ];
    for (const [what, candidate] of cases) {
      await expect(tokens.verify(candidate), what).rejects.toBeInstanceOf(TokenInvalidError);
    }
    // A verifier for another audience refuses ours too.
    const billing = new AccessTokens({
      keys: (await setup()).keys,
      issuer: 'https://gateway.example',
      audience: 'billing-service',
      clock: () => clock.now,
    });
    await expect(billing.verify(token)).rejects.toBeInstanceOf(TokenInvalidError);
  });

  it('honours the expiry with the configured clock skew', async () => {
    const { tokens, clock } = await setup();
    const { token } = await tokens.issue({ userId: 'alice', sessionId: 's1' });
    clock.now += 5 * MINUTE + 20_000; // past exp, within 30 s of skew
    await expect(tokens.verify(token)).resolves.toMatchObject({ sub: 'alice' });
    clock.now += 15_000;
    await expect(tokens.verify(token)).rejects.toBeInstanceOf(TokenExpiredError);
  });

  it('keeps verifying tokens of a rotated-out key until it retires, and the JWKS follows', async () => {
    const { tokens, keys, clock } = await setup();
    const old = await tokens.issue({ userId: 'alice', sessionId: 's1' });
    const oldKid = keys.current().kid;
    await keys.rotate(5 * MINUTE + 30_000);
    expect(keys.current().kid).not.toBe(oldKid);
    expect(keys.jwks().keys.map((key) => key.kid)).toEqual([keys.current().kid, oldKid]);
    expect(keys.jwks().keys.every((key) => key.d === undefined && key.use === 'sig')).toBe(true);
    await expect(tokens.verify(old.token)).resolves.toMatchObject({ jti: old.claims.jti });

    clock.now += 5 * MINUTE + 30_000;
    expect(keys.jwks().keys.map((key) => key.kid)).toEqual([keys.current().kid]);
    await expect(tokens.verify(old.token)).rejects.toBeInstanceOf(TokenInvalidError);
    const later = await tokens.issue({ userId: 'alice', sessionId: 's1' });
    await expect(tokens.verify(later.token)).resolves.toMatchObject({ jti: later.claims.jti });
  });

  it('remembers a checked signature, yet checks the denylist on every call and hands out copies', async () => {
    const { tokens, keys } = await setup();
    const { token, claims } = await tokens.issue({
      userId: 'alice',
      sessionId: 's1',
      scope: ['orders:read'],
    });
    const first = await tokens.verify(token);
    first.scope.push('orders:write');
    expect((await tokens.verify(token)).scope).toEqual(['orders:read']);
    await tokens.revoke(claims);
    await expect(tokens.verify(token)).rejects.toBeInstanceOf(TokenRevokedError);
    const [head, payload] = token.split('.');
    await expect(tokens.verify(`${head}.${payload}.${'A'.repeat(86)}`)).rejects.toBeInstanceOf(
      TokenInvalidError,
    );
    for (const verifiedMax of [-1, 1.5]) {
      expect(() => new AccessTokens({ keys, issuer: 'i', audience: 'a', verifiedMax })).toThrow(
        ValidationError,
      );
    }
  });

  it('refuses a revoked token until it would have expired', async () => {
    const { tokens } = await setup();
    const kept = await tokens.issue({ userId: 'alice', sessionId: 's1' });
    const revoked = await tokens.issue({ userId: 'alice', sessionId: 's1' });
    await tokens.revoke(revoked.claims);
    await expect(tokens.verify(revoked.token)).rejects.toBeInstanceOf(TokenRevokedError);
    await expect(tokens.verify(kept.token)).resolves.toMatchObject({ jti: kept.claims.jti });
  });

  for (const [name, openDenylist] of sharedDenylists) {
    it(`shares revocations between instances through ${name}`, async () => {
      const clock = { now: Date.now() };
      const keys = await SigningKeys.generate({ clock: () => clock.now });
      const denylists = [await openDenylist(), await openDenylist()];
      const [a, b] = denylists.map(
        (denylist) =>
          new AccessTokens({
            keys,
            issuer: 'gw',
            audience: 'svc',
            clock: () => clock.now,
            denylist,
          }),
      ) as [AccessTokens, AccessTokens];
      try {
        const { token, claims } = await a.issue({ userId: 'alice', sessionId: 's1' });
        await expect(b.verify(token)).resolves.toMatchObject({ sub: 'alice' });
        await a.revoke(claims);
        await expect(b.verify(token)).rejects.toBeInstanceOf(TokenRevokedError);
        const kept = await a.issue({ userId: 'alice', sessionId: 's1' });
        await expect(b.verify(kept.token)).resolves.toMatchObject({ jti: kept.claims.jti });
      } finally {
        await Promise.all(denylists.map((denylist) => denylist.close()));
      }
    });
  }

  for (const [name, openDenylist] of sharedDenylists) {
    it(`forgets a revoked jti in ${name} once its token would have expired, skew included`, async () => {
      const denylist = await openDenylist();
      const claims = await revokedWith(denylist);
      const expiresAt = claims.exp * 1000 + 30_000;
      expect(await denylist.has(claims.jti, expiresAt - 1)).toBe(true);
      expect(await denylist.has(claims.jti, expiresAt)).toBe(false);
    });
  }

  it('signs with a private key from configuration', async () => {
    const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    const jwk = await exportJWK(privateKey);
    const keys = await SigningKeys.fromPrivateJwk(jwk);
    const tokens = new AccessTokens({ keys, issuer: 'gw', audience: 'svc' });
    const { token } = await tokens.issue({ userId: 'u', sessionId: 's' });
    await expect(tokens.verify(token)).resolves.toMatchObject({ sub: 'u' });
    expect(keys.jwks().keys[0]?.x).toBe(jwk.x);
  });

  it('takes the algorithm from a configured key, and refuses keys it cannot sign with as ConfigError', async () => {
    const ec = await exportJWK((await generateKeyPair('ES256', { extractable: true })).privateKey);
    const fromEc = await SigningKeys.fromPrivateJwk(ec);
    expect(fromEc.algorithm).toBe('ES256');
    const tokens = new AccessTokens({ keys: fromEc, issuer: 'gw', audience: 'svc' });
    const { token } = await tokens.issue({ userId: 'u', sessionId: 's' });
    await expect(tokens.verify(token)).resolves.toMatchObject({ sub: 'u' });

    const rsa = await exportJWK((await generateKeyPair('RS256', { extractable: true })).privateKey);
    const p384 = await exportJWK(
      (await generateKeyPair('ES384', { extractable: true })).privateKey,
    );
    const ed = await exportJWK(
      (await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true })).privateKey,
    );
    const { d: _d, ...publicOnly } = ed;
    for (const [jwk, options] of [
      [rsa, {}],
      [p384, {}],
      [publicOnly, {}],
      [{ ...ed, x: ec.x }, {}],
      [ed, { algorithm: 'ES256' as const }],
    ] as const) {
      await expect(SigningKeys.fromPrivateJwk(jwk, options)).rejects.toBeInstanceOf(ConfigError);
    }
  });

  it('refuses bad input to issue and a revoke without a denylist', async () => {
    const { tokens, keys } = await setup();
    await expect(tokens.issue({ userId: '', sessionId: 's' })).rejects.toBeInstanceOf(
      ValidationError,
    );
    const plain = new AccessTokens({ keys, issuer: 'gw', audience: 'svc' });
    await expect(plain.revoke({ jti: 'x', exp: 1 })).rejects.toBeInstanceOf(ValidationError);
    expect(() => new AccessTokens({ keys, issuer: 'gw', audience: 'svc', ttl: 10 })).toThrow(
      ValidationError,
    );
  });
});
