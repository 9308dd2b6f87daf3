import { assertLimit, assertNow } from '../../core/backend-kit.js';
import {
  ConfigError,
  DecodeError,
  defaultInstance,
  EVENT_TYPES,
  type EventType,
  type Outbox,
  type OutboxEvent,
  type OutboxOptions,
  type OutboxPage,
  type OutboxQuery,
  type OutboxRecord,
  ValidationError,
} from '../../core/index.js';
import type { Connection } from './connection.js';
import { APPEND, BACKLOG, TRIM } from './outbox-scripts.js';

export interface RedisOutboxOptions extends OutboxOptions {
  /**
   * About how many records the stream keeps (`XADD … MAXLEN ~`, so a little
   * more, by up to a node of the stream's radix tree). Past it the oldest
   * records are trimmed whether relayed or not: the bound keeps Redis's memory
   * bounded when no relay runs or the brokers are down for long.
   * `RedisOutbox.backlog` counts, as `skipped`, what a reader lost that way.
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

/** How many records a reader is behind, and how many it can no longer read. */
export interface RedisBacklog {
  count: number;
  oldestTime: number | null;
  /**
   * Records after `after` that are gone before it read them: trimmed by the
   * bound (or by `trim`). Exact, from the count part of the stream ids.
   */
  skipped: number;
}

/**
 * A stream id: `<ms>-<n>`, where n counts every entry the stream has held
 * (see outbox-scripts.ts), so positions order by n alone and two of them
 * subtract into a count of records. The ms part is the event's time, or the
 * entry before's when that is later.
 */
const POSITION = /^(\d{1,16})-(\d{1,16})$/;

/** Entries a query reads from the stream per round trip. */
const QUERY_CHUNK = 500;

/**
 * The outbox of a `RedisStore`: one stream, `<prefix>ev`, on the store's
 * standalone server. Positions are stream ids; each entry holds one event as
 * fields (`id`, `type`, `time`, `session`, `user`, `seq`, `instance`, and
 * `data` as JSON), `session` and `user` left out when null. The store's
 * scripts append a session's events in the step of its change
 * (outbox-scripts.ts); this reads, counts, trims and queries them.
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

  /** The ARGV the store's scripts take for a write's session events: the bound, then seven values per event. */
  eventArgs(events: readonly OutboxEvent[]): string[] {
    const args = [this.#bound];
    for (const event of events)
      args.push(
        String(event.time),
        event.id,
        event.type,
        event.sessionId ?? '',
        event.userId ?? '',
        event.instance,
        JSON.stringify(event.data),
      );
    return args;
  }

  async append(events: readonly OutboxEvent[]): Promise<void> {
    for (const event of events) assertServiceEvent(event);
    if (events.length === 0) return;
    const args = [this.#bound];
    for (const event of events) {
      const fields = entryFields(event);
      args.push(String(event.time), String(fields.length), ...fields);
    }
    await this.#redis.run(APPEND, this.#stream, args);
  }

  async read(after: string | null, limit: number): Promise<OutboxRecord[]> {
    assertLimit(limit);
    const start = after === null ? '-' : `(${parsePosition(after).id}`;
    const reply = await this.#redis.send(this.#stream, [
      'XRANGE',
      this.#stream,
      start,
      '+',
      'COUNT',
      String(limit),
    ]);
    return parseEntries(reply);
  }

