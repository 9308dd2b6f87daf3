import { Agent, request } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import { type GatewayProcess, startGatewayProcess } from './support/gateway-process.js';
import { ADMIN, ADMIN_TOKEN, createSession, readSessionData } from './support/sessions-api.js';
import { scratchRedis } from './support/shared-stores.js';
import { waitUntil } from './support/wait-until.js';

const CONNECTIONS = 50;
const MAX_APPENDS_PER_CONNECTION = 400;
const REQUEST_BOUND_MS = 15_000;

/** How one append ended: the status and JSON body, or the socket error code (`ECONNRESET`, `TIMEOUT`, …). */
type Ending = { status: number; body: unknown } | { error: string };

interface Append {
  sessionId: string;
  item: string;
  ending: Ending;
  /** The request was sent after SIGTERM was. */
  sentAfterSigterm: boolean;
  /** The answer (or the error) came after SIGTERM was sent. */
  endedAfterSigterm: boolean;
}

/** One PATCH append on a keep-alive connection of `agent`; never throws. */
function appendOnAgent(agent: Agent, base: string, sessionId: string, item: string) {
  const body = JSON.stringify([{ op: 'add', path: '/cart/-', value: item }]);
  return new Promise<Ending>((resolve) => {
    const req = request(`${base}/v1/sessions/${sessionId}`, {
      agent,
      method: 'PATCH',
      headers: {
        ...ADMIN,
        'content-type': 'application/json-patch+json',
        'content-length': Buffer.byteLength(body),
      },
      signal: AbortSignal.timeout(REQUEST_BOUND_MS),
    });
    req.on('error', (error: NodeJS.ErrnoException) =>
      resolve({ error: error.name === 'AbortError' ? 'TIMEOUT' : (error.code ?? error.message) }),
    );
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        text += chunk;
      });
      res.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? 'ERR' }));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    req.end(body);
  });
}

describe('SIGTERM to a gateway with 50 busy keep-alive connections', () => {
  const store = scratchRedis();
  const gateways: GatewayProcess[] = [];
  afterAll(async () => {
    for (const gateway of gateways) await gateway.stop();
    await store.drop();
  });

  it('lets accepted requests finish, exits 0 within shutdownTimeout, and loses no acknowledged append', async () => {
    const env = {
      CLAWSESSION_STORE: store.url,
      CLAWSESSION_ADMIN_TOKEN: ADMIN_TOKEN,
      CLAWSESSION_SHUTDOWN_TIMEOUT: '5s',
    };
    const first = await startGatewayProcess({ env });
    gateways.push(first);
    // One session per connection: no two appends race for one record.
    const sessionIds: string[] = [];
    for (let i = 0; i < CONNECTIONS; i++)
      sessionIds.push(await createSession(first.url, { cart: [] }));

    const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS });
    const appends: Append[] = [];
    let sigtermSent = false;
    const connection = async (c: number) => {
      const sessionId = sessionIds[c] as string;
      for (let n = 0; n < MAX_APPENDS_PER_CONNECTION; n++) {
        const item = `c${c}-${n}`;
        const sentAfterSigterm = sigtermSent;
        const ending = await appendOnAgent(agent, first.url, sessionId, item);
        appends.push({ sessionId, item, ending, sentAfterSigterm, endedAfterSigterm: sigtermSent });
        if (!('status' in ending) || ending.status !== 200) return;
      }
    };
    const load = Promise.all(Array.from({ length: CONNECTIONS }, (_, c) => connection(c)));

    await waitUntil(() => appends.length >= 5 * CONNECTIONS, {
      what: 'the load to get going',
      timeoutMs: 60_000,
    });
    first.child.kill('SIGTERM');
    sigtermSent = true;
    const exitCode = await Promise.race([
      first.exited,
      new Promise<string>((resolve) =>
        setTimeout(() => resolve('still running after 30 s'), 30_000),
      ),
    ]);
    await load;
    agent.destroy();

    expect(exitCode).toBe(0);
    // A request sent before SIGTERM was on the server's socket before the signal was: it is
    // answered, never reset. Only requests sent after may find their connection closed or refused.
    const sentBefore = appends.filter(({ sentAfterSigterm }) => !sentAfterSigterm);
    expect(sentBefore.filter(({ ending }) => 'error' in ending)).toEqual([]);
    // A refusal is the API's JSON, saying why.
    for (const { ending } of appends)
      if ('status' in ending && ending.status !== 200)
        expect(ending).toMatchObject({
          status: 503,
          body: { error: { code: 'ERR_SHUTTING_DOWN' } },
        });
    const failures = appends.flatMap(({ ending }) => ('error' in ending ? [ending.error] : []));
    expect(failures.filter((error) => !['ECONNRESET', 'ECONNREFUSED'].includes(error))).toEqual([]);
    // Requests in flight at SIGTERM were answered after it, not cut off.
    expect(
      appends.filter(
        ({ ending, sentAfterSigterm, endedAfterSigterm }) =>
          !sentAfterSigterm && endedAfterSigterm && 'status' in ending && ending.status === 200,
      ).length,
    ).toBeGreaterThan(0);

    const second = await startGatewayProcess({ env });
    gateways.push(second);
    const stored = new Set<string>();
    for (const sessionId of sessionIds)
      for (const item of (await readSessionData(second.url, sessionId)).cart as string[])
        stored.add(item);
    const acknowledged = appends.filter(
      ({ ending }) => 'status' in ending && ending.status === 200,
    );
    // Nothing acknowledged is lost, and nothing was applied whose answer was cut off.
    expect(acknowledged.filter(({ item }) => !stored.has(item))).toEqual([]);
    expect(stored.size).toBe(acknowledged.length);
  });
});
