/**
 * Shutdown flows from one AbortSignal: main.ts aborts it on SIGINT/SIGTERM
 * and everything that waits for the end waits for it through here.
 */

/** Resolves once `signal` is aborted, at once if it already is. */
export function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) =>
    signal.addEventListener("abort", () => resolve(), { once: true })
  );
}
