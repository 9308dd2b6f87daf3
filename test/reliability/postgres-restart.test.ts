import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppendLoad } from './support/append-load.js';
import { type GatewayProcess, startGatewayProcess } from './support/gateway-process.js';
import { call, isJsonError } from './support/http-client.js';
import { type PrivatePostgres, startPrivatePostgres } from './support/private-postgres.js';
import { ADMIN_TOKEN, createSession, readSessionData } from './support/sessions-api.js';
import { waitUntil } from './support/wait-until.js';

/** Where the server was when a request was sent; while it stops or starts, either answer is right. */
type Phase = 'up' | 'stopping' | 'down' | 'starting' | 'back';

/** The longest any one request may take; a request still unanswered then counts as a hang. */
const REQUEST_BOUND_MS = 15_000;

describe('a gateway whose PostgreSQL restarts under load', () => {
  let postgres: PrivatePostgres | undefined;
  let gateway: GatewayProcess | undefined;

  beforeAll(async () => {
    postgres = await startPrivatePostgres();
    gateway = await startGatewayProcess({
      env: { CLAWSESSION_STORE: postgres.url, CLAWSESSION_ADMIN_TOKEN: ADMIN_TOKEN },
    });
  });

  afterAll(async () => {
    await gateway?.stop();
    await postgres?.destroy();
  });

  it('answers 503 JSON while it is down, serves again once it is back, and loses no acknowledged write', async () => {
    const server = postgres as PrivatePostgres;
    const { url } = gateway as GatewayProcess;
    const sessionIds: string[] = [];
    for (let i = 0; i < 10; i++) sessionIds.push(await createSession(url, { cart: [] }));
    let phase: Phase = 'up';
    const load = startAppendLoad({
      base: url,
      sessionIds,
      workers: 20,
      maxRequests: 20_000,
      timeoutMs: REQUEST_BOUND_MS,
      phase: () => phase,
    });
    const answered = (wanted: Phase, status?: number) =>
      load.appends.filter(
        (append) =>
          append.phase === wanted &&
          (status === undefined ||
            (append.outcome.kind === 'response' && append.outcome.status === status)),
      ).length;

    try {
      await waitUntil(() => answered('up', 200) >= 200, { what: '200 appends', timeoutMs: 60_000 });
      phase = 'stopping';
      await server.stop();
      phase = 'down';
      await waitUntil(() => answered('down') >= 100, {
        what: '100 answers while PostgreSQL is down',
        timeoutMs: 60_000,
      });
      const notReady = await call(url, 'GET', '/readyz', { timeoutMs: REQUEST_BOUND_MS });
      expect(isJsonError(notReady, 503, 'ERR_NOT_READY')).toBe(true);
      phase = 'starting';
      await server.start();
      phase = 'back';
      await waitUntil(() => answered('back', 200) >= 200, {
        what: '200 appends after PostgreSQL came back',
        timeoutMs: 60_000,
      });
    } finally {
      await load.stop();
    }

    const unexpected = load.appends.filter(
      ({ outcome }) =>
        !(outcome.kind === 'response' && outcome.status === 200) &&
        !isJsonError(outcome, 503, 'ERR_STORE_UNAVAILABLE'),
    );
    expect(unexpected.map(({ phase, outcome }) => ({ phase, outcome }))).toEqual([]);
    expect(answered('down', 200)).toBe(0);
    expect((await call(url, 'GET', '/readyz', { timeoutMs: REQUEST_BOUND_MS })).kind).toBe(
      'response',
    );
    for (const [sessionId, items] of load.acknowledged()) {
      const cart = (await readSessionData(url, sessionId)).cart as string[];
      expect(cart).toEqual(expect.arrayContaining(items));
    }
  });
});
