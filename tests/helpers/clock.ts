/**
 * A clock that only moves when a test says so.
 *
 * Code under test takes `now()` and timer functions as arguments; tests pass
 * a ManualClock and call `advance(ms)` instead of sleeping, so time-driven
 * behaviour (heartbeat expiry, request timeouts, backoff) is tested exactly
 * and instantly.
 */

/** The time and timer functions a ManualClock offers. */
export interface TestClock {
  /** Milliseconds since the epoch (or since the clock's start). */
  now(): number;
  /** Calls `fn` once after `ms`; returns an id for clearTimeout. */
  setTimeout(fn: () => void, ms?: number): number;
  /** Cancels a timer; unknown or fired ids are ignored. */
  clearTimeout(id: number | undefined): void;
  /** Calls `fn` every `ms`; returns an id for clearInterval. */
  setInterval(fn: () => void, ms: number): number;
  /** Cancels an interval; unknown ids are ignored. */
  clearInterval(id: number | undefined): void;
}

interface Timer {
  id: number;
  due: number;
  fn: () => void;
  /** Period of an interval; null for a one-shot timer. */
  every: number | null;
}

/** A deterministic clock with timers that fire when the test advances it. */
export class ManualClock implements TestClock {
  #now: number;
  #timers = new Map<number, Timer>();
  #nextId = 1;

  /** Starts at `start` ms (default 0; pass Date.now() for realistic dates). */
  constructor(start = 0) {
    this.#now = start;
  }

  /** The current time in ms. */
  now(): number {
    return this.#now;
  }

  /** Number of timers and intervals waiting to fire. */
  get pending(): number {
    return this.#timers.size;
  }

  /** Schedules `fn` once, `ms` from now (negative or NaN counts as 0). */
  setTimeout(fn: () => void, ms = 0): number {
    return this.#add(fn, ms, null);
  }

  /** Cancels a one-shot timer. */
  clearTimeout(id: number | undefined): void {
    if (id !== undefined) this.#timers.delete(id);
  }

  /** Schedules `fn` every `ms` (at least 1 ms, so advance always ends). */
  setInterval(fn: () => void, ms: number): number {
    const every = Math.max(1, clampDelay(ms));
    return this.#add(fn, every, every);
  }

  /** Cancels an interval. */
  clearInterval(id: number | undefined): void {
    this.clearTimeout(id);
  }

  /** Calls `fn` once, `ms` from now; returns its cancel (common/clock.ts Clock). */
  after(ms: number, fn: () => void): () => void {
    const id = this.setTimeout(fn, ms);
    return () => this.clearTimeout(id);
  }

  /** Calls `fn` every `ms`; returns its cancel (common/clock.ts Clock). */
  every(ms: number, fn: () => void): () => void {
    const id = this.setInterval(fn, ms);
    return () => this.clearInterval(id);
  }

  /**
   * Moves time forward by `ms`, firing every timer that falls due, in due
   * order (ties in scheduling order). During a callback `now()` reads the
   * timer's due time, and timers scheduled by callbacks fire too if they
   * fall inside the window. Returns the number of callbacks run.
   */
  advance(ms: number): number {
    if (!Number.isFinite(ms) || ms < 0) {
      throw new RangeError(`advance needs a finite ms >= 0, got ${ms}`);
    }
    const end = this.#now + ms;
    let fired = 0;
    for (let t = this.#next(end); t; t = this.#next(end)) {
      this.#now = t.due;
      this.#runTimer(t);
      fired++;
    }
    this.#now = end;
    return fired;
  }

  /**
   * Like advance, but lets promise callbacks settle after each timer, for
   * code that awaits between timers. Yields to the event loop, never sleeps.
   */
  async advanceAsync(ms: number): Promise<number> {
    if (!Number.isFinite(ms) || ms < 0) {
      throw new RangeError(`advance needs a finite ms >= 0, got ${ms}`);
    }
    const end = this.#now + ms;
    let fired = 0;
    await settle();
    for (let t = this.#next(end); t; t = this.#next(end)) {
      this.#now = t.due;
      this.#runTimer(t);
      fired++;
      await settle();
    }
    this.#now = end;
    return fired;
  }

  /** Advances exactly to the next timer and fires it; false when none is set. */
  runNext(): boolean {
    const t = this.#next(Infinity);
    if (!t) return false;
    this.#now = Math.max(this.#now, t.due);
    this.#runTimer(t);
    return true;
  }

  #add(fn: () => void, ms: number, every: number | null): number {
    const id = this.#nextId++;
    this.#timers.set(id, { id, due: this.#now + clampDelay(ms), fn, every });
    return id;
  }

  /** The earliest timer due at or before `end`. */
  #next(end: number): Timer | undefined {
    let best: Timer | undefined;
    for (const t of this.#timers.values()) {
      if (t.due > end) continue;
      if (!best || t.due < best.due || (t.due === best.due && t.id < best.id)) {
        best = t;
      }
    }
    return best;
  }

  #runTimer(t: Timer): void {
    if (t.every === null) this.#timers.delete(t.id);
    else t.due += t.every;
    t.fn();
  }
}

function clampDelay(ms: number): number {
  return Number.isFinite(ms) && ms > 0 ? ms : 0;
}

/** Lets pending promise callbacks run: one macrotask drains all microtasks. */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}
