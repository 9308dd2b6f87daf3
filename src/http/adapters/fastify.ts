import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { HttpSessions, SessionExchange, SessionHandle } from '../session-middleware.js';
import { attachSession } from '../session-middleware.js';

declare module 'fastify' {
  interface FastifyRequest {
    session: SessionHandle;
  }
}

/**
 * Fastify 5 plugin: `request.session` is the session. Checks run in
 * `preHandler` (after body parsing, for the `_csrf` form field); changes are
 * written in `onSend`, before the reply leaves.
 */
export function fastifySessions(sessions: HttpSessions): FastifyPluginAsync {
  const exchanges = new WeakMap<FastifyRequest, SessionExchange>();
  const plugin = async (app: FastifyInstance) => {
    app.decorateRequest('session', null as unknown as SessionHandle);
    app.addHook('preHandler', async (request, reply) => {
      const exchange = await beginFastifySession(sessions, request, reply);
      if (!exchange) return reply;
      exchanges.set(request, exchange);
      attachSession(request, exchange.session);
    });
    app.addHook('onSend', async (request, reply, payload) => {
      const exchange = exchanges.get(request);
      if (!exchange) return payload;
      exchanges.delete(request);
      await finishFastifySession(exchange, reply);
      return payload;
    });
  };
  // What fastify-plugin does: the hooks apply to the whole application, not an encapsulated child.
  return Object.assign(plugin, { [Symbol.for('skip-override')]: true });
}

/**
 * The session checks of one Fastify request. A refusal (CSRF) is sent, with
 * its cookies, and gives null: the caller must not run the application.
 */
export async function beginFastifySession(
  sessions: HttpSessions,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<SessionExchange | null> {
  const exchange = await sessions.begin({
    method: request.method,
    headers: request.headers,
    ip: request.ip,
    body: request.body,
  });
  if (!exchange.refused) return exchange;
  for (const cookie of exchange.setCookies()) reply.header('set-cookie', cookie);
  reply.code(exchange.refused.status).send(exchange.refused.body);
  return null;
}

/** Writes the request's session changes and adds its cookies to the reply; call before it is sent. */
export async function finishFastifySession(
  exchange: SessionExchange,
  reply: FastifyReply,
): Promise<void> {
  await exchange.commit(reply.statusCode);
  for (const cookie of exchange.setCookies()) reply.header('set-cookie', cookie);
}
