/**
 * The registry's time: the current time and the timers that act on it, in
 * one injected object, so every time-driven rule (heartbeat expiry, idle
 * logout, the hello deadline, throttles) can run on a manual clock in tests.
 */

/** Current time and timers; `tests/helpers/clock.ts`'s ManualClock fits it. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls `fn` once after `ms`; returns an id for clearTimeout. */
  setTimeout(fn: () => void, ms: number): number;
  /** Cancels a timer; unknown or fired ids are ignored. */
  clearTimeout(id: number | undefined): void;
  /** Calls `fn` every `ms`; returns an id for clearInterval. */
  setInterval(fn: () => void, ms: number): number;
  /** Cancels an interval; unknown ids are ignored. */
  clearInterval(id: number | undefined): void;
}

/**
 * The real clock: wall time and the runtime's timers. Their handles are
 * kept as the numbers they convert to, which clearTimeout accepts.
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => Number(setTimeout(fn, ms)),
  clearTimeout: (id) => clearTimeout(id),
  setInterval: (fn, ms) => Number(setInterval(fn, ms)),
  clearInterval: (id) => clearInterval(id),
};

/** The real timers with another source of time (tests that move time but not timers). */
export function clockWithNow(now: () => number): Clock {
  return { ...systemClock, now };
}
