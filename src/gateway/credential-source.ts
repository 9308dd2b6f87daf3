import type { RecordStore } from '../core/index.js';
import { type CredentialSource, UpstreamCredentials, UserDirectory } from './auth/index.js';
import type { GatewayConfig } from './config.js';

/**
 * Where logins are checked, as configured: the built-in user table in the
 * gateway's records (then also returned, for the admin user routes), or an
 * upstream auth service.
 */
export function credentialSource(
  config: Pick<GatewayConfig, 'auth'>,
  records: RecordStore,
  clock: () => number,
): { credentials: CredentialSource; users: UserDirectory | null } {
  if (config.auth.source === 'upstream') {
    const credentials = new UpstreamCredentials({
      url: config.auth.url,
      timeout: config.auth.timeout,
    });
    return { credentials, users: null };
  }
  const users = new UserDirectory({ store: records, clock });
  return { credentials: users, users };
}
