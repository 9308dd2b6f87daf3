import { isIP } from 'node:net';

/**
 * The client a per-address limit charges: an IPv4 address as it is (an
 * IPv4-mapped IPv6 address as its IPv4), an IPv6 address as its /64 in
 * canonical form (`2001:db8:1:2::/64`), because one subscriber is usually
 * given a whole /64 and could otherwise take a fresh counter per address.
 * Anything that is not an IP is returned as given: only a trusted proxy can
 * put such a value in `request.ip`, and it could as well send any address.
 */
export function rateLimitAddress(ip: string): string {
  const address = ip.replace(/%.*$/, ''); // a zone (fe80::1%eth0) names a local interface, not a client
  if (isIP(address) === 4) return address;
  if (isIP(address) !== 6) return ip;
  const groups = ipv6Groups(address);
  const mapped = groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff;
  if (mapped) {
    const [high = 0, low = 0] = groups.slice(6);
    return [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.');
  }
  const prefix = groups.slice(0, 4).map((group) => group.toString(16));
  return `${canonicalIpv6(`${prefix.join(':')}::`)}/64`;
}

/** The eight 16-bit groups of a valid IPv6 address. */
function ipv6Groups(address: string): number[] {
  // The URL serializer writes every IPv6 address in hex groups, `::` for the longest run of zeros.
  const [head = '', tail = ''] = canonicalIpv6(address).split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === '' ? [] : tail.split(':');
  const zeros = 8 - left.length - right.length;
  return [...left, ...Array<string>(zeros).fill('0'), ...right].map((group) =>
    Number.parseInt(group, 16),
  );
}

/** Lower case, leading zeros dropped, the longest run of zero groups as `::` (RFC 5952). */
function canonicalIpv6(address: string): string {
  return new URL(`http://[${address}]/`).hostname.slice(1, -1);
}
