import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  attachSession,
  errorResponse,
  type HttpSessions,
  type SessionExchange,
  type SessionHandle,
} from '../session-middleware.js';

export type SessionRequest = IncomingMessage & { session: SessionHandle };

/**
 * Wraps a node:http request listener: `req.session` is the session, its
 * changes are written before the response ends, and its cookies go out with
 * the headers. Refused (CSRF) requests get a 403 and never reach `listener`.
 */
export function withSessions(
  sessions: HttpSessions,
  listener: (req: SessionRequest, res: ServerResponse) => unknown,
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    try {
      const exchange = await sessions.begin({
        method: req.method ?? 'GET',
        headers: req.headers,
        ip: req.socket.remoteAddress,
      });
      if (exchange.refused) return sendJson(res, exchange.refused, exchange.setCookies());
      commitBeforeEnd(res, exchange);
      attachSession(req, exchange.session);
      await listener(req as SessionRequest, res);
    } catch (error) {
      if (!res.headersSent) sendJson(res, errorResponse(error), []);
      else res.destroy(error as Error);
    }
  };
}

/**
 * Defers `res.end` until the session's changes are written, and adds its
 * cookies when the headers are written. Shared with the Express adapter.
 */
export function commitBeforeEnd(res: ServerResponse, exchange: SessionExchange): void {
  const writeHead = res.writeHead;
  res.writeHead = function (this: ServerResponse, ...args: unknown[]) {
    for (const cookie of exchange.setCookies()) this.appendHeader('set-cookie', cookie);
    return (writeHead as (...a: unknown[]) => ServerResponse).apply(this, args);
  } as typeof res.writeHead;
  const end = res.end;
  res.end = function (this: ServerResponse, ...args: unknown[]) {
    const finish = () => (end as (...a: unknown[]) => ServerResponse).apply(this, args);
    exchange.commit(this.statusCode).then(finish, (error: unknown) => {
      if (this.headersSent) return void this.destroy(error as Error);
      // The application's response promised a change that was not written: replace it.
      for (const name of this.getHeaderNames()) this.removeHeader(name);
      const { status, body, headers = {} } = errorResponse(error);
      this.statusCode = status;
      for (const [name, value] of Object.entries(headers)) this.setHeader(name, value);
      this.setHeader('content-type', 'application/json; charset=utf-8');
      (end as (body: string) => ServerResponse).call(this, JSON.stringify(body));
    });
    return this;
  } as typeof res.end;
}

function sendJson(
  res: ServerResponse,
  { status, body, headers }: { status: number; body: unknown; headers?: Record<string, string> },
  cookies: string[],
): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(payload),
    ...(cookies.length > 0 ? { 'set-cookie': cookies } : {}),
  });
  res.end(payload);
}
