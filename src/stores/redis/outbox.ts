import {
  assertLimit,
  assertOutboxQuery,
  assertPosition,
  assertServiceEvents,
  assertTrim,
} from '../../core/backend-kit.js';
import {
  ConfigError,
  DecodeError,
  defaultInstance,
  type EventType,
  type Outbox,
  type OutboxEvent,
  type OutboxOptions,
  type OutboxPage,
  type OutboxQuery,
  type OutboxRecord,
} from '../../core/index.js';
import type { Connection } from './connection.js';
import { APPEND, BACKLOG, QUERY_START, TRIM } from './outbox-scripts.js';

export interface RedisOutboxOptions extends OutboxOptions {
  /**
   * About how many records the stream keeps (`XADD … MAXLEN ~`, so a little
   * more, by up to a node of the stream's radix tree). Past it the oldest
   * records are trimmed whether relayed or not: the bound keeps Redis's memory
   * bounded when no relay runs or the brokers are down for long.
   * `RedisOutbox.skipped` counts what a reader lost that way.
   * Default 1,000,000.
   */
  maxLength?: number;
}

/** `RedisOutboxOptions` with the defaults filled in. */
export type OutboxSettings = Required<RedisOutboxOptions>;

/** The settings of the store's `outbox` option; ConfigError before anything connects if they are wrong. */
export function outboxSettings(option: RedisOutboxOptions | true): OutboxSettings {
  const options = option === true ? {} : option;
  const maxLength = options.maxLength ?? 1_000_000;
  if (!(Number.isSafeInteger(maxLength) && maxLength > 0))
    throw new ConfigError('the outbox maxLength must be a positive integer');
  return { instance: options.instance ?? defaultInstance(), maxLength };
}

/** Entries a query reads from the stream per round trip. */
const QUERY_CHUNK = 500;

/**
 * The outbox of a `RedisStore`: one stream, `<prefix>ev`, on the store's
 * standalone server. An entry's stream id is `<n>-<ms>`: `n` counts every
 * entry the stream has held and is the record's position (decimal, like
 * every store's, and two positions subtract into a count of records); `ms` is
 * the event's time, or the entry before's when later, so it never decreases
 * along the stream (outbox-scripts.ts). Each entry holds one event as fields
 * (`id`, `type`, `time`, `session`, `user`, `seq`, `instance`, and `data` as
 * JSON), `session` and `user` left out when null. The store's scripts append
 * a session's events in the step of its change; this reads, counts, trims and
 * queries them.
 */
export class RedisOutbox implements Outbox {
  /** Names this process in the events its store makes. */
  readonly instance: string;
  readonly #redis: Connection;
  readonly #stream: string;
  readonly #bound: string;

  constructor(redis: Connection, stream: string, settings: OutboxSettings) {
    this.instance = settings.instance;
    this.#redis = redis;
    this.#stream = stream;
    this.#bound = String(settings.maxLength);
  }

