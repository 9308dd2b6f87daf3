import { type BackendDefinition, ConfigError } from '../../core/index.js';
import { MemoryRecordStore } from './record-store.js';
import { MemoryStore } from './session-store.js';

/** `memory:`, optionally `memory:?max=N`: everything in this process, gone when it exits. */
export const memoryBackend: BackendDefinition = {
  schemes: ['memory:'],
  usage: 'memory:',
  parse(url) {
    const max = new URLSearchParams(url.slice('memory:'.length).replace(/^\?/, '')).get('max');
    if (max !== null && !/^[1-9][0-9]*$/.test(max))
      throw new ConfigError('memory:?max= needs a positive integer');
    return {
      name: 'memory',
      displayUrl: url,
      shared: false,
      openSessions: async ({ codec } = {}) =>
        new MemoryStore({ codec, max: max === null ? undefined : Number(max) }),
      openRecords: async () => new MemoryRecordStore(),
    };
  },
};
