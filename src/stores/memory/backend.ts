import { splitQuery } from '../../core/backend-kit.js';
import { type BackendDefinition, ConfigError } from '../../core/index.js';
import { MemoryRecordStore } from './record-store.js';
import { MemoryStore } from './session-store.js';

/** `memory:`, optionally `memory:?max=N`: everything in this process, gone when it exits. */
export const memoryBackend: BackendDefinition = {
  schemes: ['memory:'],
  usage: 'memory:',
  parse(url) {
    const { max } = splitQuery(url, ['max'], { backend: 'memory' }).params;
    if (max !== undefined && !/^[1-9][0-9]*$/.test(max))
      throw new ConfigError('memory:?max= needs a positive integer');
    return {
      name: 'memory',
      displayUrl: url,
      shared: false,
      openSessions: async ({ codec, outbox } = {}) =>
        new MemoryStore({ codec, outbox, max: max === undefined ? undefined : Number(max) }),
      openRecords: async () => new MemoryRecordStore(),
    };
  },
};
