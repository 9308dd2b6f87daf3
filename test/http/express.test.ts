import { createServer } from 'node:http';
import express from 'express';
import { expressSessions, sessionOf } from '../../src/http/index.js';
import { APP_ROUTES, type AppFactory, describeHttpAdapter, listen } from './behaviour.js';

const expressApp: AppFactory = async (sessions) => {
  const app = express();
  app.use(express.urlencoded({ extended: false }));
  app.use(expressSessions(sessions));
  for (const route of APP_ROUTES) {
    app[route.method === 'GET' ? 'get' : 'post'](route.path, async (req, res) => {
      const query = new URL(req.originalUrl, 'http://localhost').searchParams;
      res.json(await route.handle(sessionOf(req), query));
    });
  }
  return listen(createServer(app));
};

describeHttpAdapter('Express', expressApp, { formField: true });
