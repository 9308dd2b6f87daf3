import { ipBytes, normalizeIp, type Session } from '../core/index.js';

export { normalizeIp };

export type BindingAction = 'off' | 'log' | 'revoke';

export interface BindingPolicy {
  /** What to do when the User-Agent differs from the one at login. Default 'off'. */
  userAgent?: BindingAction;
  /** What to do when the client IP differs from the one at login. Default 'off'. */
  ip?: BindingAction;
  /** 'subnet' (default) accepts the same /24 (IPv4) or /64 (IPv6); 'exact' the same address. */
  ipMatch?: 'exact' | 'subnet';
}

export interface BindingMismatch {
  sessionId: string;
  userId: string;
  field: 'ip' | 'userAgent';
  expected: string;
  actual: string | null;
  action: 'log' | 'revoke';
}

const MAX_USER_AGENT_LENGTH = 512;

/** The mismatches of a request against the session's login-time IP and User-Agent. */
export function bindingMismatches(
  session: Session,
  request: { ip: string | null; userAgent: string | null },
  policy: BindingPolicy,
): BindingMismatch[] {
  const found: BindingMismatch[] = [];
  const base = { sessionId: session.id, userId: session.userId };
  const uaAction = policy.userAgent ?? 'off';
  if (uaAction !== 'off' && session.userAgent !== null) {
    const actual = request.userAgent === null ? null : truncateUserAgent(request.userAgent);
    if (actual !== session.userAgent) {
      found.push({
        ...base,
        field: 'userAgent',
        expected: session.userAgent,
        actual,
        action: uaAction,
      });
    }
  }
  const ipAction = policy.ip ?? 'off';
  if (ipAction !== 'off' && session.ip !== null) {
    const match = policy.ipMatch ?? 'subnet';
    const same =
      request.ip !== null &&
      (match === 'exact'
        ? normalizeIp(request.ip) === normalizeIp(session.ip)
        : sameNetwork(session.ip, request.ip));
    if (!same)
      found.push({
        ...base,
        field: 'ip',
        expected: session.ip,
        actual: request.ip,
        action: ipAction,
      });
  }
  return found;
}

/** True when both addresses are in the same /24 (IPv4) or /64 (IPv6). False for anything unparsable. */
export function sameNetwork(a: string, b: string): boolean {
  const x = ipBytes(a);
  const y = ipBytes(b);
  if (!x || !y || x.length !== y.length) return false;
  const prefixBytes = x.length === 4 ? 3 : 8;
  for (let i = 0; i < prefixBytes; i++) if (x[i] !== y[i]) return false;
  return true;
}

/** Cut as the SessionManager cuts it when storing, so a long User-Agent still matches itself. */
export function truncateUserAgent(userAgent: string): string {
  const cut = userAgent.slice(0, MAX_USER_AGENT_LENGTH);
  return /[\uD800-\uDBFF]$/.test(cut) ? cut.slice(0, -1) : cut;
}
