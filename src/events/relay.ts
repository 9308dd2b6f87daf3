import {
  ConfigError,
  type Lease,
  type Outbox,
  type OutboxRecord,
  type RecordStore,
  withTimeout,
} from '../core/index.js';
import { DeliveryLog, failureMessage, type SinkDelivery } from './delivery-log.js';
import { toCloudEvent } from './envelope.js';
import { UnknownSinkError } from './errors.js';
import { cursorBefore, type RedeliverFrom, upTo } from './redelivery.js';
import { type OutboxArchive, trimDelivered } from './retention.js';
import type { EventSink } from './sink.js';
import { Wakeup } from './wakeup.js';

/** What the relay tells its owner, for logs and metrics. Callbacks must not throw. */
export interface RelayObserver {
  /** A batch of `count` events reached `sink`. */
  onDelivered?(sink: string, count: number): void;
  /** A publish to `sink` failed; the relay retries after `delivery.retryAt`. */
  onFailure?(sink: string, error: unknown, delivery: SinkDelivery): void;
  /** `sink` failed `pauseAfter` times in a row and gets no more attempts until `resume`. */
  onPaused?(sink: string, delivery: SinkDelivery): void;
  /** What `sink` has not been given yet, measured after each round of delivery (at most every `backlogInterval`). */
  onBacklog?(sink: string, backlog: SinkBacklog): void;
  /** The outbox, the delivery log or the lease failed; the relay tries again at the next poll. */
  onError?(error: unknown): void;
}

export interface SinkBacklog {
  /** Records after the sink's cursor. */
  count: number;
  /** When the oldest of them was made (ms since the epoch), null when there is none. */
  oldestTime: number | null;
  /** How old the oldest of them is, in ms; null when there is none. */
  oldestAge: number | null;
}

/** A sink's delivery log and backlog, as `status()` shows them. */
export interface SinkStatus extends SinkDelivery {
  backlog: SinkBacklog;
}

export interface RelayOptions {
  outbox: Outbox;
  /** Each with a name of its own; each moves at its own pace. */
  sinks: readonly EventSink[];
  /** Makes one instance of several relay at a time; null for an outbox only this process writes (memory, SQLite). */
  lease: Lease | null;
  /** Keeps the delivery log, shared by every instance: on the same backend as the outbox. */
  records: RecordStore;
  /** Names the lease and the delivery log's collection. Default `event-relay`. */
  name?: string;
  /** Records per publish. Default 100. */
  batchSize?: number;
  /** How often the relay looks for new records, in ms. Default 200; `notify()` wakes it sooner. */
  pollInterval?: number;
  /** Failed publishes in a row after which a sink is paused until `resume`. Default 10. */
  pauseAfter?: number;
  /** The wait after a failure: `initial` ms, doubled with each failure in a row, at most `max`. Default 1,000 and 60,000. */
  retryDelay?: { initial?: number; max?: number };
  /** Longest wait for a sink to acknowledge a batch, in ms, before it counts as failed. Default 10,000. */
  publishTimeout?: number;
  /** When set, records older than this (ms) that every sink has delivered are removed from the outbox. */
  retention?: number;
  /** Receives the records retention removes, before they are removed. */
  archive?: OutboxArchive;
  /** Shortest time between two trims for retention, in ms. Default 60,000. */
  retentionInterval?: number;
  /** Shortest time between two backlog reports, in ms. Default 1,000. */
  backlogInterval?: number;
  observer?: RelayObserver;
  clock?: () => number;
}

/** Sink batches one round delivers before the relay looks at its other duties (backlog, retention, `stop`). */
const BATCHES_PER_ROUND = 10;

/**
 * Moves the outbox's records to the sinks, in the background: the request
 * path never waits for a broker. While it holds the lease it reads the
 * outbox in batches, wraps each record in its CloudEvents envelope and
 * publishes to every sink independently: each sink has its own cursor in the
 * delivery log, moved only past a batch the sink acknowledged, so a sink
 * that is down holds back no other. A failed batch is sent again whole after
 * a capped exponential backoff (at-least-once: consumers deduplicate by event
 * id); after `pauseAfter` failures in a row the sink is paused until
 * `resume`.
 */
export class EventRelay {
  readonly #outbox: Outbox;
  readonly #sinks: readonly EventSink[];
  readonly #lease: Lease | null;
  readonly #log: DeliveryLog;
  readonly #name: string;
  readonly #batchSize: number;
  readonly #pollInterval: number;
  readonly #pauseAfter: number;
  readonly #retryInitial: number;
  readonly #retryMax: number;
  readonly #publishTimeout: number;
  readonly #retention: number | undefined;
  readonly #archive: OutboxArchive | undefined;
  readonly #retentionInterval: number;
  readonly #backlogInterval: number;
  readonly #observer: RelayObserver;
  readonly #clock: () => number;
  readonly #wakeup = new Wakeup();
  #running: Promise<void> | null = null;
  #stopping = false;
  #backlogReportedAt = Number.NEGATIVE_INFINITY;
  #trimmedAt = Number.NEGATIVE_INFINITY;

