import { randomBytes, randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import { call } from './http-client.js';

/** The root credential every gateway in this suite is started with, made for this run. */
export const ADMIN_TOKEN = randomBytes(32).toString('base64url');
export const ADMIN = { authorization: `Bearer ${ADMIN_TOKEN}` };

/**
 * Creates a session over `/v1` with the admin token and returns its id. By
 * default each is a new user's, so that no user's session bound evicts another.
 */
export async function createSession(
  base: string,
  data: Record<string, unknown>,
  userId = `shopper-${randomUUID()}`,
): Promise<string> {
  const created = await call(base, 'POST', '/v1/sessions', {
    headers: ADMIN,
    body: { userId, data },
    timeoutMs: 10_000,
  });
  expect(created).toMatchObject({ kind: 'response', status: 201 });
  return (created as { body: { session: { id: string } } }).body.session.id;
}

/** The session's data as the gateway reads it now. */
export async function readSessionData(base: string, id: string): Promise<Record<string, unknown>> {
  const read = await call(base, 'GET', `/v1/sessions/${id}`, { headers: ADMIN, timeoutMs: 10_000 });
  expect(read).toMatchObject({ kind: 'response', status: 200 });
  return (read as { body: { session: { data: Record<string, unknown> } } }).body.session.data;
}

/** `PATCH /v1/sessions/:id` appending `item` to `/cart`, bounded by `timeoutMs`. */
export function appendToCart(base: string, id: string, item: string, timeoutMs: number) {
  return call(base, 'PATCH', `/v1/sessions/${id}`, {
    headers: ADMIN,
    contentType: 'application/json-patch+json',
    body: [{ op: 'add', path: '/cart/-', value: item }],
    timeoutMs,
  });
}
