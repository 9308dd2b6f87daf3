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

  /** A key set signing with a private JWK from configuration (its `alg` must match). */
  static async fromPrivateJwk(jwk: JWK, options: SigningKeysOptions = {}): Promise<SigningKeys> {
    const algorithm = options.algorithm ?? 'EdDSA';
    if (jwk.d === undefined) throw new ConfigError('the signing JWK must be a private key');
    const keys = new SigningKeys(algorithm, options.clock ?? Date.now);
    const privateKey = (await importJWK(jwk, algorithm)) as CryptoKey;
    const { d: _private, ...publicFields } = jwk;
    keys.#keys.push(
      await keys.#describe(privateKey, (await importJWK(publicFields, algorithm)) as CryptoKey),
    );
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
    const { privateKey, publicKey } =
      this.algorithm === 'EdDSA'
        ? await generateKeyPair('EdDSA', { crv: 'Ed25519' })
        : await generateKeyPair('ES256');
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
