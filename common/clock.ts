/**
 * Time and timers as one injectable value. Code whose behaviour depends on
 * time takes a Clock, so tests pass a manual one (tests/helpers/clock.ts)
 * and advance it instead of waiting.
 */

/** Stops a timer; calling it again, or after the timer fired, does nothing. */
export type Cancel = () => void;

/** The current time and timers. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls `fn` once after `ms`. */
  after(ms: number, fn: () => void): Cancel;
  /** Calls `fn` every `ms`. */
  every(ms: number, fn: () => void): Cancel;
}

/** The real clock: Date.now and the global timers. */
export const SYSTEM_CLOCK: Clock = {
  now: () => Date.now(),
  after: (ms, fn) => {
    const id = setTimeout(fn, ms);
    return () => clearTimeout(id);
  },
  every: (ms, fn) => {
    const id = setInterval(fn, ms);
    return () => clearInterval(id);
  },
};

/** Resolves after `ms` on `clock`. */
export function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.after(ms, resolve));
}
