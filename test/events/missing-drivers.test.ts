import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

/**
 * Runs `source` in a Node process of its own where `hidden` resolve as if
 * they were not installed, and returns what the promise `failure` (defined
 * by `source`) rejected with, as plain fields.
 */
async function failureWithout(hidden: string, source: string): Promise<Record<string, unknown>> {
  const events = (file: string) => pathToFileURL(resolve('src/events', file)).href;
  const script = `
const { NatsSink } = await import(${JSON.stringify(events('nats.ts'))});
const { subscribeNats } = await import(${JSON.stringify(events('nats-subscription.ts'))});
const { RabbitMqSink } = await import(${JSON.stringify(events('rabbitmq.ts'))});
const { subscribeRabbit } = await import(${JSON.stringify(events('rabbitmq-subscription.ts'))});
const handler = () => {};
const event = { id: '1', type: 'session.created' };
try {
  await (${source});
  console.log(JSON.stringify('no error'));
} catch (error) {
  console.log(JSON.stringify({ name: error.name, code: error.code, packageName: error.packageName, message: error.message }));
}`;
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [
      '--import',
      'tsx',
      '--import',
      './test/support/hide-packages.mjs',
      '--input-type=module',
      '-e',
      script,
    ],
    { env: { ...process.env, HIDDEN_PACKAGES: hidden } },
  );
  return JSON.parse(stdout);
}

function missing(packageName: string) {
  return {
    name: 'MissingDriverError',
    code: 'ERR_DRIVER_MISSING',
    packageName,
    message: expect.stringContaining(`npm install ${packageName}`),
  };
}

describe('a broker driver that is not installed', { timeout: 60_000 }, () => {
  it('is a MissingDriverError naming the package when a NATS sink first publishes', async () => {
    expect(
      await failureWithout('@nats-io/transport-node', 'new NatsSink().publish([event])'),
    ).toEqual(missing('@nats-io/transport-node'));
    expect(await failureWithout('@nats-io/jetstream', 'new NatsSink().publish([event])')).toEqual(
      missing('@nats-io/jetstream'),
    );
  });

  it('is a MissingDriverError naming the package when a NATS subscription opens', async () => {
    expect(
      await failureWithout('@nats-io/jetstream', "subscribeNats({ durable: 'd', handler })"),
    ).toEqual(missing('@nats-io/jetstream'));
  });

  it('is a MissingDriverError naming amqplib for the RabbitMQ sink and subscription', async () => {
    expect(await failureWithout('amqplib', 'new RabbitMqSink().publish([event])')).toEqual(
      missing('amqplib'),
    );
    expect(await failureWithout('amqplib', "subscribeRabbit({ queue: 'q', handler })")).toEqual(
      missing('amqplib'),
    );
  });
});
