import { failureReason } from '../core/backend-kit.js';
import {
  BrokerUnavailableError,
  ConfigError,
  EVENT_TYPES,
  type EventType,
  redactUrl,
  ValidationError,
} from '../core/index.js';

/*
 * What the NATS and RabbitMQ sinks and subscriptions share: how they name
 * their broker in a message, how a failure to reach it reads, and the check
 * of the event types a consumer asks for.
 */

/** `<broker> at host:port`, from a URL that may carry credentials: they are never part of it. */
export function brokerName(broker: string, url: string, defaultPort: number): string {
  let address = `127.0.0.1:${defaultPort}`;
  try {
    const parsed = new URL(url);
    address = `${parsed.hostname || '127.0.0.1'}:${parsed.port || defaultPort}`;
  } catch {
    throw new ConfigError(`the ${broker} URL ${JSON.stringify(redactUrl(url))} is not a URL`);
  }
  return `${broker} at ${address}`;
}

/** `<broker at host:port> is unavailable: <reason>`, the reason in a few words, without a password. */
export function brokerUnavailable(broker: string, error: unknown): BrokerUnavailableError {
  if (error instanceof BrokerUnavailableError) return error;
  return new BrokerUnavailableError(`${broker} is unavailable: ${failureReason(error)}`, {
    cause: error,
  });
}

/** The distinct types a consumer asked for, checked; null when it asked for every type. */
export function checkedTypes(types: readonly string[] | undefined): EventType[] | null {
  if (types === undefined) return null;
  if (types.length === 0) throw new ValidationError('types is empty: omit it for every type');
  const unknown = types.filter((type) => !EVENT_TYPES.includes(type as EventType));
  if (unknown.length > 0)
    throw new ValidationError(
      `unknown event types ${JSON.stringify(unknown)}: expected some of ${EVENT_TYPES.join(', ')}`,
    );
  return [...new Set(types as readonly EventType[])];
}

/** Reports to `onError`, whose own failure must not stop the subscription. */
export function reporter(onError: ((error: Error) => void) | undefined): (error: unknown) => void {
  return (error) => {
    const failure = error instanceof Error ? error : new Error(String(error));
    try {
      if (onError) onError(failure);
      else process.emitWarning(failure);
    } catch {
      // A broken error handler is the caller's to fix; the events keep flowing.
    }
  };
}
