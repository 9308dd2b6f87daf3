import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import amqp from 'amqplib';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CloudEvent,
  type EventSubscription,
  subscribeNats,
  subscribeRabbit,
  subscribeRedisStream,
} from '../../src/events/index.js';
import { REDIS_URL } from '../stores/fixtures/redis.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

// `npm test` builds first (pretest), so this drives the real `clawsession serve`.
const BIN = resolve('dist/cli/main.js');
const NATS_URL = 'nats://127.0.0.1:4222';
const RABBIT_URL = 'amqp://guest:guest@127.0.0.1:5672';
const ADMIN = `root-${randomBytes(16).toString('hex')}`;
const root = { authorization: `Bearer ${ADMIN}` };
const run = randomBytes(4).toString('hex');

interface Gateway {
  url: string;
  child: ChildProcess;
}

async function startGateway(env: Record<string, string>): Promise<Gateway> {
  const child = spawn(process.execPath, [BIN, 'serve'], {
    env: { PATH: process.env.PATH, CLAWSESSION_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    output += chunk;
  });
  for (;;) {
    const match = /listening on (http:\/\/\S+)/.exec(output);
    if (match) return { url: match[1] as string, child };
    if (child.exitCode !== null) throw new Error(`gateway exited ${child.exitCode}: ${output}`);
    await once(child.stdout as NodeJS.ReadableStream, 'data');
  }
}

async function kill(gateway: Gateway, signal: NodeJS.Signals): Promise<void> {
  if (gateway.child.exitCode !== null || gateway.child.signalCode !== null) return;
  gateway.child.kill(signal);
  await once(gateway.child, 'exit');
}

async function call(
  base: string,
  method: string,
  path: string,
  init: { body?: unknown; headers?: Record<string, string> } = {},
) {
  const headers: Record<string, string> = { ...init.headers };
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${base}${path}`, {
    method,
    headers,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await response.text();
  return {
    status: response.status,
    body: (text === '' ? {} : JSON.parse(text)) as Record<string, unknown>,
    cookie: (response.headers.getSetCookie()[0] ?? '').split(';')[0] as string,
  };
}

/** Everything one consumer of each broker received, in arrival order. */
class Received {
  readonly byBroker = new Map<string, CloudEvent[]>();

  handler(broker: string) {
    const list: CloudEvent[] = [];
    this.byBroker.set(broker, list);
    return (event: CloudEvent) => {
      list.push(event);
    };
  }

  /** Each broker's event ids, duplicates of an at-least-once redelivery dropped. */
  ids(broker: string): string[] {
    return [...new Set((this.byBroker.get(broker) ?? []).map((event) => event.id))];
  }
}

/** The audit log, every page, as the admin API shows it. */
async function auditLog(base: string): Promise<CloudEvent[]> {
  const events: CloudEvent[] = [];
  let cursor: string | null = null;
  do {
    const query: string = cursor ? `?limit=50&cursor=${cursor}` : '?limit=50';
    const page = await call(base, 'GET', `/admin/audit${query}`, { headers: root });
    expect(page.status).toBe(200);
    events.push(...(page.body.events as CloudEvent[]));
    cursor = page.body.cursor as string | null;
  } while (cursor);
  return events;
}

describe('session events through the gateway', () => {
  const dir = mkdtempSync(join(tmpdir(), 'clawsession-events-'));
  const redisStream = `cs-test:${run}:events`;
  const natsStream = `CST_${run}`;
  const subjectPrefix = `cst${run}`;
  const exchange = `cst.${run}.events`;
  const queue = `cst.${run}.audit`;
  const received = new Received();
  const subscriptions: EventSubscription[] = [];
  /** Between the gateways' sinks and each broker, to cut them off. */
  const proxies: Record<'redis' | 'nats' | 'rabbitmq', TcpProxy> = {} as never;
  const env = (store: string) => {
    const config = join(dir, `gateway-${randomBytes(3).toString('hex')}.yaml`);
    writeFileSync(
      config,
      [
        `store: "sqlite:${store}"`,
        'cookie: { insecureDevelopmentMode: true }',
        'events:',
        '  instance: gw-test',
        '  sinks:',
        `    - { kind: redis, url: "redis://127.0.0.1:${proxies.redis.port}", stream: "${redisStream}" }`,
        `    - { kind: nats, url: "nats://127.0.0.1:${proxies.nats.port}", stream: "${natsStream}", subjectPrefix: "${subjectPrefix}" }`,
        `    - { kind: rabbitmq, url: "amqp://guest:guest@127.0.0.1:${proxies.rabbitmq.port}", exchange: "${exchange}" }`,
      ].join('\n'),
    );
    return { CLAWSESSION_CONFIG: config, CLAWSESSION_ADMIN_TOKEN: ADMIN };
  };

  beforeAll(async () => {
    proxies.redis = await startTcpProxy('127.0.0.1', Number(new URL(REDIS_URL).port || 6379));
    proxies.nats = await startTcpProxy('127.0.0.1', 4222);
    proxies.rabbitmq = await startTcpProxy('127.0.0.1', 5672);
    subscriptions.push(
      await subscribeRabbit({
        url: RABBIT_URL,
        exchange,
        queue,
        handler: received.handler('rabbitmq'),
      }),
      await subscribeRedisStream({
        url: REDIS_URL,
        stream: redisStream,
        group: 'audit',
        consumer: 'test',
        start: 'all',
        handler: received.handler('redis'),
      }),
    );
  });

  afterAll(async () => {
    await Promise.all(subscriptions.map((subscription) => subscription.close()));
    await Promise.all(Object.values(proxies).map((proxy) => proxy.close()));
    const redis = await createClient({ url: REDIS_URL }).connect();
    await redis.del(redisStream);
    await redis.close();
    const nats = await connect({ servers: NATS_URL });
    await (await jetstreamManager(nats)).streams.delete(natsStream).catch(() => {});
    await nats.close();
    const rabbit = await amqp.connect(RABBIT_URL);
    const channel = await rabbit.createChannel();
    await channel.deleteQueue(queue);
    await channel.deleteExchange(exchange);
    await rabbit.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('every change reaches all three brokers in order, and a gateway killed before relaying loses nothing', async () => {
    const store = join(dir, 'sessions.db');
    const first = await startGateway(env(store));
    expect(
      (
        await call(first.url, 'POST', '/admin/users', {
          headers: root,
          body: { username: 'alice', password: 'correct horse battery' },
        })
      ).status,
    ).toBe(201);
    expect(
      (
        await call(first.url, 'POST', '/auth/login', {
          body: { username: 'alice', password: 'wrong horse battery' },
        })
      ).status,
    ).toBe(401);
    const login = await call(first.url, 'POST', '/auth/login', {
      body: { username: 'alice', password: 'correct horse battery' },
    });
    expect(login.status).toBe(200);
    const sessions = await call(first.url, 'GET', '/v1/users/alice/sessions', { headers: root });
    const id = (sessions.body.sessions as { id: string }[])[0]?.id as string;
    for (const n of [1, 2, 3]) {
      const patched = await call(first.url, 'PATCH', `/v1/sessions/${id}`, {
        headers: root,
        body: [{ op: 'add', path: '/cart', value: { items: n, card: '4111-secret' } }],
      });
      expect(patched.status).toBe(200);
    }
    // A change whose store step fails records no event.
    const refused = await call(first.url, 'PATCH', `/v1/sessions/${id}`, {
      headers: root,
      body: [{ op: 'test', path: '/cart/items', value: 99 }],
    });
    expect(refused.status).toBe(409);

    const audit = await auditLog(first.url);
    const sessionEvents = audit.filter((event) => event.subject === id);
    expect(sessionEvents.map((event) => [event.type, event.data.sequence])).toEqual([
      ['session.created', 1],
      ['session.updated', 2],
      ['session.updated', 3],
      ['session.updated', 4],
    ]);
    expect(audit.map((event) => event.type)).toContain('login.failed');
    // Paths, never values: the card number is in no event.
    expect(JSON.stringify(audit)).not.toContain('4111-secret');
    expect(sessionEvents[1]?.data.paths).toEqual(['/cart']);

    await expect
      .poll(() => received.ids('redis'), { timeout: 15_000 })
      .toEqual(audit.map((e) => e.id));
    // Every broker cut off: the sign-out's event can only be in the outbox when the gateway dies.
    for (const proxy of Object.values(proxies)) proxy.blackHole();
    const logout = await call(first.url, 'POST', '/auth/logout', {
      headers: { cookie: login.cookie, 'x-csrf-token': login.body.csrfToken as string },
    });
    expect(logout.status).toBe(204);
    await kill(first, 'SIGKILL');
    const types = (broker: string) => (received.byBroker.get(broker) ?? []).map((e) => e.type);
    expect(types('redis')).not.toContain('session.revoked');
    expect(types('rabbitmq')).not.toContain('session.revoked');

    // A second gateway on the store finds what the first did not relay, and RabbitMQ is back.
    for (const proxy of Object.values(proxies)) proxy.pass();
    const second = await startGateway(env(store));
    try {
      const all = await auditLog(second.url);
      expect(all.at(-1)).toMatchObject({
        type: 'session.revoked',
        subject: id,
        data: { actor: 'user', reason: 'logout', sequence: 5 },
      });
      subscriptions.push(
        await subscribeNats({
          url: NATS_URL,
          stream: natsStream,
          subjectPrefix,
          durable: 'audit',
          handler: received.handler('nats'),
        }),
      );
      const ids = all.map((event) => event.id);
      for (const broker of ['redis', 'nats', 'rabbitmq'])
        await expect.poll(() => received.ids(broker), { timeout: 30_000 }).toEqual(ids);
      const delivered = received.byBroker.get('nats') ?? [];
      expect(delivered.find((event) => event.id === ids[0])).toEqual(all[0]);
    } finally {
      await kill(second, 'SIGTERM');
    }
  }, 90_000);
});
