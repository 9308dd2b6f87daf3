import type { FastifyBaseLogger } from 'fastify';
import {
  type Outbox,
  type OutboxEvent,
  type ServiceEventType,
  serviceEvent,
} from '../core/index.js';

/**
 * Records the events of no session change (a failed login, an API key
 * created, rotated or revoked, a reused refresh token) in the store's
 * outbox, when it keeps one. They are appended after what they report, not
 * in its step: such a change lives in the record store, whose writes carry
 * no outbox, so a crash between the two can lose the event (docs/events.md).
 * Never fails the request: a failed append is logged.
 */
export class ServiceEventLog {
  readonly #outbox: Outbox | undefined;
  readonly #instance: string;
  readonly #clock: () => number;
  readonly #log: () => FastifyBaseLogger;

  constructor(options: {
    outbox: Outbox | undefined;
    instance: string;
    clock: () => number;
    log: () => FastifyBaseLogger;
  }) {
    this.#outbox = options.outbox;
    this.#instance = options.instance;
    this.#clock = options.clock;
    this.#log = options.log;
  }

  async record(
    type: ServiceEventType,
    userId: string | null,
    data: Record<string, unknown>,
  ): Promise<void> {
    if (!this.#outbox) return;
    await this.append(
      serviceEvent(type, { userId, instance: this.#instance, time: this.#clock(), data }),
    );
  }

  /** Appends an event built elsewhere (an anomaly flag's); a failure is logged. */
  async append(event: OutboxEvent): Promise<void> {
    await this.#outbox?.append([event]).catch((error: unknown) => {
      this.#log().error(
        { err: error, event: event.type },
        `recording a ${event.type} event failed`,
      );
    });
  }
}
