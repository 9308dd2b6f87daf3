import { type BackendDefinition, ConfigError, openBackend, redactUrl } from '../core/index.js';
import { TieredStore } from './tiered.js';

/**
 * `tiered:<hot url>|<durable url>`, such as
 * `tiered:redis://127.0.0.1:6379|postgres://…`: sessions in both tiers
 * (see TieredStore); records and the sweep lease on the durable tier, since
 * they must outlive a cache; the bus and shared limits on the hot tier where
 * it has them, else on the durable one.
 */
export const tieredBackend: BackendDefinition = {
  schemes: ['tiered:'],
  usage: 'tiered:<hot url>|<durable url>',
  parse(url) {
    const [hotUrl, durableUrl, extra] = url.slice('tiered:'.length).split('|');
    if (!hotUrl || !durableUrl || extra !== undefined) {
      throw new ConfigError('a tiered store URL is tiered:<hot url>|<durable url>');
    }
    const hot = openBackend(hotUrl);
    const durable = openBackend(durableUrl);
    const busTier = hot.openBus ? hot : durable;
    const limiterTier = hot.openLimiters ? hot : durable;
    return {
      name: 'tiered',
      displayUrl: redactUrl(url),
      shared: hot.shared || durable.shared,
      async openSessions(options = {}) {
        // The durable tier alone keeps the outbox: TieredStore's outbox is the durable tier's.
        const { outbox: _, ...hotOptions } = options;
        const hotStore = await hot.openSessions(hotOptions);
        try {
          return new TieredStore(hotStore, await durable.openSessions(options));
        } catch (error) {
          await hotStore.close();
          throw error;
        }
      },
      openRecords: (options) => durable.openRecords(options),
      openLease: durable.openLease?.bind(durable),
      openBus: busTier.openBus?.bind(busTier),
      openLimiters: limiterTier.openLimiters?.bind(limiterTier),
    };
  },
};
