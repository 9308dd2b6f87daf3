import { Command, InvalidArgumentError } from 'commander';
import { EventsDisabledError } from '../core/index.js';
import { EventRelay, type RedeliverFrom, type SinkStatus } from '../events/index.js';
import { eventSinksOf, type GatewayConfig, openConfiguredStore } from '../gateway/index.js';
import { openRecordStore } from '../stores/index.js';
import { commandPath } from './command-tree.js';
import type { CliIo } from './io.js';
import { configOf, moment, type StoreOptions, withStoreOptions } from './options.js';
import { age, fields, printResult, table, when } from './output.js';
import { UsageError } from './usage-error.js';

type EventsEnabledConfig = GatewayConfig & { events: NonNullable<GatewayConfig['events']> };

interface SinkOptions extends StoreOptions {
  sink: string;
}

interface RedeliverOptions extends SinkOptions {
  from: RedeliverFrom;
}

const EVENT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Where a redelivery starts: an event id (a UUID), else a moment as `audit --since` takes it. */
function redeliverFrom(text: string): RedeliverFrom {
  if (EVENT_ID.test(text)) return text.toLowerCase();
  try {
    return moment(text);
  } catch {
    throw new InvalidArgumentError(
      'It must be an event id (a UUID), an ISO 8601 time or a duration such as 2h.',
    );
  }
}

/** `clawsession events`: where each configured sink stands, and the two levers on it. */
export function eventsCommand(io: CliIo): Command {
  return new Command('events')
    .description("The event relay's sinks: status, resume, redeliver")
    .addCommand(
      withStoreOptions(
        new Command('status')
          .description(
            "Show each configured sink's delivery: delivered up to, backlog, failures, pause",
          )
          .addHelpText(
            'after',
            `
The delivery log is the one every gateway of the store shares, so this is
what the relay does now, whichever gateway runs it. With --json, one JSON
document: {"sinks": [...]}, times in ms since the epoch.

Example:
  clawsession events status --config gateway.yaml
`,
          )
          .action((options: StoreOptions) => status(io, options)),
      ),
    )
    .addCommand(
      withStoreOptions(
        new Command('resume')
          .description('Deliver to a paused sink again, from where it stopped')
          .requiredOption('--sink <name>', 'the sink, as events status names it')
          .addHelpText(
            'after',
            `
A sink is paused after events.pauseAfter failed deliveries in a row; the
running gateway tries it again at its next poll.

Example:
  clawsession events resume --sink redis
`,
          )
          .action((options: SinkOptions, command: Command) => resume(io, options, command)),
      ),
    )
    .addCommand(
      withStoreOptions(
        new Command('redeliver')
          .description('Give a sink again every event from an event id or a time on')
          .requiredOption('--sink <name>', 'the sink, as events status names it')
          .requiredOption(
            '--from <event id | time | duration>',
            'the first event to deliver again: its id, an ISO 8601 time, or this long ago (2h)',
            redeliverFrom,
          )
          .addHelpText(
            'after',
            `
It moves the sink's cursor back to just before that event; events the sink
has not been given yet are not affected. Consumers see the events again with
the same ids (deduplicate by id). A paused sink stays paused: resume it too.

Examples:
  clawsession events redeliver --sink nats --from 2h
  clawsession events redeliver --sink redis --from 0190a1b2-3c4d-7e5f-8a9b-0c1d2e3f4a5b
`,
          )
          .action((options: RedeliverOptions, command: Command) => redeliver(io, options, command)),
      ),
    );
}

async function status(io: CliIo, options: StoreOptions): Promise<void> {
  const config = eventsConfigOf(options);
  const sinks =
    config.events.sinks.length === 0
      ? []
      : await withRelay(config, undefined, (relay) => relay.status());
  printResult(
    io,
    options.json,
    { sinks },
    table(
      ['SINK', 'DELIVERED UP TO', 'EVENT TIME', 'BACKLOG', 'OLDEST', 'FAILURES', 'STATE'],
      sinks.map((sink) => [
        sink.sink,
        sink.delivered?.eventId ?? '-',
        sink.delivered ? when(sink.delivered.eventTime) : '-',
        String(sink.backlog.count),
        age(sink.backlog.oldestAge),
        String(sink.failures),
        stateOf(sink),
      ]),
      'No event sinks: the config sets no events.sinks (clawsession audit shows the events).',
    ) + sinks.flatMap(problemsOf).join(''),
  );
}

