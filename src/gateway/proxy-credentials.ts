import { decodeProtectedHeader } from 'jose';
import { constantTimeEqual } from '../core/index.js';
import { isApiKeyLike } from '../keys/index.js';

/** Whether an `Authorization` value holds a credential meant for the gateway. */
export type GatewayCredential = (authorization: string) => boolean;

/**
 * Recognises the gateway's credentials in an `Authorization` value, whatever
 * its scheme (or none): the admin token (compared in constant time), an API
 * key (`cs_…`, well-formed or not) and an access token (a JWT typed `at+jwt`,
 * RFC 9068). Anything else, such as an upstream's own Basic credentials, is not.
 */
export function gatewayCredential(adminToken: string | null): GatewayCredential {
  return (authorization) => {
    const whole = authorization.trim();
    const afterScheme = whole.replace(/^\S+[ \t]+/, '');
    return [whole, afterScheme].some(
      (candidate) =>
        isApiKeyLike(candidate) ||
        isAccessToken(candidate) ||
        (adminToken !== null && constantTimeEqual(candidate, adminToken)),
    );
  };
}

function isAccessToken(token: string): boolean {
  try {
    const type = decodeProtectedHeader(token).typ?.toLowerCase();
    return type === 'at+jwt' || type === 'application/at+jwt';
  } catch {
    return false;
  }
}
