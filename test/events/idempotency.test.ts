import { describe, expect, it } from 'vitest';
import { Deduplicator, SessionSequences, toCloudEvent } from '../../src/events/index.js';
import { updatedEventOf } from '../support/test-outbox.js';

const updated = (sessionId: string, sequence: number) =>
  toCloudEvent(updatedEventOf(sessionId, sequence));

describe('Deduplicator', () => {
  it('recognises an id seen within its window, and forgets the oldest beyond it', () => {
    const seen = new Deduplicator(2);
    expect(seen.seenBefore('a')).toBe(false);
    expect(seen.seenBefore('a')).toBe(true);
    seen.seenBefore('b');
    seen.seenBefore('c');
    expect(seen.seenBefore('a')).toBe(false);
    expect(seen.seenBefore('c')).toBe(true);
  });

  it('counts a forgotten id as new, for a handler that failed', () => {
    const seen = new Deduplicator();
    seen.seenBefore('a');
    seen.forget('a');
    expect(seen.seenBefore('a')).toBe(false);
  });

  it('refuses a window of no ids', () => {
    expect(() => new Deduplicator(0)).toThrow(RangeError);
  });
});

describe('SessionSequences', () => {
  it('applies each session’s events only forward', () => {
    const sequences = new SessionSequences();
    const [first, second] = [updated('s1', 1), updated('s1', 2)];
    expect(sequences.isNew(second)).toBe(true);
    sequences.markApplied(second);
    expect(sequences.isNew(second)).toBe(false);
    expect(sequences.isNew(first)).toBe(false);
    expect(sequences.isNew(updated('s2', 1))).toBe(true);
  });

  it('carries a session’s count across a regeneration to its new id', () => {
    const sequences = new SessionSequences();
    sequences.markApplied(updated('old', 3));
    const regenerated = toCloudEvent({
      ...updatedEventOf('new', 4),
      type: 'session.regenerated',
      data: { previousId: 'old' },
    });
    expect(sequences.isNew(regenerated)).toBe(true);
    sequences.markApplied(regenerated);
    expect(sequences.isNew(updated('new', 4))).toBe(false);
    expect(sequences.isNew(updated('new', 5))).toBe(true);
    expect(sequences.isNew(updated('old', 3))).toBe(false);
  });

  it('treats events of no session as new: deduplicate those by id', () => {
    const sequences = new SessionSequences();
    const failed = toCloudEvent({
      ...updatedEventOf('x', 0),
      type: 'login.failed',
      sessionId: null,
      data: {},
    });
    sequences.markApplied(failed);
    expect(sequences.isNew(failed)).toBe(true);
  });

  it('forgets the least recently applied session beyond its capacity', () => {
    const sequences = new SessionSequences(1);
    sequences.markApplied(updated('s1', 5));
    sequences.markApplied(updated('s2', 1));
    expect(sequences.isNew(updated('s1', 2))).toBe(true);
    expect(sequences.isNew(updated('s2', 1))).toBe(false);
  });
});
