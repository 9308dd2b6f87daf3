import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GatewayProcess, startGatewayProcess } from './support/gateway-process.js';
import { runBounded, tally } from './support/http-client.js';
import {
  ADMIN_TOKEN,
  appendToCart,
  createSession,
  readSessionData,
} from './support/sessions-api.js';
import { scratchPostgres, scratchRedis } from './support/shared-stores.js';

const APPENDS = 1_000;
const IN_FLIGHT = 50;

describe.each([scratchRedis, scratchPostgres])(
  'concurrent appends through two gateways',
  (scratch) => {
    const store = scratch();
    const gateways: GatewayProcess[] = [];

    beforeAll(async () => {
      for (let i = 0; i < 2; i++) {
        gateways.push(
          await startGatewayProcess({
            env: { CLAWSESSION_STORE: store.url, CLAWSESSION_ADMIN_TOKEN: ADMIN_TOKEN },
          }),
        );
      }
    });

    afterAll(async () => {
      await Promise.all(gateways.map((gateway) => gateway.stop()));
      await store.drop();
    });

    it(`over ${store.name}: 1,000 appends to one cart, 50 at a time, leave exactly 1,000 distinct items`, async () => {
      const [a, b] = gateways as [GatewayProcess, GatewayProcess];
      const id = await createSession(a.url, { cart: [] });
      const items = Array.from({ length: APPENDS }, (_, i) => `item-${String(i).padStart(4, '0')}`);

      const outcomes = await runBounded(APPENDS, IN_FLIGHT, (i) =>
        appendToCart((i % 2 === 0 ? a : b).url, id, items[i] as string, 30_000),
      );

      // No retries: a refused append would be a lost item, and a 503 here is reported, not hidden.
      expect(tally(outcomes)).toEqual({ '200': APPENDS });
      const cart = (await readSessionData(b.url, id)).cart as string[];
      expect(cart).toHaveLength(APPENDS);
      expect([...cart].sort()).toEqual(items);
    });
  },
);
