import { isIPv6 } from 'node:net';

/*
 * host = IP-literal / reg-name, then an optional ":" port (RFC 3986 §3.2.2).
 *
 * The reg-name is the DNS-shaped subset of RFC 3986's: unreserved characters
 * only. Its sub-delims (`,` `;` `=` …) and percent-escapes are refused, since
 * software downstream splits X-Forwarded-Host and Forwarded on them. An IPv4
 * address is a reg-name of digits and dots. IPvFuture literals are refused.
 */
const REG_NAME = /^[A-Za-z0-9._~-]{1,253}$/;
const IP_LITERAL = /^\[([0-9A-Fa-f:.]+)\]$/;
const PORT = /^[0-9]{1,5}$/;

/** Whether `value` is a Host header value the gateway accepts and may pass on: `name`, `name:port`, `[v6]`, `[v6]:port`. */
export function isValidHost(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  const portAt = value.lastIndexOf(':');
  const hasPort = portAt !== -1 && portAt > value.lastIndexOf(']');
  const host = hasPort ? value.slice(0, portAt) : value;
  if (hasPort) {
    const port = value.slice(portAt + 1);
    if (!(PORT.test(port) && Number(port) <= 65_535)) return false;
  }
  const literal = IP_LITERAL.exec(host);
  if (literal) return isIPv6(literal[1] as string);
  return REG_NAME.test(host);
}
