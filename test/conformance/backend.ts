import { describe, expect, it } from 'vitest';
import type { Backend } from '../../src/core/index.js';
import { describeInvalidationBus } from './invalidation-bus.js';
import { describeLease } from './lease.js';
import { describeRateLimiter, describeSharedRateLimiters } from './rate-limiter.js';
import { describeRecordStore } from './record-store.js';
import { describeSessionStore } from './session-store.js';

/**
 * Returns a fresh backend, usually `openBackend(url)` with a key prefix, a
 * table or a file no other call uses: its sessions and records start empty.
 * The caller removes what the backends leave behind.
 */
export type BackendFactory = () => Backend;

/** Why a backend that several processes share lacks a part, where it does. */
export interface BackendGaps {
  /** Why there is no `openBus`: the processes learn of changes only when their caches expire. */
  bus?: string;
}

/**
 * The one suite every backend passes: its sessions, records, lease, bus and
 * limiters each pass their own suite, all from one factory. Sessions and
 * records come from a fresh backend per test; the lease, the bus and the
 * limiters are opened several times on one backend, as the processes of one
 * deployment open them, and use fresh names.
 */
export function describeBackend(name: string, factory: BackendFactory, gaps: BackendGaps = {}) {
  // Only to see which parts it has: getting a Backend opens nothing.
  const backend = factory();
  describe(`the ${name} backend`, () => {
    describeSessionStore('its session store', ({ codec }) => factory().openSessions({ codec }));
    describeRecordStore('its record store', () => factory().openRecords());
    const openLease = backend.openLease?.bind(backend);
    if (openLease) describeLease('its lease', openLease);
    const openBus = backend.openBus?.bind(backend);
    if (openBus) describeInvalidationBus('its bus', openBus);
    const openLimiters = backend.openLimiters?.bind(backend);
    if (openLimiters) {
      describeRateLimiter('each of its rate limiters', openLimiters);
      describeSharedRateLimiters('its rate limiters', openLimiters);
    }

    if (backend.shared) {
      it('is shared by several processes, so it keeps sweeps to one of them and shares limits', () => {
        expect({ lease: openLease !== undefined, limiters: openLimiters !== undefined }).toEqual({
          lease: true,
          limiters: true,
        });
      });
      if (gaps.bus === undefined) {
        it('is shared by several processes, so it tells them of changes on a bus', () => {
          expect(openBus).toBeDefined();
        });
      } else {
        it(`has no bus: ${gaps.bus}`, () => {
          expect(openBus).toBeUndefined();
        });
      }
    }
  });
}
