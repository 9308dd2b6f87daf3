import { randomFillSync } from 'node:crypto';

/*
 * A CSRF token is masked with a fresh pad on every response that shows it.
 * One `randomBytes` call per pad is a trip into the CSPRNG for 32 bytes, which
 * under load cost more than the session read it rides on; the pads are cut
 * from a block filled at once instead (as Node's own randomUUID caches), and
 * no byte is handed out twice.
 */
const BLOCK_BYTES = 4096;
const block = Buffer.alloc(BLOCK_BYTES);
let offset = BLOCK_BYTES;

/** Fills `target` (at most 4096 bytes) from the CSPRNG. */
export function fillRandom(target: Buffer): void {
  if (target.length > BLOCK_BYTES) throw new RangeError(`at most ${BLOCK_BYTES} bytes at a time`);
  if (offset + target.length > BLOCK_BYTES) {
    randomFillSync(block);
    offset = 0;
  }
  block.copy(target, 0, offset, offset + target.length);
  offset += target.length;
}
