import { createPrivateKey, createPublicKey, type JsonWebKey } from 'node:crypto';
import {
  type CryptoKey,
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWK,
} from 'jose';
import { ConfigError } from '../core/index.js';

export type SigningAlgorithm = 'EdDSA' | 'ES256';

interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  publicJwk: JWK;
  /** When the key stops verifying: null while it signs, set when a newer key replaces it. */
  retiresAt: number | null;
}

export interface SigningKeysOptions {
  algorithm?: SigningAlgorithm;
  clock?: () => number;
}

/**
 * The keys that sign access tokens: one current key, and the keys it replaced,
 * which keep verifying (and stay in the JWKS) until the tokens they signed
 * have expired. Key ids are RFC 7638 thumbprints.
 */
export class SigningKeys {
  readonly algorithm: SigningAlgorithm;
  readonly #clock: () => number;
  readonly #keys: SigningKey[] = [];

  private constructor(algorithm: SigningAlgorithm, clock: () => number) {
    this.algorithm = algorithm;
    this.#clock = clock;
  }

  /** A key set with one freshly generated key. */
  static async generate(options: SigningKeysOptions = {}): Promise<SigningKeys> {
    const keys = new SigningKeys(options.algorithm ?? 'EdDSA', options.clock ?? Date.now);
    keys.#keys.push(await keys.#newKey());
    return keys;
  }

  /**
   * A new private JWK for configuration (`signingKey`), which `fromPrivateJwk`
   * loads: the one key every gateway of a fleet shares.
   */
  static async generatePrivateJwk(algorithm: SigningAlgorithm = 'EdDSA'): Promise<JWK> {
    return exportJWK((await generatePair(algorithm, { extractable: true })).privateKey);
  }

  /**
   * A key set signing with a private JWK from configuration. The algorithm
   * follows the key (an Ed25519 OKP key signs EdDSA, a P-256 EC key ES256)
   * unless `algorithm` says otherwise; a key that cannot sign it is a ConfigError.
   */
  static async fromPrivateJwk(jwk: JWK, options: SigningKeysOptions = {}): Promise<SigningKeys> {
    const algorithm = options.algorithm ?? checkSigningJwk(jwk);
    const keys = new SigningKeys(algorithm, options.clock ?? Date.now);
    const { d: _private, ...publicFields } = jwk;
    let privateKey: CryptoKey;
    let publicKey: CryptoKey;
    try {
      privateKey = (await importJWK(jwk, algorithm)) as CryptoKey;
      publicKey = (await importJWK(publicFields, algorithm)) as CryptoKey;
    } catch (error) {
      throw new ConfigError(
        `the signing JWK is not a usable ${algorithm} key: ${(error as Error).message}`,
      );
    }
    keys.#keys.push(await keys.#describe(privateKey, publicKey));
    return keys;
  }

  /**
   * Signs with a new key from now on. The replaced key keeps verifying for
   * `retireAfter` ms: at least the access token lifetime plus the clock skew.
   */
  async rotate(retireAfter: number): Promise<void> {
    const replaced = this.current();
    replaced.retiresAt = this.#clock() + retireAfter;
    this.#keys.unshift(await this.#newKey());
  }

  current(): SigningKey {
    return this.#keys[0] as SigningKey;
  }

  /** The public key for `kid` if it may still verify at `now`. */
  verificationKey(kid: string | undefined, now: number): CryptoKey | undefined {
    this.#dropRetired(now);
    return this.#keys.find((key) => key.kid === kid)?.publicKey;
  }

  /** The JSON Web Key Set other services verify against. */
  jwks(): { keys: JWK[] } {
    this.#dropRetired(this.#clock());
    return { keys: this.#keys.map((key) => key.publicJwk) };
  }

  #dropRetired(now: number): void {
    for (let i = this.#keys.length - 1; i > 0; i--) {
      const retiresAt = this.#keys[i]?.retiresAt;
      if (retiresAt != null && retiresAt <= now) this.#keys.splice(i, 1);
    }
  }

  async #newKey(): Promise<SigningKey> {
    const { privateKey, publicKey } = await generatePair(this.algorithm);
    return this.#describe(privateKey, publicKey);
  }

  async #describe(privateKey: CryptoKey, publicKey: CryptoKey): Promise<SigningKey> {
    const jwk = await exportJWK(publicKey);
    const kid = await calculateJwkThumbprint(jwk);
    return {
      kid,
      privateKey,
      publicKey,
      publicJwk: { ...jwk, kid, alg: this.algorithm, use: 'sig' },
      retiresAt: null,
    };
  }
}

/** A key pair for `algorithm`: Ed25519 for EdDSA, P-256 for ES256. */
function generatePair(algorithm: SigningAlgorithm, options: { extractable?: boolean } = {}) {
  return algorithm === 'EdDSA'
    ? generateKeyPair('EdDSA', { crv: 'Ed25519', ...options })
    : generateKeyPair('ES256', options);
}

/** The algorithm a private JWK's key type signs with here. */
/**
 * The algorithm of a private signing JWK, or ConfigError when it is not a
 * whole Ed25519 or P-256 private key. Synchronous, so configuration checks
 * refuse a bad key before anything starts.
 */
export function checkSigningJwk(jwk: JWK): SigningAlgorithm {
  if (typeof jwk.d !== 'string') throw new ConfigError('the signing JWK must be a private key');
  const algorithm = algorithmOf(jwk);
  let derived: JsonWebKey;
  try {
    derived = createPublicKey(createPrivateKey({ key: jwk as JsonWebKey, format: 'jwk' })).export({
      format: 'jwk',
    });
  } catch (error) {
    throw new ConfigError(
      `the signing JWK is not a usable ${algorithm} key: ${(error as Error).message}`,
    );
  }
  // Tokens are signed with `d` but verified with the published x (and y): they must be one key.
  if (derived.x !== jwk.x || derived.y !== jwk.y)
    throw new ConfigError(
      `the signing JWK is not a usable ${algorithm} key: its public part does not match its private part`,
    );
  return algorithm;
}

function algorithmOf(jwk: JWK): SigningAlgorithm {
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return 'EdDSA';
  if (jwk.kty === 'EC' && jwk.crv === 'P-256') return 'ES256';
  throw new ConfigError(
    `a signing JWK must be an Ed25519 (OKP) or P-256 (EC) key, not ${jwk.kty ?? 'an untyped key'}${jwk.crv ? ` ${jwk.crv}` : ''}`,
  );
}
