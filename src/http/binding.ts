import { isIP } from 'node:net';
import type { Session } from '../core/index.js';

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

/** An IPv4-mapped IPv6 address becomes the IPv4 address; anything that is not an IP becomes null. */
export function normalizeIp(ip: string | null | undefined): string | null {
  if (typeof ip !== 'string') return null;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  const candidate = mapped ? (mapped[1] as string) : ip;
  return isIP(candidate) === 0 ? null : candidate;
}

/** Cut as the SessionManager cuts it when storing, so a long User-Agent still matches itself. */
export function truncateUserAgent(userAgent: string): string {
  const cut = userAgent.slice(0, MAX_USER_AGENT_LENGTH);
  return /[\uD800-\uDBFF]$/.test(cut) ? cut.slice(0, -1) : cut;
}

function ipBytes(ip: string): number[] | null {
  const normalized = normalizeIp(ip);
  if (normalized === null) return null;
  if (isIP(normalized) === 4) return normalized.split('.').map(Number);
  const address = normalized.replace(/%.*$/, '');
  // An embedded IPv4 tail (::1.2.3.4) counts as the last two groups.
  const tail = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(address);
  let text = address;
  if (tail) {
    const [o1, o2, o3, o4] = tail.slice(1).map(Number) as [number, number, number, number];
    text = `${address.slice(0, tail.index)}${((o1 << 8) | o2).toString(16)}:${((o3 << 8) | o4).toString(16)}`;
  }
  const [head = '', rest] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = rest === undefined || rest === '' ? [] : rest.split(':');
  const groups =
    rest === undefined
      ? left
      : [...left, ...Array(8 - left.length - right.length).fill('0'), ...right];
  if (groups.length !== 8) return null;
  return groups.flatMap((group) => {
    const value = Number.parseInt(group, 16);
    return [value >> 8, value & 0xff];
  });
}