  /** The ARGV the store's scripts take for a write's session events: the bound, then three values per event. */
  eventArgs(events: readonly OutboxEvent[]): (string | Buffer)[] {
    const args: (string | Buffer)[] = [this.#bound];
    for (const event of events) args.push(String(event.time), event.userId ?? '', entryTail(event));
    return args;
  }

  async append(events: readonly OutboxEvent[]): Promise<void> {
    assertServiceEvents(events);
    if (events.length === 0) return;
    const args: (string | Buffer)[] = [this.#bound];
    for (const event of events) args.push(String(event.time), encodeEntry(event));
    await this.#redis.run(APPEND, this.#stream, args);
  }

  async read(after: string | null, limit: number): Promise<OutboxRecord[]> {
    assertPosition(after);
    assertLimit(limit);
    return this.#range(startAfter(after), limit);
  }

  /** O(log n): the count is a difference of positions, never a walk over the stream. */
  async backlog(after: string | null): Promise<{ count: number; oldestTime: number | null }> {
    const { count, oldestTime } = await this.#behind(after);
    return { count, oldestTime };
  }

  /**
   * How many records after `after` are gone before a reader at `after` read
   * them: trimmed by the bound, or by `trim`. Exact, from the positions. A
   * relay that finds some has lost events to its brokers, and should say so.
   */
  async skipped(after: string | null): Promise<number> {
    return (await this.#behind(after)).skipped;
  }

  /**
   * Removes the oldest records while their time is before `before`: a prefix
   * of the stream, so a record made before `before` stays, for now, behind
   * one positioned before it but made later (on a clock ahead).
   */
  async trim(before: number, limit: number): Promise<OutboxRecord[]> {
    assertTrim(before, limit);
    const reply = await this.#redis.run(TRIM, this.#stream, [String(before), String(limit)]);
    return parseEntries(reply);
  }

  /**
   * Reads the stream from the cursor or from `since`, whichever is later,
   * and filters: Redis keeps no index by user or session, so a query costs a
   * read of what follows its start (at most the stream's bound), in chunks.
   * `since` bounds the read (QUERY_START finds where, by halving); `until`
   * only filters, since an entry after one made past `until` may still hold
   * an event made before it, on a clock behind.
   */
  async query(filter: OutboxQuery): Promise<OutboxPage> {
    assertOutboxQuery(filter);
    const { since, limit } = filter;
    let from = filter.after == null ? 1n : BigInt(filter.after) + 1n;
    if (since !== undefined) {
      const first = BigInt(
        (await this.#redis.run(QUERY_START, this.#stream, [String(since)])) as number,
      );
      if (first > from) from = first;
    }
    const records: OutboxRecord[] = [];
    for (;;) {
      const chunk = await this.#range(String(from), QUERY_CHUNK);
      for (const record of chunk) {
        if (!matches(record, filter)) continue;
        if (records.length === limit)
          return { records, cursor: (records.at(-1) as OutboxRecord).position };
        records.push(record);
      }
      const last = chunk.at(-1);
      if (!last || chunk.length < QUERY_CHUNK) return { records, cursor: null };
      from = BigInt(last.position) + 1n;
    }
  }

  /** Up to `count` records from the XRANGE start `start` on. */
  async #range(start: string, count: number): Promise<OutboxRecord[]> {
    const args = ['XRANGE', this.#stream, start, '+', 'COUNT', String(count)];
    return parseEntries(await this.#redis.send(this.#stream, args));
  }

  async #behind(after: string | null): Promise<{
    count: number;
    oldestTime: number | null;
    skipped: number;
  }> {
    assertPosition(after);
    const reply = (await this.#redis.run(BACKLOG, this.#stream, [startAfter(after)])) as
      | [number, unknown]
      | [];
    if (reply.length === 0) return { count: 0, oldestTime: null, skipped: 0 };
    const [last, entry] = reply;
    const first = entry ? parseEntry(entry) : null;
    const next = first ? Number(first.position) : last + 1;
    return {
      count: last - next + 1,
      oldestTime: first?.time ?? null,
      skipped: Math.max(0, next - Number(after ?? 0) - 1),
    };
  }
}

/** The XRANGE start of the entries after a position: the next position, an id without its time. */
function startAfter(after: string | null): string {
  return after === null ? '-' : String(BigInt(after) + 1n);
}

function matches(record: OutboxRecord, filter: OutboxQuery): boolean {
  const { userId, sessionId, types, since, until } = filter;
  return (
    (userId === undefined || record.userId === userId) &&
    (sessionId === undefined || record.sessionId === sessionId) &&
    (types === undefined || types.includes(record.type)) &&
    (since === undefined || record.time >= since) &&
    (until === undefined || record.time < until)
  );
}

/*
 * An entry holds its event in one field, `e`, whose value is
 *
 *   <sequence>,<time>,<user length>,<user><JSON length>,<JSON><payload>
 *
 * lengths in bytes, decimal; the user length is `-` for an event of no user
 * (the user is then empty); the JSON is `[id, type, session or null,
 * instance, data]`; the payload, the replay payload's bytes as they are, is
 * whatever follows the JSON (none when empty: a codec's encoding is never
 * empty). The scripts write the head up to the user (only they know the
 * sequence, and a DELETE's user); `entryTail` the rest.
 */

/** The part of an entry after the user. */
function entryTail(event: OutboxEvent): Buffer {
  const json = Buffer.from(
    JSON.stringify([event.id, event.type, event.sessionId, event.instance, event.data]),
  );
  const length = Buffer.from(`${json.length},`);
  return event.payload
    ? Buffer.concat([length, json, event.payload])
    : Buffer.concat([length, json]);
}

/** A whole entry, for an event whose sequence and user are known: a service event. */
function encodeEntry(event: OutboxEvent): Buffer {
  const user = event.userId === null ? null : Buffer.from(event.userId);
  const head = `${event.sequence},${event.time},${user === null ? '-' : user.length},`;
  return Buffer.concat([Buffer.from(head), user ?? Buffer.alloc(0), entryTail(event)]);
}

function parseEntries(reply: unknown): OutboxRecord[] {
  return (reply as unknown[]).map(parseEntry);
}

/** A record from an XRANGE entry: its id (`<position>-<ms>`) and its field and value (Buffers). */
function parseEntry(entry: unknown): OutboxRecord {
  const [id, values] = entry as [Buffer, Buffer[]];
  const value = values[1];
  if (String(values[0]) !== 'e' || !Buffer.isBuffer(value))
    throw new DecodeError('an outbox entry is not a clawsession event');
  let at = 0;
  const number = (): string => {
    const comma = value.indexOf(0x2c, at);
    if (comma < 0) throw new DecodeError('an outbox entry is truncated');
    const text = value.toString('latin1', at, comma);
    at = comma + 1;
    return text;
  };
  const bytes = (length: number): Buffer => {
    if (!(Number.isSafeInteger(length) && length >= 0 && at + length <= value.length))
      throw new DecodeError('an outbox entry is truncated');
    at += length;
    return value.subarray(at - length, at);
  };
  const sequence = Number(number());
  const time = Number(number());
  const userLength = number();
  const userId = userLength === '-' ? null : bytes(Number(userLength)).toString('utf8');
  const [eventId, type, sessionId, instance, data] = parseJson(bytes(Number(number()))) as [
    string,
    EventType,
    string | null,
    string,
    OutboxRecord['data'],
  ];
  const payload = value.subarray(at);
  const streamId = String(id);
  return {
    position: streamId.slice(0, streamId.indexOf('-')),
    id: eventId,
    type,
    time,
    sessionId,
    userId,
    sequence,
    instance,
    data,
    ...(payload.length > 0 ? { payload: Buffer.from(payload) } : {}),
  };
}

function parseJson(bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new DecodeError('an outbox entry holds malformed JSON');
  }
}
