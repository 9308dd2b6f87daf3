import { importDriver } from '../core/backend-kit.js';

export type AmqpDriver = typeof import('amqplib');

let driver: AmqpDriver | undefined;

/** amqplib, imported when the first RabbitMQ sink or subscription opens. */
export async function loadAmqp(): Promise<AmqpDriver> {
  driver ??= await importDriver('rabbitmq', 'amqplib', () => import('amqplib'));
  return driver;
}
