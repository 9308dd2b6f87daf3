import type { CreateSessionInput, PatchOperation, SessionData } from '../../src/core/index.js';
import { CSRF_DATA_KEY, newCsrfToken } from '../../src/http/csrf.js';
import { ROLES_DATA_KEY } from '../../src/http/reserved-data.js';

/*
 * The reference session of issue 14 as the gateway stores it after a cookie
 * login (`RequestSession.login` in src/http/session-middleware.ts): the
 * application's data (a user and a ten-item cart), the roles the credential
 * source granted and the CSRF secret under their reserved keys, and the
 * client's address and User-Agent on the record.
 */

export const REFERENCE_USER = { id: 12345, name: 'alice' };
export const CART_ITEM = { sku: 'SKU-000123', qty: 2, price: 19.99 };
/** One granted role: the built-in user source grants none unless told, an upstream source usually one or two. */
export const REFERENCE_ROLES = ['customer'];
export const REFERENCE_IP = '203.0.113.42';
/** A current desktop Chrome User-Agent, the length most sessions carry. */
export const REFERENCE_USER_AGENT =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';

/** The application's part of the data, before the gateway adds its reserved keys. */
export function applicationData(): SessionData {
  return {
    user: { ...REFERENCE_USER },
    cart: Array.from({ length: 10 }, () => ({ ...CART_ITEM })),
  };
}

/**
 * The n-th reference session. User ids are eight characters, one user per
 * session, so the user index spreads as it would over many users.
 */
export function referenceSession(n: number): CreateSessionInput {
  return {
    userId: `u${String(n).padStart(7, '0')}`,
    data: {
      ...applicationData(),
      [ROLES_DATA_KEY]: [...REFERENCE_ROLES],
      [CSRF_DATA_KEY]: newCsrfToken(),
    },
    ip: REFERENCE_IP,
    userAgent: REFERENCE_USER_AGENT,
  };
}

/** A cart append that drops the oldest item, as the HTTP bench's POST /cart does: every update writes the same size. */
export const CART_APPEND: readonly PatchOperation[] = [
  { op: 'add', path: '/cart/-', value: { sku: 'SKU-000124', qty: 1, price: 4.5 } },
  { op: 'remove', path: '/cart/0' },
];
