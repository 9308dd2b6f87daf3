/** 2026-01-01T00:00:00Z, where manual clocks start. */
export const T = Date.UTC(2026, 0, 1);

/** A clock that moves only when told, so no test waits for a window to pass. */
export function manualClock(start = T) {
  let now = start;
  return {
    now: () => now,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

export type ManualClock = ReturnType<typeof manualClock>;
