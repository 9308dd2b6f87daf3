import { createHash, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import type { RateLimiter } from '../../core/index.js';

/**
 * What a client must solve to try an account that is past its failed-login
 * ceiling: find any `nonce` (1–64 printable ASCII characters) such that
 * SHA-256 of the UTF-8 text `<challenge>:<nonce>` starts with `difficulty`
 * zero bits, and send `{ challenge, nonce }` back before `expiresAt`.
 */
export interface ProofOfWorkChallenge {
  algorithm: 'sha256';
  challenge: string;
  difficulty: number;
  expiresAt: string;
}

/** A solved challenge, as the client sends it with its credentials. */
export interface ProofOfWork {
  challenge: string;
  nonce: string;
}

/** Why a proof was not accepted. */
export type ProofRejection =
  | 'malformed'
  | 'forged'
  | 'expired'
  | 'too easy'
  | 'unsolved'
  | 'reused';

export interface LoginChallengesOptions {
  /** Gateways that share limits must share it; the MAC key is derived from it. */
  secret: string | Uint8Array;
  /** Leading zero bits a proof needs (each one doubles the expected work). */
  difficulty: number;
  /** How long a challenge may be answered, in ms. */
  ttl: number;
  /**
   * Remembers the challenges already answered (limit 1, a window of at least
   * `ttl`), so that one solution opens one attempt; shared like the login limits.
   */
  uses: RateLimiter;
  clock?: () => number;
}

const VERSION = 'v1';
const NONCE = /^[\x21-\x7e]{1,64}$/;
const CHALLENGE = /^v1\.(\d{1,15})\.(\d{1,2})\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/;

/**
 * Stateless hashcash-style challenges for logins. A challenge is
 * `v1.<expires at, epoch ms>.<difficulty>.<random id>.<HMAC>`, the HMAC
 * (SHA-256) binding those fields to one account, so a gateway verifies it
 * without having stored it, and a solution for one account or an easier
 * difficulty does not serve another. Only the id of an answered challenge is
 * remembered, until it would have expired anyway.
 */
export class LoginChallenges {
  readonly difficulty: number;
  readonly #key: Buffer;
  readonly #ttl: number;
  readonly #uses: RateLimiter;
  readonly #clock: () => number;

  constructor(options: LoginChallengesOptions) {
    this.difficulty = options.difficulty;
    this.#key = Buffer.from(
      hkdfSync('sha256', options.secret, 'clawsession', 'login proof-of-work challenge', 32),
    );
    this.#ttl = options.ttl;
    this.#uses = options.uses;
    this.#clock = options.clock ?? Date.now;
  }

  /** A new challenge for `account` (its `usernameKey`). */
  issue(account: string): ProofOfWorkChallenge {
    const expiresAt = Math.floor(this.#clock()) + this.#ttl;
    const fields = `${VERSION}.${expiresAt}.${this.difficulty}.${randomBytes(16).toString('base64url')}`;
    return {
      algorithm: 'sha256',
      challenge: `${fields}.${this.#mac(fields, account)}`,
      difficulty: this.difficulty,
      expiresAt: new Date(expiresAt).toISOString(),
    };
  }

  /**
   * Null when `proof` solves a live challenge issued for `account` at the
   * current difficulty or above, and was not answered before (it is spent
   * now); otherwise why not. The cheap checks come first, so a wrong answer
   * does not spend the challenge.
   */
  async redeem(account: string, proof: ProofOfWork): Promise<ProofRejection | null> {
    const parsed = CHALLENGE.exec(proof.challenge);
    if (!parsed || !NONCE.test(proof.nonce)) return 'malformed';
    const [, expiresAt, difficulty, id] = parsed as unknown as [string, string, string, string];
    const fields = proof.challenge.slice(0, proof.challenge.lastIndexOf('.'));
    const mac = Buffer.from(proof.challenge.slice(fields.length + 1));
    const expected = Buffer.from(this.#mac(fields, account));
    if (mac.length !== expected.length || !timingSafeEqual(mac, expected)) return 'forged';
    if (Number(expiresAt) <= this.#clock()) return 'expired';
    if (Number(difficulty) < this.difficulty) return 'too easy';
    if (leadingZeroBits(proofDigest(proof)) < Number(difficulty)) return 'unsolved';
    const use = await this.#uses.consume(`login:challenge:${id}`);
    return use.allowed ? null : 'reused';
  }

  #mac(fields: string, account: string): string {
    return createHmac('sha256', this.#key).update(`${fields}\n${account}`).digest('base64url');
  }
}

/** SHA-256 of `<challenge>:<nonce>`: what must start with `difficulty` zero bits. */
export function proofDigest(proof: ProofOfWork): Buffer {
  return createHash('sha256').update(`${proof.challenge}:${proof.nonce}`).digest();
}

/** How many bits at the start of `bytes` are zero. */
export function leadingZeroBits(bytes: Uint8Array): number {
  let bits = 0;
  for (const byte of bytes) {
    if (byte !== 0) return bits + Math.clz32(byte) - 24;
    bits += 8;
  }
  return bits;
}
