import type { InvalidationBus, SessionStore } from '../core/index.js';
import { NearCache, openBackend } from '../stores/index.js';
import { type GatewayConfig, openConfiguredStore } from './config.js';
import { openSessionInvalidationBus } from './shared-services.js';

/** A near-cache that keeps nothing: it only publishes what changes. */
const NOTHING_CACHED = { max: 1, ttl: 1 };

/**
 * The gateway's session store as configured: the store URL with its codec,
 * behind the near-cache when `nearCache` is set, with the store's session
 * invalidation bus so that a change made by any gateway or by the CLI drops
 * every copy at once (a store no other process shares needs none). The
 * warning says when a shared store has no bus and copies live up to `ttl`.
 * `announceChanges` is for a process that caches nothing but changes
 * sessions under running gateways (the CLI): whatever its own config says,
 * its changes go out on the bus, as the gateways' near-caches need.
 */
export async function openSessionStore(
  config: GatewayConfig,
  options: { announceChanges?: boolean } = {},
): Promise<{ store: SessionStore; warning?: string }> {
  const store = await openConfiguredStore(config.store, config);
  const nearCache = config.nearCache ?? (options.announceChanges ? NOTHING_CACHED : undefined);
  if (!nearCache) return { store };
  let bus: InvalidationBus | undefined;
  try {
    bus = (await openSessionInvalidationBus(config.store)) ?? undefined;
    if (!config.nearCache && !bus) return { store };
    const cached = await NearCache.create(store, { ...nearCache, bus });
    return bus || !openBackend(config.store).shared
      ? { store: cached }
      : {
          store: cached,
          warning: `nearCache has no invalidation bus on this store: a session changed on another gateway is seen here after up to ${nearCache.ttl} ms`,
        };
  } catch (error) {
    await bus?.close();
    await store.close();
    throw error;
  }
}
