import { Command, InvalidArgumentError } from 'commander';
import {
  EVENT_TYPES,
  EventsDisabledError,
  type EventType,
  type OutboxRecord,
} from '../core/index.js';
import { toCloudEvent } from '../events/index.js';
import { openConfiguredStore } from '../gateway/index.js';
import type { CliIo } from './io.js';
import { configOf, integerFrom, moment, type StoreOptions, withStoreOptions } from './options.js';
import { printResult, table } from './output.js';

interface AuditOptions extends StoreOptions {
  user?: string;
  session?: string;
  type?: EventType[];
  since?: number;
  until?: number;
  limit: number;
}

function eventTypes(text: string, previous: EventType[] = []): EventType[] {
  const types = text.split(',');
  for (const type of types)
    if (!(EVENT_TYPES as readonly string[]).includes(type))
      throw new InvalidArgumentError(
        `Unknown event type ${type}; one of ${EVENT_TYPES.join(', ')}.`,
      );
  return [...previous, ...(types as EventType[])];
}

/** `clawsession audit`: the audit log (the store's outbox), by user, session, type and time. */
export function auditCommand(io: CliIo): Command {
  return withStoreOptions(
    new Command('audit')
      .description('Show the audit log: who did what to which session, oldest first')
      .option('--user <id>', 'only events of this user')
      .option('--session <id>', 'only events of this session id (64 hex characters)')
      .option('--type <types>', 'only these event types, comma-separated', eventTypes)
      .option('--since <when>', 'from this ISO time, or this long ago (24h, 7d)', moment)
      .option('--until <when>', 'before this ISO time, or this long ago', moment)
      .option('--limit <n>', 'most events shown, 1 to 100000', integerFrom(1, 100_000), 1000)
      .addHelpText(
        'after',
        `
The audit log exists when the config sets \`events\` (docs/events.md). With
--json, one JSON document: {"events": [CloudEvents…]}.

Example:
  clawsession audit --user alice --since 24h
`,
      )
      .action((options: AuditOptions) => audit(io, options)),
  );
}

async function audit(io: CliIo, options: AuditOptions): Promise<void> {
  const config = configOf(options);
  const store = await openConfiguredStore(config.store, config);
  try {
    if (!store.outbox) throw new EventsDisabledError();
    const records: OutboxRecord[] = [];
    let after: string | null = null;
    do {
      const page = await store.outbox.query({
        ...(options.user === undefined ? {} : { userId: options.user }),
        ...(options.session === undefined ? {} : { sessionId: options.session }),
        ...(options.type === undefined ? {} : { types: options.type }),
        ...(options.since === undefined ? {} : { since: options.since }),
        ...(options.until === undefined ? {} : { until: options.until }),
        after,
        limit: Math.min(500, options.limit - records.length),
      });
      records.push(...page.records);
      after = page.cursor;
    } while (after !== null && records.length < options.limit);
    printResult(
      io,
      options.json,
      { events: records.map(toCloudEvent) },
      table(
        ['TIME', 'TYPE', 'USER', 'SESSION', 'SEQ', 'DETAIL'],
        records.map((record) => [
          new Date(record.time).toISOString(),
          record.type,
          record.userId ?? '-',
          record.sessionId === null ? '-' : `${record.sessionId.slice(0, 12)}…`,
          String(record.sequence),
          detailOf(record),
        ]),
        'No events.',
      ),
    );
  } finally {
    await store.close();
  }
}

/** The event's own fields, in one line. */
function detailOf(record: OutboxRecord): string {
  return Object.entries(record.data)
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
    .join(' ');
}
