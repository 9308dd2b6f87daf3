import { redactUrl } from './backend.js';
import { StoreUnavailableError } from './errors.js';

/** Socket error codes in words; their messages repeat the address, which the caller names already. */
const SOCKET_REASONS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ECONNABORTED: 'connection aborted',
  EPIPE: 'connection closed',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
};

/**
 * Why a connection or command failed, in a few words and each only once: a
 * socket error anywhere in the cause chain by its code, otherwise the
 * messages of the chain that say something the ones before did not.
 * Passwords in a URL are hidden.
 */
export function failureReason(error: unknown): string {
  const chain: unknown[] = [];
  for (let at = error; at !== undefined && chain.length < 8; at = (at as Error).cause) {
    chain.push(at);
    if (!(at instanceof Error)) break;
  }
  for (const link of chain) {
    const reason = SOCKET_REASONS[String((link as { code?: unknown })?.code)];
    if (reason) return reason;
  }
  const said: string[] = [];
  for (const link of chain) {
    const message = (link instanceof Error ? link.message : String(link)).trim();
    if (message && !said.some((earlier) => earlier.includes(message))) said.push(message);
  }
  return redactUrl(said.join(': ') || 'unknown failure');
}

/** `<server> is unavailable: <reason>`, where `server` names the store kind, its address and what it serves. */
export function storeUnavailable(server: string, error: unknown): StoreUnavailableError {
  return new StoreUnavailableError(`${server} is unavailable: ${failureReason(error)}`, {
    cause: error,
  });
}
