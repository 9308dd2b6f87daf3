import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { type GatewayProcess, startGatewayProcess } from './support/gateway-process.js';
import { call, isJsonError, runBounded, tally } from './support/http-client.js';
import { ADMIN, ADMIN_TOKEN, appendToCart, createSession } from './support/sessions-api.js';
import { type ScratchStore, scratchPostgres, scratchRedis } from './support/shared-stores.js';
import { waitUntil } from './support/wait-until.js';

/** The longest any one request may take; a request still unanswered then counts as a hang. */
const REQUEST_BOUND_MS = 15_000;
/** Each failing request carries this much, so that keeping hold of them would show in the heap. */
const BLOB = 'x'.repeat(200 * 1024);
/** Far above what a few MB of noise after a full GC could reach, far below what keeping the requests would. */
const HEAP_GROWTH_BOUND = 24 * 1024 * 1024;

const stores = [
  { scratch: scratchRedis, failingRequests: 300 },
  // Each request against a silent PostgreSQL waits out a 5 s connect or 6 s query timeout.
  { scratch: scratchPostgres, failingRequests: 150 },
];

async function isReady(base: string): Promise<boolean> {
  const ready = await call(base, 'GET', '/readyz', { timeoutMs: REQUEST_BOUND_MS });
  return ready.kind === 'response' && ready.status === 200;
}

describe.each(stores)(
  'a gateway cut off from its store by a proxy',
  ({ scratch, failingRequests }) => {
    const store: ScratchStore = scratch();
    let proxy: TcpProxy;
    let gateway: GatewayProcess;
    let sessionIds: string[];

    beforeAll(async () => {
      proxy = await startTcpProxy(store.server.host, store.server.port);
      gateway = await startGatewayProcess({
        env: {
          CLAWSESSION_STORE: store.via('127.0.0.1', proxy.port),
          CLAWSESSION_ADMIN_TOKEN: ADMIN_TOKEN,
          CLAWSESSION_MAX_DATA_BYTES: String(1024 * 1024),
        },
        heapProbe: true,
      });
      sessionIds = [];
      for (let i = 0; i < 10; i++) sessionIds.push(await createSession(gateway.url, { cart: [] }));
    });

    afterAll(async () => {
      await gateway?.stop();
      await proxy?.close();
      await store.drop();
    });

    const replaceBlob = (i: number) =>
      call(gateway.url, 'PATCH', `/v1/sessions/${sessionIds[i % sessionIds.length]}`, {
        headers: ADMIN,
        contentType: 'application/json-patch+json',
        body: [{ op: 'add', path: '/blob', value: `${i}:${BLOB}` }],
        timeoutMs: REQUEST_BOUND_MS,
      });

    it(`over ${store.name}: a store 20 ms away per packet still answers every request`, async () => {
      proxy.delay(20);
      try {
        const outcomes = await runBounded(40, 10, (i) =>
          appendToCart(gateway.url, sessionIds[i % 10] as string, `slow-${i}`, REQUEST_BOUND_MS),
        );
        expect(tally(outcomes)).toEqual({ '200': 40 });
      } finally {
        proxy.pass();
      }
    });

    it(`over ${store.name}: a black-holed store gets 503 JSON within the bound, holds on to nothing, and is served again once the proxy heals`, async () => {
      // Warm up first, so the heap before the outage already holds what serving requests needs.
      expect(tally(await runBounded(100, 25, replaceBlob))).toEqual({ '200': 100 });
      const heapBefore = await gateway.heapUsedAfterGc();

      proxy.blackHole();
      const outcomes = await runBounded(failingRequests, 50, replaceBlob);
      const notReady = await call(gateway.url, 'GET', '/readyz', { timeoutMs: REQUEST_BOUND_MS });
      const heapDuring = await gateway.heapUsedAfterGc();
      proxy.pass();

      expect(tally(outcomes)).toEqual({ '503': failingRequests });
      expect(outcomes.every((outcome) => isJsonError(outcome, 503, 'ERR_STORE_UNAVAILABLE'))).toBe(
        true,
      );
      expect(isJsonError(notReady, 503, 'ERR_NOT_READY')).toBe(true);
      expect(heapDuring - heapBefore).toBeLessThan(HEAP_GROWTH_BOUND);

      await waitUntil(() => isReady(gateway.url), {
        what: 'the gateway to be ready again after the proxy healed',
        timeoutMs: 30_000,
        intervalMs: 200,
      });
      expect(tally(await runBounded(50, 10, replaceBlob))).toEqual({ '200': 50 });
    });
  },
);
