import { z } from 'zod';
import { DecodeError, EVENT_TYPES, type EventType, type OutboxEvent } from '../core/index.js';

/** The version of every event's `data` schema; a breaking change to one makes it v2. */
export const EVENT_SCHEMA_VERSION = 'v1';

/**
 * An event as it leaves clawsession: a CloudEvents 1.0 structured-mode JSON
 * envelope (https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/spec.md).
 * `subject` is the session id (never a token), or for events of no session
 * the user id or key id they concern. `data` carries the fields every event
 * has (`sessionId`, `userId`, `instance`, `sequence`) and the type's own,
 * documented in docs/events.md.
 */
export interface CloudEvent {
  specversion: '1.0';
  id: string;
  source: string;
  type: EventType;
  time: string;
  subject?: string;
  datacontenttype: 'application/json';
  dataschema: string;
  data: EventData;
}

export interface EventData {
  sessionId: string | null;
  userId: string | null;
  instance: string;
  sequence: number;
  [field: string]: unknown;
}

/** `urn:clawsession:events:v1:session.created`: names the schema of a type's data, with its version. */
export function dataSchemaOf(type: EventType): string {
  return `urn:clawsession:events:${EVENT_SCHEMA_VERSION}:${type}`;
}

/** The CloudEvents source of events made by `instance`. */
export function sourceOf(instance: string): string {
  return `urn:clawsession:instance:${instance}`;
}

export function toCloudEvent(event: OutboxEvent): CloudEvent {
  const subject = event.sessionId ?? subjectOfServiceEvent(event);
  return {
    specversion: '1.0',
    id: event.id,
    source: sourceOf(event.instance),
    type: event.type,
    time: new Date(event.time).toISOString(),
    ...(subject ? { subject } : {}),
    datacontenttype: 'application/json',
    dataschema: dataSchemaOf(event.type),
    data: {
      ...event.data,
      sessionId: event.sessionId,
      userId: event.userId,
      instance: event.instance,
      sequence: event.sequence,
    },
  };
}

function subjectOfServiceEvent(event: OutboxEvent): string | null {
  const keyId = event.data.keyId;
  return typeof keyId === 'string' ? keyId : event.userId;
}

const cloudEventSchema = z.object({
  specversion: z.literal('1.0'),
  id: z.string().min(1),
  source: z.string().min(1),
  type: z.enum(EVENT_TYPES as [EventType, ...EventType[]]),
  time: z.iso.datetime({ offset: true }),
  subject: z.string().optional(),
  datacontenttype: z.literal('application/json'),
  dataschema: z.string().startsWith('urn:clawsession:events:'),
  data: z.looseObject({
    sessionId: z.string().nullable(),
    userId: z.string().nullable(),
    instance: z.string(),
    sequence: z.number().int().nonnegative(),
  }),
});

/** Reads an envelope a broker delivered: DecodeError for bytes that are not a clawsession event. */
export function parseCloudEvent(bytes: Uint8Array | string): CloudEvent {
  let json: unknown;
  try {
    json = JSON.parse(typeof bytes === 'string' ? bytes : Buffer.from(bytes).toString('utf8'));
  } catch (error) {
    throw new DecodeError('an event is not JSON', { cause: error });
  }
  const parsed = cloudEventSchema.safeParse(json);
  if (!parsed.success)
    throw new DecodeError(`not a clawsession event: ${parsed.error.issues[0]?.message ?? ''}`);
  return parsed.data as CloudEvent;
}