  /** O(log n): the count is a difference of positions, never a walk over the stream. */
  async backlog(after: string | null): Promise<RedisBacklog> {
    const from = after === null ? null : parsePosition(after);
    const reply = (await this.#redis.run(BACKLOG, this.#stream, [
      from === null ? '-' : `(${from.id}`,
    ])) as [number, unknown] | [];
    if (reply.length === 0) return { count: 0, oldestTime: null, skipped: 0 };
    const [last, entry] = reply;
    const first = entry ? parseEntry(entry) : null;
    const next = first ? parsePosition(first.position).n : last + 1;
    return {
      count: last - next + 1,
      oldestTime: first?.time ?? null,
      skipped: Math.max(0, next - (from?.n ?? 0) - 1),
    };
  }

  /**
   * Removes the oldest records while their time is before `before`: a
   * prefix of the stream, so a record stays while an older-positioned one
   * made later (another instance's clock ahead) is kept.
   */
  async trim(before: number, limit: number): Promise<OutboxRecord[]> {
    assertNow(before);
    assertLimit(limit);
    const reply = await this.#redis.run(TRIM, this.#stream, [String(before), String(limit)]);
    return parseEntries(reply);
  }

  /**
   * Reads the stream from the cursor or from `since`, whichever is later,
   * and filters: Redis keeps no index by user or session, so a query costs a
   * read of what follows its start (at most the stream's bound), in chunks.
   * `since` bounds the read (an entry's id time is never before its event's);
   * `until` only filters, since an entry filed after `until` may hold an
   * event made before it on a clock behind.
   */
  async query(filter: OutboxQuery): Promise<OutboxPage> {
    assertQuery(filter);
    const { since, limit } = filter;
    const after = filter.after == null ? null : parsePosition(filter.after);
    let start = after === null ? '-' : `(${after.id}`;
    if (since !== undefined && (after === null || after.ms < since))
      start = `${Math.max(0, since)}-0`;
    const records: OutboxRecord[] = [];
    for (;;) {
      const reply = await this.#redis.send(this.#stream, [
        'XRANGE',
        this.#stream,
        start,
        '+',
        'COUNT',
        String(QUERY_CHUNK),
      ]);
      const chunk = parseEntries(reply);
      for (const record of chunk) {
        if (!matches(record, filter)) continue;
        if (records.length === limit)
          return { records, cursor: (records.at(-1) as OutboxRecord).position };
        records.push(record);
      }
      const last = chunk.at(-1);
      if (!last || chunk.length < QUERY_CHUNK) return { records, cursor: null };
      start = `(${last.position}`;
    }
  }
}

function parsePosition(position: string): { id: string; ms: number; n: number } {
  const match = typeof position === 'string' ? POSITION.exec(position) : null;
  if (!match)
    throw new ValidationError('an outbox position is a stream id from the outbox, or null');
  return { id: position, ms: Number(match[1]), n: Number(match[2]) };
}

function assertServiceEvent(event: OutboxEvent): void {
  if (event.type.startsWith('session.') || !EVENT_TYPES.includes(event.type))
    throw new ValidationError(
      `append takes service events (refresh.*, apikey.*, login.*, anomaly.*), not ${JSON.stringify(event.type)}`,
    );
  assertNow(event.time);
}

function assertQuery(filter: OutboxQuery): void {
  assertLimit(filter.limit);
  if (filter.after != null) parsePosition(filter.after);
  for (const moment of [filter.since, filter.until]) if (moment !== undefined) assertNow(moment);
  for (const type of filter.types ?? [])
    if (!EVENT_TYPES.includes(type))
      throw new ValidationError(`unknown event type ${JSON.stringify(type)}`);
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

/** An event as the field values of its entry, in the order the scripts write them. */
function entryFields(event: OutboxEvent): string[] {
  return [
    'id',
    event.id,
    'type',
    event.type,
    'time',
    String(event.time),
    ...(event.sessionId === null ? [] : ['session', event.sessionId]),
    ...(event.userId === null ? [] : ['user', event.userId]),
    'seq',
    String(event.sequence),
    'instance',
    event.instance,
    'data',
    JSON.stringify(event.data),
  ];
}

function parseEntries(reply: unknown): OutboxRecord[] {
  return (reply as unknown[]).map(parseEntry);
}

/** A record from an XRANGE entry: its id and its field values (Buffers). */
function parseEntry(entry: unknown): OutboxRecord {
  const [id, values] = entry as [Buffer, Buffer[]];
  const fields = new Map<string, string>();
  for (let i = 0; i + 1 < values.length; i += 2)
    fields.set(String(values[i]), String(values[i + 1]));
  const field = (name: string): string => {
    const value = fields.get(name);
    if (value === undefined) throw new DecodeError(`an outbox entry has no ${name}`);
    return value;
  };
  return {
    position: String(id),
    id: field('id'),
    type: field('type') as EventType,
    time: Number(field('time')),
    sessionId: fields.get('session') ?? null,
    userId: fields.get('user') ?? null,
    sequence: Number(field('seq')),
    instance: field('instance'),
    data: JSON.parse(field('data')),
  };
}