  constructor(options: RelayOptions) {
    const names = options.sinks.map((sink) => sink.name);
    if (names.length === 0) throw new ConfigError('an event relay needs at least one sink');
    if (new Set(names).size !== names.length)
      throw new ConfigError(`an event relay's sinks need names of their own: ${names.join(', ')}`);
    this.#outbox = options.outbox;
    this.#sinks = options.sinks;
    this.#lease = options.lease;
    this.#name = options.name ?? 'event-relay';
    this.#clock = options.clock ?? Date.now;
    this.#log = new DeliveryLog(options.records, this.#name, this.#clock);
    this.#batchSize = positive('batchSize', options.batchSize ?? 100);
    this.#pollInterval = positive('pollInterval', options.pollInterval ?? 200);
    this.#pauseAfter = positive('pauseAfter', options.pauseAfter ?? 10);
    this.#retryInitial = positive('retryDelay.initial', options.retryDelay?.initial ?? 1_000);
    this.#retryMax = positive('retryDelay.max', options.retryDelay?.max ?? 60_000);
    this.#publishTimeout = positive('publishTimeout', options.publishTimeout ?? 10_000);
    this.#retention =
      options.retention === undefined ? undefined : positive('retention', options.retention);
    this.#archive = options.archive;
    this.#retentionInterval = options.retentionInterval ?? 60_000;
    this.#backlogInterval = options.backlogInterval ?? 1_000;
    this.#observer = options.observer ?? {};
  }

  /** Starts relaying in the background; a second call does nothing. */
  start(): void {
    if (this.#running) return;
    this.#stopping = false;
    this.#running = this.#loop();
  }

  /** Stops after the batch in flight, if any, has been acknowledged or has failed. The sinks stay open: close them after. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#wakeup.notify();
    await this.#running;
    this.#running = null;
  }

  /** Looks at the outbox now instead of at the next poll (after a write, say). */
  notify(): void {
    this.#wakeup.notify();
  }

  /** Every sink's delivery log and backlog; the same from any instance. */
  async status(): Promise<SinkStatus[]> {
    return Promise.all(
      this.#sinks.map(async (sink) => {
        const { delivery } = await this.#log.read(sink.name);
        return { ...delivery, backlog: await this.#backlog(delivery) };
      }),
    );
  }

