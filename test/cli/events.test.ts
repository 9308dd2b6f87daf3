import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/cli/usage-error.js';
import { EventsDisabledError, type OutboxRecord, SessionManager } from '../../src/core/index.js';
import { EventNotFoundError, EventRelay, type SinkStatus } from '../../src/events/index.js';
import {
  eventSinksOf,
  type GatewayConfig,
  loadConfig,
  openConfiguredStore,
} from '../../src/gateway/index.js';
import { openRecordStore } from '../../src/stores/index.js';
import { uniqueName } from '../events/fixtures.js';
import { freePort, REDIS_URL } from '../stores/fixtures/redis.js';
import { cli, runInProcess } from './support.js';

const dir = mkdtempSync(join(tmpdir(), 'clawsession-cli-events-'));
const stream = uniqueName('cs-test-cli-events');
const redis = createClient({ url: REDIS_URL });

/** A port nothing listens on: the `down` sink's broker. */
let downPort: number;
/** Stands in for every broker the CLI's config names and counts who connects: the CLI must never. */
const brokerStandIn = createServer((socket) => {
  brokerStandIn.emit('contacted');
  socket.destroy();
});
let contacts = 0;
brokerStandIn.on('contacted', () => contacts++);

beforeAll(async () => {
  await redis.connect();
  downPort = await freePort();
  brokerStandIn.listen(0, '127.0.0.1');
  await once(brokerStandIn, 'listening');
});

