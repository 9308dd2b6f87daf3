import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  type Backend,
  type BackendDefinition,
  ConfigError,
  type InvalidationBus,
  registerBackend,
} from '../../src/core/index.js';
import { createGateway, parseConfig } from '../../src/gateway/index.js';
import {
  MemoryRateLimiter,
  MemoryRecordStore,
  MemoryStore,
  openBackend,
  openRecordStore,
  openStore,
  openSweepLease,
} from '../../src/stores/index.js';

/**
 * A backend from outside the package, registered the way a plug-in would:
 * in-process stores that claim to be shared, with a bus and limiters that
 * every instance in this process shares, and a count of what was opened.
 */
function pluginBackend(scheme: string) {
  const opened: string[] = [];
  const sessions = new MemoryStore();
  const records = new MemoryRecordStore();
  const subscribers = new Map<string, Set<(id: string | null) => void>>();
  const limiters = new Map<string, MemoryRateLimiter>();
  const backend: Backend = {
    name: 'plugin',
    displayUrl: scheme,
    shared: true,
    async openSessions() {
      opened.push('sessions');
      return sessions;
    },
    async openRecords() {
      opened.push('records');
      return records;
    },
    async openBus(topic) {
      opened.push(`bus:${topic}`);
      const handlers = subscribers.get(topic) ?? new Set();
      subscribers.set(topic, handlers);
      let mine: ((id: string | null) => void) | undefined;
      const bus: InvalidationBus = {
        async publish(id) {
          for (const handler of handlers) handler(id);
        },
        async subscribe(handler) {
          mine = handler;
          handlers.add(handler);
        },
        async close() {
          if (mine) handlers.delete(mine);
        },
      };
      return bus;
    },
    async openLimiters() {
      opened.push('limiters');
      return {
        create(name, options) {
          const limiter = limiters.get(name) ?? new MemoryRateLimiter(options);
          limiters.set(name, limiter);
          return limiter;
        },
        async close() {},
      };
    },
  };
  const definition: BackendDefinition = {
    schemes: [scheme],
    usage: `${scheme}<anything>`,
    parse: () => backend,
  };
  return { definition, opened };
}

describe('the backend registry', () => {
  it('opens a registered backend by its scheme, through openStore, openRecordStore and openSweepLease', async () => {
    const scheme = `plugin-${randomBytes(3).toString('hex')}:`;
    const { definition, opened } = pluginBackend(scheme);
    registerBackend(definition);

    expect(openBackend(`${scheme}x`).name).toBe('plugin');
    const store = await openStore(`${scheme}x`);
    const records = await openRecordStore(`${scheme}x`);
    expect(await openSweepLease(`${scheme}x`)).toBeNull();
    expect(opened).toEqual(['sessions', 'records']);
    await records.put('c', 'k', 1, { now: 0 });
    expect((await records.get('c', 'k', 0))?.value).toBe(1);
    await store.close();
  });

  it('lists every registered scheme when a URL matches none, with the password hidden', () => {
    const scheme = `listed-${randomBytes(3).toString('hex')}:`;
    registerBackend(pluginBackend(scheme).definition);
    const error = (() => {
      try {
        openBackend('mongodb://admin:hunter2@db/sessions');
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).not.toContain('hunter2');
    for (const form of ['sqlite:<path>', 'memory:', 'redis://', 'postgres://', 'tiered:', scheme])
      expect(message).toContain(form);
  });

  it('refuses a scheme taken by another backend and a malformed scheme, changing nothing', () => {
    const { definition } = pluginBackend('redis:');
    expect(() => registerBackend(definition)).toThrow(ConfigError);
    expect(openBackend('redis://127.0.0.1:6379').name).toBe('redis');
    expect(() => registerBackend({ ...definition, schemes: ['NoColon'] })).toThrow(ConfigError);
    const again = pluginBackend(`twice-${randomBytes(3).toString('hex')}:`).definition;
    registerBackend(again);
    expect(() => registerBackend(again)).not.toThrow();
  });

  it('a tiered URL composes any two registered backends', async () => {
    const scheme = `tierable-${randomBytes(3).toString('hex')}:`;
    const { definition, opened } = pluginBackend(scheme);
    registerBackend(definition);
    const tiered = openBackend(`tiered:memory:|${scheme}durable`);
    expect(tiered.shared).toBe(true);
    const store = await tiered.openSessions();
    await tiered.openRecords();
    await (await tiered.openLimiters?.())?.close();
    expect(opened).toEqual(['sessions', 'records', 'limiters']);
    await store.close();
  });

  it('the gateway runs on a registered backend and shares limits and invalidations through it', async () => {
    const scheme = `gateway-${randomBytes(3).toString('hex')}:`;
    const { definition, opened } = pluginBackend(scheme);
    registerBackend(definition);
    const gateway = await createGateway(
      parseConfig({
        port: 0,
        store: `${scheme}x`,
        adminToken: randomBytes(32).toString('base64url'),
        logLevel: 'silent',
        cookie: { insecureDevelopmentMode: true },
        nearCache: { max: 100, ttl: 60_000 },
      }),
    );
    try {
      // Shared, with limits and a bus: only the per-fleet secrets are left to warn about.
      expect(gateway.warnings).toHaveLength(2);
      expect(gateway.warnings.join('\n')).not.toMatch(/per process|keyCacheTtl|invalidation bus/);
      expect(opened).toEqual(
        expect.arrayContaining(['sessions', 'records', 'limiters', 'bus:sessions', 'bus:keys']),
      );
      const url = await gateway.listen();
      const response = await fetch(`${url}/healthz`);
      expect(response.status).toBe(200);
    } finally {
      await gateway.close();
    }
  });
});
