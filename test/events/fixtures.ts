import { randomBytes } from 'node:crypto';
import { newEventId, type OutboxEvent, revokedEvent } from '../../src/core/index.js';
import { type CloudEvent, toCloudEvent } from '../../src/events/envelope.js';

/** A name no other run or test uses, for a stream, exchange, queue or durable. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${randomBytes(5).toString('hex')}`;
}

/**
 * One session's life as a relay hands it to a sink: created, `updates`
 * updates, revoked, with the sequence the store would give them.
 */
export function sessionLife(updates: number): CloudEvent[] {
  const session = { id: randomBytes(32).toString('hex'), userId: 'alice' };
  const stamp = (sequence: number) => ({ instance: 'gw-1:4242', time: Date.now(), sequence });
  const event = (type: OutboxEvent['type'], sequence: number, data: Record<string, unknown>) =>
    toCloudEvent({
      id: newEventId(),
      type,
      time: Date.now(),
      sessionId: session.id,
      userId: session.userId,
      sequence,
      instance: 'gw-1:4242',
      data,
    });
  return [
    event('session.created', 1, { ip: '203.0.113.7', userAgent: 'test', idleExpiresAt: 1 }),
    ...Array.from({ length: updates }, (_, at) =>
      event('session.updated', at + 2, { version: at + 2, paths: ['/cart/-'] }),
    ),
    toCloudEvent(revokedEvent(session, { ...stamp(updates + 2), cause: { reason: 'logout' } })),
  ];
}

/** Several sessions' events interleaved, each session's in its own order, as an outbox would hold them. */
export function interleaved(lives: readonly CloudEvent[][]): CloudEvent[] {
  const events: CloudEvent[] = [];
  const longest = Math.max(...lives.map((life) => life.length));
  for (let at = 0; at < longest; at++) {
    for (const life of lives) {
      const event = life[at];
      if (event) events.push(event);
    }
  }
  return events;
}

/** The events of each session in the order they arrived, by session id. */
export function bySession(events: readonly CloudEvent[]): Map<string, number[]> {
  const sessions = new Map<string, number[]>();
  for (const event of events) {
    const id = event.data.sessionId as string;
    sessions.set(id, [...(sessions.get(id) ?? []), event.data.sequence]);
  }
  return sessions;
}

/** How many times each id arrived, for ids that arrived other than once. */
export function notOnce(
  ids: readonly string[],
  expected: readonly string[],
): Record<string, number> {
  const counts = new Map<string, number>(expected.map((id) => [id, 0]));
  for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
  return Object.fromEntries([...counts].filter(([, count]) => count !== 1));
}
