import type { Server } from 'node:http';
import { createAdaptorServer } from '@hono/node-server';
import { Hono } from 'hono';
import { honoSessions, type SessionVariables } from '../../src/http/index.js';
import { APP_ROUTES, type AppFactory, describeHttpAdapter, listen } from './behaviour.js';

const honoApp: AppFactory = async (sessions) => {
  const app = new Hono<{ Variables: SessionVariables }>();
  app.use(honoSessions(sessions));
  for (const route of APP_ROUTES) {
    app.on(route.method, route.path, async (c) =>
      c.json(await route.handle(c.get('session'), new URL(c.req.url).searchParams)),
    );
  }
  return listen(createAdaptorServer({ fetch: app.fetch }) as Server);
};

describeHttpAdapter('Hono', honoApp, { formField: true });
