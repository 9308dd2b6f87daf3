import { isIP } from 'node:net';

/** An IPv4-mapped IPv6 address becomes the IPv4 address; anything that is not an IP becomes null. */
export function normalizeIp(ip: string | null | undefined): string | null {
  if (typeof ip !== 'string') return null;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  const candidate = mapped ? (mapped[1] as string) : ip;
  return isIP(candidate) === 0 ? null : candidate;
}

/**
 * An address's bytes: 4 for IPv4 (an IPv4-mapped IPv6 address included), 16
 * for IPv6, with `::` expanded, an embedded IPv4 tail and a zone dropped;
 * null for anything that is not an IP address. For comparing networks.
 */
export function ipBytes(ip: string): number[] | null {
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
