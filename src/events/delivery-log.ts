import { z } from 'zod';
import { DecodeError, type RecordStore, type RecordValue, redactUrl } from '../core/index.js';

/** The last record a sink acknowledged. */
export interface DeliveredUpTo {
  /** The record's outbox position: the sink's cursor. */
  position: string;
  eventId: string;
  /** When the event happened, ms since the epoch. */
  eventTime: number;
  /** When the sink acknowledged it, ms since the epoch. */
  at: number;
}

/**
 * Where one sink stands, as the relay keeps it in the RecordStore: it
 * survives restarts and every instance reads the same (the admin API and CLI
 * show it with `EventRelay.status()`).
 */
export interface SinkDelivery {
  sink: string;
  /** Null before the first acknowledged batch, or after a redelivery from the first record. */
  delivered: DeliveredUpTo | null;
  /** Tries of the batch after the cursor; 0 once the cursor moves. */
  attempts: number;
  /** Failed publishes in a row; 0 after a success or a resume. */
  failures: number;
  /** The last failure's message (URL passwords hidden) and time; kept after a success, for the record. */
  lastError: { message: string; at: number } | null;
  /** No attempt before this time (the backoff after a failure), ms since the epoch. */
  retryAt: number | null;
  paused: boolean;
  pausedSince: number | null;
  pauseReason: string | null;
}

const deliverySchema = z.object({
  sink: z.string(),
  delivered: z
    .object({
      position: z.string(),
      eventId: z.string(),
      eventTime: z.number(),
      at: z.number(),
    })
    .nullable(),
  attempts: z.number(),
  failures: z.number(),
  lastError: z.object({ message: z.string(), at: z.number() }).nullable(),
  retryAt: z.number().nullable(),
  paused: z.boolean(),
  pausedSince: z.number().nullable(),
  pauseReason: z.string().nullable(),
});

export function initialDelivery(sink: string): SinkDelivery {
  return {
    sink,
    delivered: null,
    attempts: 0,
    failures: 0,
    lastError: null,
    retryAt: null,
    paused: false,
    pausedSince: null,
    pauseReason: null,
  };
}

/** What a failure leaves in the log: the message only (never a stack or a cause), URL passwords hidden, at most 500 characters. */
export function failureMessage(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return redactUrl(message).slice(0, 500);
}

/** A sink's delivery with the version the RecordStore holds it at, for a compare-and-set write. */
export interface VersionedDelivery {
  delivery: SinkDelivery;
  /** 0 when the sink has no record yet. */
  version: number;
}

/**
 * The per-sink delivery log in a RecordStore collection, one record per sink.
 * Every write is a compare-and-set, so a `redeliver` or `resume` from another
 * instance is never overwritten by the relay finishing a batch.
 */
export class DeliveryLog {
  readonly #records: RecordStore;
  readonly #collection: string;
  readonly #clock: () => number;

  constructor(records: RecordStore, collection: string, clock: () => number) {
    this.#records = records;
    this.#collection = collection;
    this.#clock = clock;
  }

  async read(sink: string): Promise<VersionedDelivery> {
    const record = await this.#records.get(this.#collection, sink, this.#clock());
    if (!record) return { delivery: initialDelivery(sink), version: 0 };
    const parsed = deliverySchema.safeParse(record.value);
    if (!parsed.success)
      throw new DecodeError(`the delivery log of sink ${JSON.stringify(sink)} is not readable`);
    return { delivery: parsed.data, version: record.version };
  }

  /** Writes `delivery` if the record is still at `version`; false when someone wrote in between. */
  async write(delivery: SinkDelivery, version: number): Promise<boolean> {
    const written = await this.#records.put(
      this.#collection,
      delivery.sink,
      delivery as unknown as RecordValue,
      { now: this.#clock(), ifVersion: version },
    );
    return written !== null;
  }

  /**
   * Applies `change` to the current delivery and writes it, again on a
   * fresh read when another write came first. `change` returns null to
   * leave the record as it is. Resolves with the delivery as it now stands.
   */
  async update(
    sink: string,
    change: (current: SinkDelivery) => SinkDelivery | null,
  ): Promise<SinkDelivery> {
    for (;;) {
      const { delivery, version } = await this.read(sink);
      const next = change(delivery);
      if (next === null) return delivery;
      if (await this.write(next, version)) return next;
    }
  }
}
