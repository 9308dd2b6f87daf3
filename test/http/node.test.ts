import { createServer } from 'node:http';
import { withSessions } from '../../src/http/index.js';
import { APP_ROUTES, type AppFactory, describeHttpAdapter, listen } from './behaviour.js';

const nodeApp: AppFactory = async (sessions) =>
  listen(
    createServer(
      withSessions(sessions, async (req, res) => {
        const url = new URL(req.url ?? '/', 'http://localhost');
        const route = APP_ROUTES.find((r) => r.method === req.method && r.path === url.pathname);
        if (!route) {
          res.writeHead(404).end();
          return;
        }
        const body = JSON.stringify(await route.handle(req.session, url.searchParams));
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(body);
      }),
    ),
  );

describeHttpAdapter('node:http', nodeApp, { formField: false });