afterAll(async () => {
  await redis.del(stream);
  await redis.close();
  brokerStandIn.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A config file: a SQLite store with `events` set to `events`. */
function configFile(events: unknown, store = `sqlite:${join(dir, `${uniqueName('store')}.db`)}`) {
  const file = join(dir, `${uniqueName('config')}.json`);
  writeFileSync(file, JSON.stringify(events === undefined ? { store } : { store, events }));
  return file;
}

/**
 * The gateway's view (the real Redis, a sink whose broker is down) and the
 * CLI's view of one store: the same sinks by name, but every broker of the
 * CLI's a stand-in that counts connections.
 */
function deployment() {
  const gateway = configFile({
    sinks: [
      { kind: 'redis', url: REDIS_URL, stream },
      { kind: 'redis', name: 'down', url: `redis://127.0.0.1:${downPort}` },
    ],
    pauseAfter: 1,
  });
  const config = loadConfig({ file: gateway, env: {} }) as GatewayConfig & {
    events: NonNullable<GatewayConfig['events']>;
  };
  const standIn = `redis://127.0.0.1:${(brokerStandIn.address() as { port: number }).port}`;
  const cliConfig = configFile(
    {
      sinks: [
        { kind: 'redis', url: standIn, stream },
        { kind: 'redis', name: 'down', url: standIn },
      ],
    },
    config.store,
  );
  return { config, cliConfig };
}

async function openStore(config: GatewayConfig) {
  const store = await openConfiguredStore(config.store, config);
  if (!store.outbox) throw new Error('the store keeps no outbox');
  return { store, outbox: store.outbox };
}

/** Makes `count` sessions through the configured store: their events land in its outbox. */
async function makeSessions(config: GatewayConfig, count: number): Promise<void> {
  const manager = new SessionManager({ store: await openConfiguredStore(config.store, config) });
  for (let n = 0; n < count; n++) await manager.create({ userId: `user${n}` });
  await manager.close();
}

async function outboxRecords(config: GatewayConfig): Promise<OutboxRecord[]> {
  const { store, outbox } = await openStore(config);
  try {
    return await outbox.read(null, 10_000);
  } finally {
    await store.close();
  }
}

/** Runs the gateway's relay over the store until `done` holds of its status (bounded), then stops it. */
async function relayUntil(
  config: GatewayConfig & { events: NonNullable<GatewayConfig['events']> },
  done: (status: Map<string, SinkStatus>) => boolean,
): Promise<void> {
  const { store, outbox } = await openStore(config);
  const records = await openRecordStore(config.store);
  const sinks = eventSinksOf(config.events);
  const relay = new EventRelay({
    outbox,
    sinks,
    lease: null,
    records,
    pauseAfter: config.events.pauseAfter,
    pollInterval: 10,
    retryDelay: { initial: 10, max: 10 },
    publishTimeout: 5_000,
  });
  relay.start();
  try {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const status = new Map((await relay.status()).map((sink) => [sink.sink, sink]));
      if (done(status)) return;
      if (Date.now() > deadline)
        throw new Error(`the relay did not get there: ${JSON.stringify([...status.values()])}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  } finally {
    await relay.stop();
    await Promise.all([...sinks.map((sink) => sink.close()), records.close(), store.close()]);
  }
}

async function json(args: string[]) {
  return JSON.parse((await runInProcess([...args, '--json'])).stdout);
}

async function sinkStatus(cliConfig: string, sink: string): Promise<SinkStatus> {
  const { sinks } = await json(['events', 'status', '--config', cliConfig]);
  return sinks.find((status: SinkStatus) => status.sink === sink);
}

const streamLength = () => redis.xLen(stream);

describe('clawsession events', () => {
  let config: ReturnType<typeof deployment>['config'];
  let cliConfig: string;
  let events: OutboxRecord[];

  beforeAll(async () => {
    ({ config, cliConfig } = deployment());
    await makeSessions(config, 4);
    events = await outboxRecords(config);
    // The redis sink gets everything; the down sink fails once and is paused (pauseAfter: 1).
    await relayUntil(
      config,
      (status) => status.get('redis')?.backlog.count === 0 && status.get('down')?.paused === true,
    );
  }, 30_000);

  it('status shows each sink: delivered up to, backlog, failures, the last error and the pause', async () => {
    expect(events).toHaveLength(4);
    const last = events.at(-1) as OutboxRecord;
    const { sinks } = await json(['events', 'status', '--config', cliConfig]);
    expect(sinks).toEqual([
      expect.objectContaining({
        sink: 'redis',
        delivered: expect.objectContaining({ eventId: last.id, eventTime: last.time }),
        backlog: { count: 0, oldestTime: null, oldestAge: null },
        failures: 0,
        lastError: null,
        paused: false,
      }),
      expect.objectContaining({
        sink: 'down',
        delivered: null,
        backlog: expect.objectContaining({ count: 4, oldestTime: events[0]?.time }),
        failures: 1,
        lastError: expect.objectContaining({ message: expect.stringMatching(/\S/) }),
        paused: true,
        pausedSince: expect.any(Number),
        pauseReason: '1 failed deliveries in a row',
      }),
    ]);
    expect(await streamLength()).toBe(4);

    const text = (await runInProcess(['events', 'status', '--config', cliConfig])).stdout;
    const [header, redisRow, downRow, ...notes] = text.trimEnd().split('\n');
    expect(header?.split(/\s{2,}/)).toEqual([
      'SINK',
      'DELIVERED UP TO',
      'EVENT TIME',
      'BACKLOG',
      'OLDEST',
      'FAILURES',
      'STATE',
    ]);
    expect(redisRow?.split(/\s+/)).toEqual([
      'redis',
      last.id,
      new Date(last.time).toISOString(),
      '0',
      '-',
      '0',
      'ok',
    ]);
    expect(downRow?.split(/\s+/)).toEqual([
      'down',
      '-',
      '-',
      '4',
      expect.stringMatching(/^\d+[smhd]$/),
      '1',
      'paused',
    ]);
    expect(notes).toEqual([
      expect.stringMatching(
        /^down: paused since \S+Z: 1 failed deliveries in a row; clawsession events resume --sink down$/,
      ),
      expect.stringMatching(/^down: last error at \S+Z: \S/),
    ]);
  });

  it('resume clears a pause, and says when there was none', async () => {
    const resumed = await json(['events', 'resume', '--sink', 'down', '--config', cliConfig]);
    expect(resumed).toMatchObject({
      resumed: true,
      sink: { sink: 'down', paused: false, pausedSince: null, failures: 0, retryAt: null },
    });
    expect(await sinkStatus(cliConfig, 'down')).toMatchObject({ paused: false, failures: 0 });

    const again = await runInProcess(['events', 'resume', '--sink', 'down', '--config', cliConfig]);
    expect(again.stdout).toMatch(
      /^down was not paused; its failures and retry wait are cleared\.\n/,
    );
    expect(again.stdout).toMatch(/\npaused {13}no\n$/);

    // The relay tries it again at once, fails again, and pauses it again.
    await relayUntil(config, (status) => status.get('down')?.paused === true);
    expect((await sinkStatus(cliConfig, 'down')).paused).toBe(true);
  }, 30_000);

  it('redeliver from an event id, a time or a duration moves the cursor back, and the relay delivers again from there', async () => {
    const [first, second, third, fourth] = events as [
      OutboxRecord,
      OutboxRecord,
      OutboxRecord,
      OutboxRecord,
    ];
    const fromId = await json([
      'events',
      'redeliver',
      '--sink',
      'redis',
      '--from',
      second.id,
      '--config',
      cliConfig,
    ]);
    expect(fromId).toMatchObject({
      moved: true,
      sink: { sink: 'redis', delivered: { eventId: first.id }, backlog: { count: 3 } },
    });
    expect((await sinkStatus(cliConfig, 'redis')).delivered?.eventId).toBe(first.id);
    await relayUntil(config, (status) => status.get('redis')?.backlog.count === 0);
    expect(await streamLength()).toBe(4 + 3);
    const ids = ((await redis.xRange(stream, '-', '+')) ?? []).map((entry) => entry.message.id);
    expect(ids.slice(4)).toEqual([second.id, third.id, fourth.id]);

    // Records made in the same millisecond are all at or after that time: the first of them is where it starts.
    const from = fourth.time;
    const startsAt = events.findIndex((record) => record.time >= from);
    const fromTime = await runInProcess([
      'events',
      'redeliver',
      '--sink',
      'redis',
      '--from',
      new Date(from).toISOString(),
      '--config',
      cliConfig,
    ]);
    const count = 4 - startsAt;
    expect(fromTime.stdout).toMatch(
      new RegExp(`^Moved redis's cursor back: ${count} events? to deliver\\.\\n`),
    );
    expect(fromTime.stdout).toContain(`\nbacklog            ${count} event`);
    await relayUntil(config, (status) => status.get('redis')?.backlog.count === 0);
    expect(await streamLength()).toBe(4 + 3 + count);

    const fromDuration = await json([
      'events',
      'redeliver',
      '--sink',
      'redis',
      '--from',
      '1h',
      '--config',
      cliConfig,
    ]);
    expect(fromDuration).toMatchObject({
      moved: true,
      sink: { delivered: null, backlog: { count: 4 } },
    });

    // A paused sink that was never given these events keeps its cursor, and stays paused.
    const untouched = await json([
      'events',
      'redeliver',
      '--sink',
      'down',
      '--from',
      second.id,
      '--config',
      cliConfig,
    ]);
    expect(untouched).toMatchObject({
      moved: false,
      sink: { delivered: null, paused: true, backlog: { count: 4 } },
    });
    expect(
      (
        await runInProcess([
          'events',
          'redeliver',
          '--sink',
          'down',
          '--from',
          '1h',
          '--config',
          cliConfig,
        ])
      ).stdout,
    ).toMatch(/^down has not been given those events yet: its cursor stays where it is\.\n/);
  }, 60_000);

  it('never contacts a broker, so publishes nothing, and leaves nothing open', async () => {
    const before = await streamLength();
    // First the redelivery, so that a relay started by any of these would have events to publish.
    await runInProcess([
      'events',
      'redeliver',
      '--sink',
      'redis',
      '--from',
      '1h',
      '--config',
      cliConfig,
    ]);
    await runInProcess(['events', 'resume', '--sink', 'redis', '--config', cliConfig]);
    await runInProcess(['events', 'status', '--config', cliConfig]);
    // The bin exits by itself only once everything the command opened is closed.
    const fromBin = await cli(['events', 'status', '--config', cliConfig]);
    expect(fromBin).toMatchObject({ code: 0, stderr: '' });
    expect(fromBin.stdout).toMatch(/^SINK /);
    // NATS and RabbitMQ sinks are built and closed the same way, unconnected.
    const standIn = (brokerStandIn.address() as { port: number }).port;
    const everyKind = configFile(
      {
        sinks: [
          { kind: 'nats', url: `nats://127.0.0.1:${standIn}` },
          { kind: 'rabbitmq', url: `amqp://guest:guest@127.0.0.1:${standIn}` },
        ],
      },
      config.store,
    );
    const kinds = await cli([
      'events',
      'redeliver',
      '--sink',
      'nats',
      '--from',
      '1h',
      '--config',
      everyKind,
    ]);
    expect(kinds).toMatchObject({ code: 0, stderr: '' });
    expect(
      JSON.parse((await cli(['events', 'status', '--json', '--config', everyKind])).stdout),
    ).toEqual({
      sinks: [
        expect.objectContaining({
          sink: 'nats',
          delivered: null,
          backlog: expect.objectContaining({ count: 4 }),
        }),
        expect.objectContaining({
          sink: 'rabbitmq',
          delivered: null,
          backlog: expect.objectContaining({ count: 4 }),
        }),
      ],
    });
    expect(contacts).toBe(0);
    expect(await streamLength()).toBe(before);
  });

  it('refuses an unknown sink (listing the configured ones), an unknown event id and a malformed --from', async () => {
    await expect(
      runInProcess(['events', 'resume', '--sink', 'kafka', '--config', cliConfig]),
    ).rejects.toThrow(
      new UsageError(
        'unknown sink "kafka": the configured sinks are redis, down (see clawsession events resume --help)',
      ),
    );
    const missing = crypto.randomUUID();
    await expect(
      runInProcess([
        'events',
        'redeliver',
        '--sink',
        'redis',
        '--from',
        missing,
        '--config',
        cliConfig,
      ]),
    ).rejects.toThrow(new EventNotFoundError(missing));

    const runs = await Promise.all(
      [
        ['events', 'redeliver', '--sink', 'kafka', '--from', '1h'],
        ['events', 'redeliver', '--sink', 'redis', '--from', missing],
        ['events', 'redeliver', '--sink', 'redis', '--from', 'yesterday'],
        ['events', 'redeliver', '--sink', 'redis', '--from', '2026-13-45T00:00:00Z'],
        ['events', 'redeliver', '--sink', 'redis'],
        ['events', 'resume'],
      ].map((args) => cli([...args, '--config', cliConfig])),
    );
    expect(runs.map(({ code, stdout }) => ({ code, stdout }))).toEqual(
      runs.map(() => ({ code: 2, stdout: '' })),
    );
    expect(runs.map(({ stderr }) => stderr)).toEqual([
      'clawsession: unknown sink "kafka": the configured sinks are redis, down (see clawsession events redeliver --help)\n',
      `clawsession: ${new EventNotFoundError(missing).message}\n`,
      expect.stringMatching(
        /^clawsession: option '--from <event id \| time \| duration>' argument 'yesterday' is invalid\. It must be an event id \(a UUID\), an ISO 8601 time or a duration such as 2h\. \(see clawsession events redeliver --help\)\n$/,
      ),
      expect.stringMatching(/argument '2026-13-45T00:00:00Z' is invalid/),
      expect.stringMatching(/^clawsession: required option '--from .*' not specified/),
      expect.stringMatching(/^clawsession: required option '--sink <name>' not specified/),
    ]);
    expect((await sinkStatus(cliConfig, 'redis')).delivered).toBeNull();
  }, 60_000);
});

