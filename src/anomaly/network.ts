import { ipBytes } from '../core/index.js';

/**
 * The network an address belongs to, as a CIDR: `203.0.0.0/16` for IPv4 at
 * `ipv4Prefix` 16, `2001:db8:1::/48` for IPv6 at `ipv6Prefix` 48. An
 * IPv4-mapped IPv6 address counts as its IPv4 address. Null for anything
 * that is not an IP address.
 */
export function networkOf(ip: string | null, ipv4Prefix = 16, ipv6Prefix = 48): string | null {
  if (ip === null) return null;
  const bytes = ipBytes(ip);
  if (bytes === null) return null;
  if (bytes.length === 4) return `${masked(bytes, ipv4Prefix).join('.')}/${ipv4Prefix}`;
  const kept = masked(bytes, ipv6Prefix);
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2)
    groups.push((((kept[i] ?? 0) << 8) | (kept[i + 1] ?? 0)).toString(16));
  return `${compressed(groups)}/${ipv6Prefix}`;
}

function masked(bytes: number[], prefix: number): number[] {
  return bytes.map((byte, i) => {
    const bits = Math.max(0, Math.min(8, prefix - i * 8));
    return byte & (0xff << (8 - bits)) & 0xff;
  });
}

/** The longest run of zero groups as `::`, as RFC 5952 writes it. */
function compressed(groups: string[]): string {
  let best = { start: -1, length: 0 };
  for (let i = 0; i < groups.length; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let end = i;
    while (end < groups.length && groups[end] === '0') end++;
    if (end - i > best.length && end - i > 1) best = { start: i, length: end - i };
    i = end;
  }
  if (best.start === -1) return groups.join(':');
  const head = groups.slice(0, best.start).join(':');
  const tail = groups.slice(best.start + best.length).join(':');
  return `${head}::${tail}`;
}
