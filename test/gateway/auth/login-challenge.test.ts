import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  LoginChallenges,
  leadingZeroBits,
  type ProofOfWork,
} from '../../../src/gateway/auth/index.js';
import { MemoryRateLimiter } from '../../../src/stores/index.js';
import { solveProofOfWork } from '../../security/support.js';

const TTL = 5 * 60_000;

function challenges(options: { difficulty?: number; secret?: Buffer } = {}) {
  const clock = { now: Date.UTC(2026, 0, 1) };
  const now = () => clock.now;
  const secret = options.secret ?? randomBytes(32);
  const make = (difficulty: number) =>
    new LoginChallenges({
      secret,
      difficulty,
      ttl: TTL,
      uses: new MemoryRateLimiter({ limit: 1, windowMs: TTL, clock: now }),
      clock: now,
    });
  return { clock, challenges: make(options.difficulty ?? 8), make };
}

/** A nonce that does not solve the challenge. */
function unsolved(offered: { challenge: string; difficulty: number }): ProofOfWork {
  for (let counter = 0; ; counter++) {
    const proof = { challenge: offered.challenge, nonce: `x${counter}` };
    const digest = createHash('sha256').update(`${proof.challenge}:${proof.nonce}`).digest();
    if (leadingZeroBits(digest) < offered.difficulty) return proof;
  }
}

describe('login challenges', () => {
  it('counts leading zero bits', () => {
    expect(leadingZeroBits(Buffer.from([0x00, 0x00, 0xff]))).toBe(16);
    expect(leadingZeroBits(Buffer.from([0x00, 0x01]))).toBe(15);
    expect(leadingZeroBits(Buffer.from([0x80]))).toBe(0);
    expect(leadingZeroBits(Buffer.from([0x00, 0x00]))).toBe(16);
  });

  it('accepts a solved challenge once, for the account it was issued to', async () => {
    const { challenges: pow } = challenges();
    const offered = pow.issue('alice');
    expect(offered).toMatchObject({ algorithm: 'sha256', difficulty: 8 });
    const proof = solveProofOfWork(offered);
    expect(await pow.redeem('bob', proof)).toBe('forged');
    expect(await pow.redeem('alice', proof)).toBeNull();
    expect(await pow.redeem('alice', proof)).toBe('reused');
  });

  it('refuses a wrong answer without spending the challenge', async () => {
    const { challenges: pow } = challenges({ difficulty: 12 });
    const offered = pow.issue('alice');
    expect(await pow.redeem('alice', unsolved(offered))).toBe('unsolved');
    expect(await pow.redeem('alice', solveProofOfWork(offered))).toBeNull();
  });

  it('refuses an expired challenge', async () => {
    const { challenges: pow, clock } = challenges();
    const offered = pow.issue('alice');
    const proof = solveProofOfWork(offered);
    clock.now += TTL;
    expect(await pow.redeem('alice', proof)).toBe('expired');
  });

  it('refuses a challenge whose fields were changed: an easier difficulty, a later expiry', async () => {
    const { challenges: pow } = challenges({ difficulty: 12 });
    const [version, expiresAt, , id, mac] = pow.issue('alice').challenge.split('.');
    for (const forged of [
      `${version}.${expiresAt}.1.${id}.${mac}`,
      `${version}.${Number(expiresAt) + TTL}.12.${id}.${mac}`,
    ]) {
      const proof = solveProofOfWork({ challenge: forged, difficulty: 12 });
      expect(await pow.redeem('alice', proof)).toBe('forged');
    }
  });

  it('refuses a challenge signed with another secret', async () => {
    const { challenges: ours } = challenges();
    const { challenges: theirs } = challenges();
    const proof = solveProofOfWork(theirs.issue('alice'));
    expect(await ours.redeem('alice', proof)).toBe('forged');
  });

  it('refuses a challenge issued at a difficulty lower than the one now required', async () => {
    const secret = randomBytes(32);
    const { make } = challenges({ secret });
    const easy = make(4).issue('alice');
    expect(await make(10).redeem('alice', solveProofOfWork(easy))).toBe('too easy');
  });

  it('refuses malformed challenges and nonces', async () => {
    const { challenges: pow } = challenges();
    const offered = pow.issue('alice');
    for (const proof of [
      { challenge: 'v1.1.8.x.y', nonce: '0' },
      { challenge: `${offered.challenge}.extra`, nonce: '0' },
      { challenge: offered.challenge.replace('v1.', 'v2.'), nonce: '0' },
      { challenge: offered.challenge, nonce: '' },
      { challenge: offered.challenge, nonce: 'with space' },
      { challenge: offered.challenge, nonce: 'x'.repeat(65) },
    ]) {
      expect(await pow.redeem('alice', proof)).toBe('malformed');
    }
  });
});
