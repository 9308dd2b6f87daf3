import { ValidationError } from './errors.js';
import {
  defaultInstance,
  EVENT_TYPES,
  type OutboxEvent,
  type OutboxOptions,
  type OutboxQuery,
  type ServiceEventType,
} from './outbox.js';
import { assertLimit, assertNow } from './record-validation.js';

/*
 * What the stores that keep an outbox share: how the option reads and the
 * argument checks, so that every backend refuses the same inputs the same way.
 */

const SESSION_EVENT = /^session\./;
/** A position as every store hands it out: a decimal integer that fits a signed 64-bit column. */
const POSITION = /^(0|[1-9][0-9]{0,18})$/;

/** The instance a store's events name, or null when it was opened without an outbox. */
export function outboxInstance(option: OutboxOptions | true | undefined): string | null {
  if (option === undefined) return null;
  return (option === true ? undefined : option.instance) ?? defaultInstance();
}

export function assertPosition(after: string | null | undefined): void {
  if (after !== null && after !== undefined && !(typeof after === 'string' && POSITION.test(after)))
    throw new ValidationError('an outbox position is a decimal string from the outbox, or null');
}

/** `append` takes events of no session change: a session's events come only with the change. */
export function assertServiceEvents(events: readonly OutboxEvent[]): void {
  for (const event of events) {
    if (SESSION_EVENT.test(event.type) || !EVENT_TYPES.includes(event.type as ServiceEventType))
      throw new ValidationError(
        `append takes service events (refresh.*, apikey.*, login.*, anomaly.*), not ${JSON.stringify(event.type)}`,
      );
    assertNow(event.time);
  }
}

export function assertTrim(before: number, limit: number): void {
  assertNow(before);
  assertLimit(limit);
}

export function assertOutboxQuery(filter: OutboxQuery): void {
  assertLimit(filter.limit);
  assertPosition(filter.after);
  for (const moment of [filter.since, filter.until]) if (moment !== undefined) assertNow(moment);
  for (const type of filter.types ?? [])
    if (!EVENT_TYPES.includes(type))
      throw new ValidationError(`unknown event type ${JSON.stringify(type)}`);
}
