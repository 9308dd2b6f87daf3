import type { FastifyServerOptions } from 'fastify';

/** Trust no proxy (false), the immediate peer (true), that many hops, or proxies at these addresses/CIDRs. */
export type TrustProxySetting = boolean | number | string;

/**
 * Fastify's `trustProxy` for the gateway's setting. Fastify's own `true`
 * trusts every hop and so takes the left-most X-Forwarded-For entry, which
 * the client writes; its number form trusts no hop at all. Here `true` is one
 * hop and a number that many: the socket peer and the next `hops - 1` entries
 * from the right are proxies, and the client address is the entry just
 * before them, which no client can forge. Address lists keep Fastify's
 * meaning (walk from the right, skip the trusted), which is the same rule.
 */
export function fastifyTrustProxy(setting: TrustProxySetting): FastifyServerOptions['trustProxy'] {
  if (setting === false) return false;
  if (typeof setting === 'string') return setting;
  const hops = setting === true ? 1 : setting;
  return (_address: string, hop: number) => hop < hops;
}

/** The start-up warning `setting` deserves, or null. */
export function trustProxyWarning(setting: TrustProxySetting): string | null {
  if (setting !== true && typeof setting !== 'number') return null;
  return `trustProxy is ${setting}: whatever peer connects is believed to be a proxy, so a client that reaches the gateway directly chooses its own address; list the proxies' addresses or CIDRs instead`;
}
