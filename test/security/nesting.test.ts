import { afterEach, describe, expect, it } from 'vitest';
import { MAX_SESSION_DATA_DEPTH } from '../../src/core/index.js';
import { type AttackTarget, startAttackTarget } from './support.js';

const targets: AttackTarget[] = [];
afterEach(async () => {
  await Promise.all(targets.splice(0).map((target) => target.close()));
});

async function start() {
  const target = await startAttackTarget();
  targets.push(target);
  async function call(method: string, path: string, body?: string) {
    const response = await fetch(`${target.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${target.adminToken}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body,
    });
    const text = await response.text();
    return { status: response.status, json: JSON.parse(text) };
  }
  const created = await call('POST', '/v1/sessions', JSON.stringify({ userId: 'alice' }));
  const sessionPath = `/v1/sessions/${created.json.session.id}`;
  return { call, sessionPath };
}

/** `levels` nested objects: `nested(2)` is `{"n":{"n":{}}}`. */
function nested(levels: number): string {
  return `${'{"n":'.repeat(levels)}{}${'}'.repeat(levels)}`;
}

describe('session data nesting through /v1', () => {
  // 60 levels a step reached the stack overflow in the MessagePack encoder (a 500) at about 1,400 levels.
  for (const levelsPerPatch of [1, 60]) {
    it(`growing a session by ${levelsPerPatch} level${levelsPerPatch > 1 ? 's' : ''} per PATCH is a 400 at the first step past the cap, never a 500`, async () => {
      const { call, sessionPath } = await start();
      let depth = 0;
      let refused: { status: number; json: { error: { code: string } } } | undefined;
      let before: unknown;
      for (let patches = 0; refused === undefined && patches < 300; patches++) {
        before = (await call('GET', sessionPath)).json;
        const path = '/n'.repeat(depth + 1);
        const patched = await call(
          'PATCH',
          sessionPath,
          `[{"op":"add","path":"${path}","value":${nested(levelsPerPatch - 1)}}]`,
        );
        if (patched.status === 200) depth += levelsPerPatch;
        else refused = patched;
      }
      expect(refused).toMatchObject({ status: 400, json: { error: { code: 'ERR_VALIDATION' } } });
      expect(depth).toBeLessThanOrEqual(MAX_SESSION_DATA_DEPTH);
      expect(depth + levelsPerPatch).toBeGreaterThan(MAX_SESSION_DATA_DEPTH);
      expect((await call('GET', sessionPath)).json).toEqual(before);
    });
  }

  it('answers a 100,000-deep JSON body with a 400, not a stack overflow', async () => {
    const { call, sessionPath } = await start();
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    const attempts = [
      await call('PATCH', sessionPath, deep),
      await call('PATCH', sessionPath, `[{"op":"add","path":"/x","value":${deep}}]`),
      await call('POST', '/v1/sessions', `{"userId":"bob","data":{"x":${deep}}}`),
    ];
    for (const reply of attempts) {
      expect(reply.status).toBe(400);
      expect(reply.json.error.code).toMatch(/^ERR_/);
    }
    expect((await call('GET', sessionPath)).json.session.version).toBe(1);
  });
});
