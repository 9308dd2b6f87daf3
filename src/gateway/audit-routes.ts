import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import {
  EVENT_TYPES,
  EventsDisabledError,
  type EventType,
  type Outbox,
  parseDuration,
} from '../core/index.js';
import { toCloudEvent } from '../events/index.js';
import { parseInput } from './fastify-defaults.js';

const MAX_PAGE = 500;

/** A moment as an ISO 8601 time, or a duration back from now such as `24h` or `7d`. */
function moment(clock: () => number) {
  return z.string().transform((value, ctx) => {
    const time = Date.parse(value);
    if (/^\d{4}-\d{2}-\d{2}/.test(value) && Number.isFinite(time)) return time;
    try {
      return clock() - parseDuration(value);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'expected an ISO 8601 time or a duration like 24h' });
      return z.NEVER;
    }
  });
}

function auditQuery(clock: () => number) {
  return z
    .object({
      user: z.string().min(1).max(256).optional(),
      session: z
        .string()
        .regex(/^[0-9a-f]{64}$/, 'a session id is 64 lowercase hexadecimal characters')
        .optional(),
      type: z
        .string()
        .transform((value) => value.split(','))
        .pipe(z.array(z.enum(EVENT_TYPES as [EventType, ...EventType[]])))
        .optional(),
      since: moment(clock).optional(),
      until: moment(clock).optional(),
      cursor: z
        .string()
        .regex(/^[0-9A-Za-z:._-]{1,64}$/, 'not a cursor this API gave')
        .optional(),
      limit: z.coerce.number().int().min(1).max(MAX_PAGE).default(100),
    })
    .strict();
}

/**
 * `GET /admin/audit`: the outbox read as the audit log, oldest first, a page
 * at a time, by user, session, type and time range (`since` and `until` take
 * an ISO time or a duration back from now). Events are the CloudEvents the
 * brokers get. 404 `ERR_EVENTS_DISABLED` when the store keeps no outbox.
 */
export function registerAuditRoutes(
  app: FastifyInstance,
  outbox: Outbox | undefined,
  clock: () => number,
): void {
  const schema = auditQuery(clock);
  app.get('/admin/audit', async (request) => {
    const query = parseInput(schema, request.query, 'query');
    if (!outbox) throw new EventsDisabledError();
    const page = await outbox.query({
      ...(query.user === undefined ? {} : { userId: query.user }),
      ...(query.session === undefined ? {} : { sessionId: query.session }),
      ...(query.type === undefined ? {} : { types: query.type }),
      ...(query.since === undefined ? {} : { since: query.since }),
      ...(query.until === undefined ? {} : { until: query.until }),
      after: query.cursor ?? null,
      limit: query.limit,
    });
    return { events: page.records.map(toCloudEvent), cursor: page.cursor };
  });
}
