/**
 * V8 flags chat runs with: baked into compiled binaries by scripts/compile.ts
 * and passed by `deno task registry` / `deno task peer` (keep deno.json in
 * step; tests/scripts/compile_test.ts checks it). Benchmarks run chat with
 * them too (bench/harness.ts chatRunArgs).
 *
 * Memory is what limits a registry with 10,000 sessions on a small machine
 * (SPEC P1: 300 MiB). Measured there with Deno 2.9.6: V8's defaults gave
 * 424 MiB; a 2 MiB young generation (--max-semi-space-size=2, instead of up to
 * 16 MiB per semi-space) 352 MiB; adding --optimize-for-size, which makes V8
 * favour compact heaps and code, 279 MiB — for a few points more CPU (35 %
 * of one core instead of 29 %). Direct messages (P3) and piped files (P5)
 * measured no slower.
 */
export const V8_FLAGS: readonly string[] = [
  "--max-semi-space-size=2",
  "--optimize-for-size",
];