async function resume(io: CliIo, options: SinkOptions, command: Command): Promise<void> {
  const { sink, wasPaused } = await withRelay(
    eventsConfigOf(options),
    { name: options.sink, command },
    async (relay) => {
      const wasPaused = (await statusOf(relay, options.sink)).paused;
      await relay.resume(options.sink);
      return { sink: await statusOf(relay, options.sink), wasPaused };
    },
  );
  printResult(
    io,
    options.json,
    { resumed: wasPaused, sink },
    `${
      wasPaused
        ? `Resumed ${sink.sink}: the relay delivers to it again from its cursor.`
        : `${sink.sink} was not paused; its failures and retry wait are cleared.`
    }\n${describe(sink)}`,
  );
}

async function redeliver(io: CliIo, options: RedeliverOptions, command: Command): Promise<void> {
  const { sink, moved } = await withRelay(
    eventsConfigOf(options),
    { name: options.sink, command },
    async (relay) => {
      const before = await statusOf(relay, options.sink);
      await relay.redeliver(options.sink, options.from);
      const after = await statusOf(relay, options.sink);
      return { sink: after, moved: after.delivered?.position !== before.delivered?.position };
    },
  );
  const count = sink.backlog.count;
  printResult(
    io,
    options.json,
    { moved, sink },
    `${
      moved
        ? `Moved ${sink.sink}'s cursor back: ${count} event${count === 1 ? '' : 's'} to deliver${sink.paused ? ' once it is resumed' : ''}.`
        : `${sink.sink} has not been given those events yet: its cursor stays where it is.`
    }\n${describe(sink)}`,
  );
}

/** The config, which must set `events` (EventsDisabledError otherwise). */
function eventsConfigOf(options: StoreOptions): EventsEnabledConfig {
  const config = configOf(options);
  if (!config.events) throw new EventsDisabledError();
  return { ...config, events: config.events };
}

/**
 * Runs `use` on a relay over the configured store and sinks that is never
 * started: it reads and moves the sinks' cursors in the shared delivery log
 * and publishes nothing (a sink connects on its first publish). `sink`, when
 * given, must be one of them (UsageError). Everything opened is closed after.
 */
async function withRelay<T>(
  config: EventsEnabledConfig,
  sink: { name: string; command: Command } | undefined,
  use: (relay: EventRelay) => Promise<T>,
): Promise<T> {
  const sinks = eventSinksOf(config.events);
  const opened: { close(): Promise<unknown> }[] = [...sinks];
  try {
    const names = sinks.map(({ name }) => name);
    if (sink !== undefined && !names.includes(sink.name))
      throw new UsageError(
        `unknown sink ${JSON.stringify(sink.name)}: ${
          names.length === 0
            ? 'the config sets no events.sinks'
            : `the configured sinks are ${names.join(', ')}`
        } (see ${commandPath(sink.command)} --help)`,
      );
    const store = await openConfiguredStore(config.store, config);
    opened.push(store);
    if (!store.outbox) throw new EventsDisabledError();
    const records = await openRecordStore(config.store);
    opened.push(records);
    return await use(new EventRelay({ outbox: store.outbox, sinks, lease: null, records }));
  } finally {
    await Promise.allSettled(opened.map((resource) => resource.close()));
  }
}

async function statusOf(relay: EventRelay, sink: string): Promise<SinkStatus> {
  const found = (await relay.status()).find((status) => status.sink === sink);
  if (!found) throw new Error(`the relay has no status for sink ${sink}`);
  return found;
}

function stateOf(sink: SinkStatus): string {
  if (sink.paused) return 'paused';
  if (sink.retryAt !== null && sink.retryAt > Date.now())
    return `retrying at ${when(sink.retryAt)}`;
  return 'ok';
}

/** What needs a look, below the table: a pause and its reason, the last failure. */
function problemsOf(sink: SinkStatus): string[] {
  return [
    ...(sink.paused
      ? [
          `${sink.sink}: paused since ${when(sink.pausedSince)}: ${sink.pauseReason}; clawsession events resume --sink ${sink.sink}\n`,
        ]
      : []),
    ...(sink.lastError
      ? [`${sink.sink}: last error at ${when(sink.lastError.at)}: ${sink.lastError.message}\n`]
      : []),
  ];
}

/** One sink, shown whole. */
function describe(sink: SinkStatus): string {
  const { delivered, backlog, lastError } = sink;
  return fields([
    ['sink', sink.sink],
    [
      'delivered up to',
      delivered
        ? `${delivered.eventId} (event of ${when(delivered.eventTime)}, acknowledged ${when(delivered.at)})`
        : 'nothing yet',
    ],
    [
      'backlog',
      backlog.count === 0
        ? 'none'
        : `${backlog.count} event${backlog.count === 1 ? '' : 's'}, the oldest ${age(backlog.oldestAge)} old`,
    ],
    ['failures in a row', String(sink.failures)],
    ['last error', lastError ? `${when(lastError.at)}: ${lastError.message}` : 'none'],
    ['paused', sink.paused ? `since ${when(sink.pausedSince)}: ${sink.pauseReason}` : 'no'],
  ]);
}
