import { ClawsessionError } from '../core/index.js';

/** `redeliver` was given an event id that is not in the outbox (never written, or trimmed). */
export class EventNotFoundError extends ClawsessionError {
  constructor(eventId: string) {
    super(
      'ERR_EVENT_NOT_FOUND',
      `event ${JSON.stringify(eventId)} is not in the outbox: it was never recorded, or retention has trimmed it`,
    );
  }
}

/** A relay was asked about a sink it does not deliver to. */
export class UnknownSinkError extends ClawsessionError {
  constructor(sink: string, known: readonly string[]) {
    super(
      'ERR_SINK_UNKNOWN',
      `the relay has no sink ${JSON.stringify(sink)}; its sinks are ${known.map((name) => JSON.stringify(name)).join(', ')}`,
    );
  }
}
