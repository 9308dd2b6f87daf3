import { z } from 'zod';
import { ConfigError } from '../../core/index.js';
import type { CredentialSource, VerifiedUser } from './credentials.js';
import { AuthUpstreamUnavailableError } from './errors.js';
import { normalizeRoles } from './users.js';

export interface UpstreamCredentialsOptions {
  /** http(s) URL that answers `POST { username, password }`. */
  url: string;
  /** Sent with every check, e.g. the gateway's own credential for the auth service. */
  headers?: Record<string, string>;
  /** How long to wait for the whole answer, in ms. Default 5,000. */
  timeout?: number;
}

/** Larger answers are not a credential check's answer. */
const MAX_RESPONSE_BYTES = 64 * 1024;

const successBody = z.object({
  user: z.object({
    id: z.string().min(1).max(256),
    roles: z.array(z.string()).optional(),
  }),
});

/**
 * Checks credentials with an upstream auth service: `200 { user: { id,
 * roles? } }` is a success, 401 or 403 a failed login, and anything else
 * (another status, a malformed answer, no answer in time) is
 * AuthUpstreamUnavailableError, never a failed login. Redirects are not
 * followed, so a password never travels anywhere but `url`.
 */
export class UpstreamCredentials implements CredentialSource {
  readonly #url: URL;
  readonly #headers: Record<string, string>;
  readonly #timeout: number;

  constructor(options: UpstreamCredentialsOptions) {
    let url: URL;
    try {
      url = new URL(options.url);
    } catch {
      throw new ConfigError('the upstream credential check needs an absolute http(s) URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new ConfigError('the upstream credential check needs an absolute http(s) URL');
    this.#url = url;
    this.#headers = options.headers ?? {};
    this.#timeout = options.timeout ?? 5_000;
    if (!(Number.isSafeInteger(this.#timeout) && this.#timeout > 0))
      throw new ConfigError('the upstream timeout must be a positive integer of ms');
  }

  async verify(username: string, password: string): Promise<VerifiedUser | null> {
    const signal = AbortSignal.timeout(this.#timeout);
    let status: number;
    let text: string;
    try {
      const response = await fetch(this.#url, {
        method: 'POST',
        headers: {
          ...this.#headers,
          'content-type': 'application/json',
          accept: 'application/json',
        },
        body: JSON.stringify({ username, password }),
        redirect: 'error',
        signal,
      });
      status = response.status;
      text = await boundedText(response);
    } catch (error) {
      throw new AuthUpstreamUnavailableError(
        signal.aborted
          ? `the auth service did not answer within ${this.#timeout} ms`
          : 'the auth service cannot be reached',
        { cause: error },
      );
    }
    if (status === 401 || status === 403) return null;
    if (status !== 200)
      throw new AuthUpstreamUnavailableError(`the auth service answered ${status}`);
    try {
      const { user } = successBody.parse(JSON.parse(text));
      return { userId: user.id, roles: normalizeRoles(user.roles ?? []) };
    } catch (error) {
      throw new AuthUpstreamUnavailableError('the auth service answered 200 without a valid user', {
        cause: error,
      });
    }
  }
}

async function boundedText(response: Response): Promise<string> {
  if (!response.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response.body) {
    size += chunk.byteLength;
    // Leaving the loop cancels the rest of the body.
    if (size > MAX_RESPONSE_BYTES)
      throw new Error(`the answer is larger than ${MAX_RESPONSE_BYTES} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
