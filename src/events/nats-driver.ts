import { importDriver } from '../core/backend-kit.js';

export interface NatsDriver {
  transport: typeof import('@nats-io/transport-node');
  jetstream: typeof import('@nats-io/jetstream');
}

let driver: NatsDriver | undefined;

/** The NATS client and its JetStream API, imported when the first NATS sink or subscription opens. */
export async function loadNats(): Promise<NatsDriver> {
  driver ??= {
    transport: await importDriver(
      'nats',
      '@nats-io/transport-node',
      () => import('@nats-io/transport-node'),
    ),
    jetstream: await importDriver('nats', '@nats-io/jetstream', () => import('@nats-io/jetstream')),
  };
  return driver;
}
