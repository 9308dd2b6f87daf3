import Fastify from 'fastify';
import { fastifySessions } from '../../src/http/index.js';
import { APP_ROUTES, type AppFactory, describeHttpAdapter } from './behaviour.js';

const fastifyApp: AppFactory = async (sessions) => {
  const app = Fastify();
  // What @fastify/formbody does, so the _csrf field is readable in preHandler.
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string' },
    (_request, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))),
  );
  await app.register(fastifySessions(sessions));
  for (const route of APP_ROUTES) {
    app.route({
      method: route.method,
      url: route.path,
      handler: async (request) => {
        const query = new URL(request.url, 'http://localhost').searchParams;
        return route.handle(request.session, query);
      },
    });
  }
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return { url, close: () => app.close() };
};

describeHttpAdapter('Fastify', fastifyApp, { formField: true });
