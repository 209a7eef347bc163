/** Assertions for tests, on node:assert/strict with Deno-style names. */
import assertNode from "node:assert/strict";

/** Fails unless `value` is truthy. */
export function assert(value: unknown, message?: string): asserts value {
  assertNode.ok(value, message);
}

/** Deep strict equality. */
export function assertEquals<T>(
  actual: unknown,
  expected: T,
  message?: string,
): asserts actual is T {
  assertNode.deepStrictEqual(actual, expected, message);
}

/** Fails when `actual` equals `expected`. */
export function assertNotEquals(
  actual: unknown,
  expected: unknown,
  message?: string,
): void {
  assertNode.notDeepStrictEqual(actual, expected, message);
}

/** Fails unless `text` contains `part`. */
export function assertIncludes(
  text: string,
  part: string,
  message?: string,
): void {
  assertNode.ok(
    text.includes(part),
    message ??
      `expected ${JSON.stringify(text)} to include ${JSON.stringify(part)}`,
  );
}

/** Fails unless `fn` rejects; returns the error. */
export async function assertRejects(
  fn: () => Promise<unknown>,
  pattern?: RegExp,
): Promise<Error> {
  try {
    await fn();
  } catch (err) {
    if (pattern) {
      assertNode.match(
        String(err instanceof Error ? err.message : err),
        pattern,
      );
    }
    return err as Error;
  }
  throw new assertNode.AssertionError({ message: "expected a rejection" });
}
