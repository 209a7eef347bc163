/**
 * Staggered racing of connection attempts ("happy eyeballs"): the first
 * attempt starts at once, each next one when the previous failed or after
 * `staggerMs`, whichever comes first; the first success wins and every later
 * success is disposed of. Time comes from the injected clock.
 */
import type { Clock } from "../../common/clock.ts";

/** Every attempt failed; `errors` in the order of the attempts. */
export class RaceError extends Error {
  override name = "RaceError";
  constructor(readonly errors: unknown[]) {
    super(
      errors.length === 0
        ? "nothing to try"
        : errors.map((e) => e instanceof Error ? e.message : String(e)).join(
          "; ",
        ),
    );
  }
}

/** Runs the attempts staggered; resolves with the first success. */
export function raceStaggered<T>(
  attempts: (() => Promise<T>)[],
  staggerMs: number,
  clock: Clock,
  dispose: (late: T) => void,
): Promise<T> {
  if (attempts.length === 0) return Promise.reject(new RaceError([]));
  return new Promise<T>((resolve, reject) => {
    const errors: unknown[] = new Array(attempts.length);
    let started = 0;
    let failed = 0;
    let won = false;
    let cancelTimer: () => void = () => {};
    const startNext = () => {
      cancelTimer();
      if (won || started >= attempts.length) return;
      const i = started++;
      if (started < attempts.length) {
        cancelTimer = clock.after(staggerMs, startNext);
      }
      attempts[i]!().then((value) => {
        if (won) {
          dispose(value);
          return;
        }
        won = true;
        cancelTimer();
        resolve(value);
      }, (err) => {
        errors[i] = err;
        failed++;
        if (won) return;
        if (failed === attempts.length) {
          cancelTimer();
          reject(new RaceError(errors));
        } else if (failed === started) {
          startNext(); // Everything running has failed: no point waiting.
        }
      });
    };
    startNext();
  });
}
