import type { Context, MiddlewareHandler } from 'hono';
import type { HttpSessions, SessionHandle } from '../session-middleware.js';

/** Declare with `new Hono<{ Variables: SessionVariables }>()` to get `c.get('session')` typed. */
export type SessionVariables = { session: SessionHandle };

export interface HonoSessionsOptions {
  /** The client address. Default: the socket address under @hono/node-server. */
  ip?: (c: Context) => string | null | undefined;
}

/** Hono 4 middleware: `c.get('session')` is the session; urlencoded bodies are parsed for `_csrf`. */
export function honoSessions(
  sessions: HttpSessions,
  options: HonoSessionsOptions = {},
): MiddlewareHandler<{ Variables: SessionVariables }> {
  const ipOf = options.ip ?? nodeSocketAddress;
  return async (c, next) => {
    const headers = c.req.header();
    const form = (headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
    // Hono caches the parsed body, so the handler can still read it.
    const body =
      form && headers[sessions.csrf.header] === undefined ? await c.req.parseBody() : undefined;
    const exchange = await sessions.begin({ method: c.req.method, headers, ip: ipOf(c), body });
    if (exchange.refused) {
      const response = c.json(exchange.refused.body, 403);
      for (const cookie of exchange.setCookies()) response.headers.append('set-cookie', cookie);
      return response;
    }
    c.set('session', exchange.session);
    await next();
    await exchange.commit(c.res.status);
    for (const cookie of exchange.setCookies()) c.header('set-cookie', cookie, { append: true });
  };
}

function nodeSocketAddress(c: Context): string | undefined {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  return env?.incoming?.socket?.remoteAddress;
}