  /** Lets a paused sink be tried again, from its cursor, at once. */
  async resume(sink: string): Promise<SinkDelivery> {
    this.#assertSink(sink);
    const resumed = await this.#log.update(sink, (current) => ({
      ...current,
      failures: 0,
      retryAt: null,
      paused: false,
      pausedSince: null,
      pauseReason: null,
    }));
    this.notify();
    return resumed;
  }

  /**
   * Makes `sink` get again every record from `from` on (an event id, or a
   * time in ms: the first record at or after it), by moving its cursor back
   * to just before that record. A sink that has not been given that record
   * yet keeps its cursor. EventNotFoundError for an id the outbox does not
   * hold. A paused sink stays paused: `resume` continues from the new cursor.
   */
  async redeliver(sink: string, from: RedeliverFrom): Promise<SinkDelivery> {
    this.#assertSink(sink);
    for (;;) {
      const { delivery, version } = await this.#log.read(sink);
      const cursor = await cursorBefore(
        this.#outbox,
        from,
        delivery.delivered?.position ?? null,
        this.#clock(),
      );
      if (cursor === 'unchanged') return delivery;
      const moved = { ...delivery, delivered: cursor, attempts: 0 };
      if (await this.#log.write(moved, version)) {
        this.notify();
        return moved;
      }
    }
  }

  async #loop(): Promise<void> {
    while (!this.#stopping) {
      const more = await this.#round();
      if (!more && !this.#stopping) await this.#wakeup.wait(this.#pollInterval);
    }
  }

  /** One round under the lease; whether a sink has more to deliver right away. */
  async #round(): Promise<boolean> {
    try {
      if (!this.#lease) return await this.#relay(new AbortController().signal);
      const outcome = await this.#lease.run(this.#name, (signal) => this.#relay(signal));
      return outcome.acquired && outcome.value;
    } catch (error) {
      this.#observer.onError?.(error);
      return false;
    }
  }

  async #relay(leaseLost: AbortSignal): Promise<boolean> {
    const more = await Promise.all(this.#sinks.map((sink) => this.#deliver(sink, leaseLost)));
    const backlogDue =
      this.#observer.onBacklog !== undefined &&
      this.#clock() - this.#backlogReportedAt >= this.#backlogInterval;
    const trimming =
      this.#retention !== undefined &&
      this.#clock() - this.#trimmedAt >= this.#retentionInterval &&
      !leaseLost.aborted &&
      !this.#stopping;
    if (!backlogDue && !trimming) return more.some(Boolean);
    const deliveries = await Promise.all(
      this.#sinks.map(async (sink) => (await this.#log.read(sink.name)).delivery),
    );
    if (backlogDue) await this.#reportBacklog(deliveries);
    if (this.#retention !== undefined && trimming) {
      this.#trimmedAt = this.#clock();
      await trimDelivered({
        outbox: this.#outbox,
        cursors: deliveries.map((delivery) => delivery.delivered?.position ?? null),
        before: this.#clock() - this.#retention,
        batchSize: this.#batchSize,
        archive: this.#archive,
      });
    }
    return more.some(Boolean);
  }

  /** Up to BATCHES_PER_ROUND batches to `sink`; whether it has more right away. Failures of the outbox or the log go to onError. */
  async #deliver(sink: EventSink, leaseLost: AbortSignal): Promise<boolean> {
    try {
      for (let batch = 0; batch < BATCHES_PER_ROUND; batch++) {
        if (this.#stopping || leaseLost.aborted) return false;
        const { delivery } = await this.#log.read(sink.name);
        if (delivery.paused || (delivery.retryAt ?? 0) > this.#clock()) return false;
        const cursor = delivery.delivered?.position ?? null;
        const records = await this.#outbox.read(cursor, this.#batchSize);
        if (records.length === 0) return false;
        const published = await this.#publish(sink, records, cursor);
        if (!published) return false;
        if (records.length < this.#batchSize) return false;
      }
      return true;
    } catch (error) {
      this.#observer.onError?.(error);
      return false;
    }
  }

  /** Publishes one batch and records the outcome; whether the sink acknowledged it. */
  async #publish(
    sink: EventSink,
    records: readonly OutboxRecord[],
    cursor: string | null,
  ): Promise<boolean> {
    const last = records.at(-1) as OutboxRecord;
    try {
      await withTimeout(
        sink.publish(records.map(toCloudEvent)),
        this.#publishTimeout,
        () => new Error(`no acknowledgement within ${this.#publishTimeout} ms`),
      );
    } catch (error) {
      await this.#failed(sink.name, error, cursor);
      return false;
    }
    // A redelivery or another instance may have moved the cursor meanwhile: only then is it left alone.
    await this.#log.update(sink.name, (current) =>
      (current.delivered?.position ?? null) === cursor
        ? {
            ...current,
            delivered: upTo(last, this.#clock()),
            attempts: 0,
            failures: 0,
            retryAt: null,
          }
        : null,
    );
    this.#observer.onDelivered?.(sink.name, records.length);
    return true;
  }

  async #failed(sink: string, error: unknown, cursor: string | null): Promise<void> {
    const now = this.#clock();
    let pausedNow = false;
    const delivery = await this.#log.update(sink, (current) => {
      pausedNow = false;
      if (current.paused) return null;
      const failures = current.failures + 1;
      pausedNow = failures >= this.#pauseAfter;
      const sameBatch = (current.delivered?.position ?? null) === cursor;
      return {
        ...current,
        attempts: sameBatch ? current.attempts + 1 : 1,
        failures,
        lastError: { message: failureMessage(error), at: now },
        retryAt: pausedNow ? null : now + this.#retryDelay(failures),
        paused: pausedNow,
        pausedSince: pausedNow ? now : null,
        pauseReason: pausedNow ? `${failures} failed deliveries in a row` : null,
      };
    });
    this.#observer.onFailure?.(sink, error, delivery);
    if (pausedNow) this.#observer.onPaused?.(sink, delivery);
  }

  #retryDelay(failures: number): number {
    return Math.min(this.#retryInitial * 2 ** (failures - 1), this.#retryMax);
  }

  async #reportBacklog(deliveries: readonly SinkDelivery[]): Promise<void> {
    this.#backlogReportedAt = this.#clock();
    for (const delivery of deliveries)
      this.#observer.onBacklog?.(delivery.sink, await this.#backlog(delivery));
  }

  async #backlog(delivery: SinkDelivery): Promise<SinkBacklog> {
    const { count, oldestTime } = await this.#outbox.backlog(delivery.delivered?.position ?? null);
    return {
      count,
      oldestTime,
      oldestAge: oldestTime === null ? null : this.#clock() - oldestTime,
    };
  }

  #assertSink(name: string): void {
    const names = this.#sinks.map((sink) => sink.name);
    if (!names.includes(name)) throw new UnknownSinkError(name, names);
  }
}

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0)
    throw new ConfigError(`${name} must be a positive number, not ${value}`);
  return value;
}
