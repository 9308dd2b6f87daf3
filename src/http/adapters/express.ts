import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { HttpSessions } from '../session-middleware.js';
import { attachSession } from '../session-middleware.js';
import { commitBeforeEnd } from './node.js';

/**
 * Express 5 middleware: `req.session` (typed: `sessionOf(req)`) is the session.
 * Mount body parsers (`express.urlencoded()`) before it for the `_csrf` form field.
 */
export function expressSessions(sessions: HttpSessions): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    sessions
      .begin({ method: req.method, headers: req.headers, ip: req.ip, body: req.body })
      .then((exchange) => {
        if (exchange.refused) {
          for (const cookie of exchange.setCookies()) res.append('Set-Cookie', cookie);
          res.status(exchange.refused.status).json(exchange.refused.body);
          return;
        }
        commitBeforeEnd(res, exchange);
        attachSession(req, exchange.session);
        next();
      }, next);
  };
}
