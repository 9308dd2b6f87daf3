import { type BackendDefinition, ConfigError, openBackend, redactUrl } from '../core/index.js';
import { MigratingStore } from './migrating.js';
import { MigratingRecordStore } from './migrating-records.js';

/**
 * `migrating:<old url>|<new url>`: a fleet serving while its state moves from
 * one store to another (see MigratingStore and the README's "Moving between
 * stores"). Sessions and records are read in new first and moved from old on
 * first use; everything else (sweep lease, bus, shared limits) is new's, the
 * store the fleet is heading for.
 */
export const migratingBackend: BackendDefinition = {
  schemes: ['migrating:'],
  usage: 'migrating:<old url>|<new url>',
  parse(url) {
    const [oldUrl, newUrl, extra] = url.slice('migrating:'.length).split('|');
    if (!oldUrl || !newUrl || extra !== undefined)
      throw new ConfigError('a migrating store URL is migrating:<old url>|<new url>');
    const old = openBackend(oldUrl);
    const next = openBackend(newUrl);
    return {
      name: 'migrating',
      displayUrl: redactUrl(url),
      shared: old.shared && next.shared,
      async openSessions(options) {
        const oldStore = await old.openSessions({ ...options, mustExist: true });
        try {
          return new MigratingStore(oldStore, await next.openSessions(options));
        } catch (error) {
          await oldStore.close();
          throw error;
        }
      },
      async openRecords() {
        const oldRecords = await old.openRecords({ mustExist: true });
        try {
          return new MigratingRecordStore(oldRecords, await next.openRecords());
        } catch (error) {
          await oldRecords.close();
          throw error;
        }
      },
      openLease: next.openLease?.bind(next),
      openBus: next.openBus?.bind(next),
      openLimiters: next.openLimiters?.bind(next),
    };
  },
};
