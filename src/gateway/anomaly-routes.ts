import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AnomalyDetector, AnomalyFlag } from '../anomaly/index.js';
import { parseInput } from './fastify-defaults.js';

const query = z.strictObject({
  user: z.string().min(1).max(256).optional(),
  session: z
    .string()
    .regex(/^[0-9a-f]{64}$/, 'must be a 64-character lowercase hex session id')
    .optional(),
  after: z.string().min(1).max(200).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
});

/** A flag as the admin API shows it: its time as ISO 8601. */
export function presentFlag(flag: AnomalyFlag) {
  return { ...flag, time: new Date(flag.time).toISOString() };
}

/**
 * `GET /admin/anomalies?user=&session=&after=&limit=`: the flags anomaly
 * detection raised, by user then time, a page at a time (`next` is the
 * `after` of the next page, null at the end). Register it in a context that
 * checks the admin scope.
 */
export function registerAnomalyRoutes(app: FastifyInstance, detector: AnomalyDetector): void {
  app.get('/admin/anomalies', async (request) => {
    const { user, session, after, limit } = parseInput(query, request.query, 'query');
    const page = await detector.listFlags({ userId: user, sessionId: session, after, limit });
    return { flags: page.flags.map(presentFlag), next: page.next };
  });
}
