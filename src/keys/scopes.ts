import { ValidationError } from '../core/index.js';

/**
 * What an API key may do. Scopes do not imply one another: a key that should
 * read and write sessions is given both. `metrics:read` is for scrapers: it
 * reads `/metrics` and nothing else. `audit:read` reads the audit log
 * (`/admin/audit`): who did what to which session, for security staff.
 */
export const API_KEY_SCOPES = [
  'sessions:read',
  'sessions:write',
  'sessions:admin',
  'keys:admin',
  'metrics:read',
  'audit:read',
] as const;

export type Scope = (typeof API_KEY_SCOPES)[number];

export function isScope(value: unknown): value is Scope {
  return (API_KEY_SCOPES as readonly unknown[]).includes(value);
}

export function assertScope(value: unknown): asserts value is Scope {
  if (!isScope(value))
    throw new ValidationError(
      `unknown scope ${JSON.stringify(value)}; scopes are ${API_KEY_SCOPES.join(', ')}`,
    );
}