describe('clawsession events without events', () => {
  it('says to set `events` when the config has none, with exit code 2', async () => {
    const config = configFile(undefined);
    for (const args of [
      ['events', 'status'],
      ['events', 'resume', '--sink', 'redis'],
      ['events', 'redeliver', '--sink', 'redis', '--from', '1h'],
    ])
      await expect(runInProcess([...args, '--config', config])).rejects.toThrow(
        EventsDisabledError,
      );
    const run = await cli(['events', 'status', '--config', config]);
    expect(run).toEqual({
      code: 2,
      stdout: '',
      stderr: `clawsession: ${new EventsDisabledError().message}\n`,
    });
    expect(run.stderr).toContain('set `events`');
  });

  it('shows no sinks when events sets none, and has none to resume', async () => {
    const config = configFile({ sinks: [] });
    expect((await runInProcess(['events', 'status', '--config', config])).stdout).toBe(
      'No event sinks: the config sets no events.sinks (clawsession audit shows the events).\n',
    );
    expect(await json(['events', 'status', '--config', config])).toEqual({ sinks: [] });
    await expect(
      runInProcess(['events', 'resume', '--sink', 'redis', '--config', config]),
    ).rejects.toThrow(
      'unknown sink "redis": the config sets no events.sinks (see clawsession events resume --help)',
    );
  });

  it('fails with one line naming the store when the store is unavailable', async () => {
    const config = configFile(
      { sinks: [{ kind: 'redis', url: REDIS_URL, stream }] },
      `postgres://postgres@127.0.0.1:5432/${uniqueName('no_such_db')}`,
    );
    const run = await cli(['events', 'status', '--config', config]);
    expect(run).toEqual({
      code: 2,
      stdout: '',
      stderr: expect.stringMatching(
        /^clawsession: PostgreSQL at 127\.0\.0\.1:5432 .*unavailable: .*\n$/,
      ),
    });
  });
});
