import { parsePointer, type SessionData } from '../../core/index.js';
import type { SessionState } from '../state.js';
import type { AnomalyConfig, Finding } from '../types.js';

/**
 * A watched number in the session's data (a cart total, a transfer amount)
 * that grows by more than `factor` in one patch, compared with its last
 * value: a hijacked session being cashed out. Only patches that touched the
 * pointer (or a parent or child of it) are looked at; a first value, or a
 * last value of 0 or less, is only recorded.
 */
export function watchedFields(
  state: SessionState,
  change: { data: SessionData; paths: readonly string[] },
  settings: AnomalyConfig['rules']['watched-field'],
): Finding[] {
  const findings: Finding[] = [];
  for (const pointer of settings.pointers) {
    if (!change.paths.some((path) => touchesPointer(path, pointer))) continue;
    const value = numberAt(change.data, pointer);
    const before = state.watched[pointer];
    if (value === null) {
      delete state.watched[pointer];
      continue;
    }
    state.watched[pointer] = value;
    if (before === undefined || before <= 0 || value / before <= settings.factor) continue;
    findings.push({
      rule: 'watched-field',
      reason: `${pointer} jumped from ${before} to ${value}, more than ${settings.factor} times its last value`,
      score: settings.score,
    });
  }
  return findings;
}

/** Whether a patch at `path` may have changed the value at `pointer`: the same, a parent or a child. */
export function touchesPointer(path: string, pointer: string): boolean {
  return (
    path === pointer ||
    path === '' ||
    pointer.startsWith(`${path}/`) ||
    path.startsWith(`${pointer}/`)
  );
}

function numberAt(data: SessionData, pointer: string): number | null {
  let value: unknown = data;
  for (const segment of parsePointer(pointer)) {
    if (typeof value !== 'object' || value === null) return null;
    value = (value as Record<string, unknown>)[segment];
  }
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}
