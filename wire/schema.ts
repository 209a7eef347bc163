/**
 * A tiny schema language for validating untrusted JSON into typed values.
 *
 * Each field is a pure checker that returns a reason string or null. Shapes are
 * plain objects of fields, so the wire catalog reads like a table and its
 * TypeScript types are inferred from the same table.
 */

/** A field validator; `T` is the type a value has once it passed. */
export interface Field<T> {
  /** True when the key may be absent. */
  readonly optional: boolean;
  /** Returns null when `value` is acceptable, otherwise a reason. */
  check(value: unknown): string | null;
  /** Phantom marker carrying the value type; never set at runtime. */
  readonly _type?: T;
}

/** An object shape: field name to validator. */
export type Shape = Record<string, Field<unknown>>;

type RequiredKeys<S extends Shape> = {
  [K in keyof S]: S[K]["optional"] extends true ? never : K;
}[keyof S];
type OptionalKeys<S extends Shape> = Exclude<keyof S, RequiredKeys<S>>;
type FieldType<F> = F extends Field<infer T> ? T : never;

/** The value type a shape accepts. */
export type Infer<S extends Shape> =
  & { [K in RequiredKeys<S>]: FieldType<S[K]> }
  & { [K in OptionalKeys<S>]?: FieldType<S[K]> };

function field<T>(check: (value: unknown) => string | null): Field<T> {
  return { optional: false, check };
}

/**
 * A string whose length in UTF-16 units lies within bounds, optionally
 * matching a pattern; `wellFormed` also refuses lone surrogates (which
 * normalisation and UTF-8 would turn into the same replacement character).
 */
export function str(
  opts: {
    min?: number;
    max: number;
    pattern?: RegExp;
    what?: string;
    wellFormed?: boolean;
  },
): Field<string> {
  const min = opts.min ?? 0;
  return field((v) => {
    if (typeof v !== "string") return "must be a string";
    if (v.length < min) return `must be at least ${min} characters`;
    if (v.length > opts.max) return `must be at most ${opts.max} characters`;
    if (opts.wellFormed && !v.isWellFormed()) {
      return "must be well-formed Unicode (it has a lone surrogate)";
    }
    if (opts.pattern && !opts.pattern.test(v)) {
      return `is not a valid ${opts.what ?? "value"}`;
    }
    return null;
  });
}

/** An integer within bounds (inclusive). */
export function int(min: number, max: number): Field<number> {
  return field((v) => {
    if (typeof v !== "number" || !Number.isInteger(v)) {
      return "must be an integer";
    }
    if (v < min || v > max) return `must be between ${min} and ${max}`;
    return null;
  });
}

/** A boolean. */
export const bool: Field<boolean> = field((v) =>
  typeof v === "boolean" ? null : "must be true or false"
);

/** One of a fixed set of string literals. */
export function oneOf<const L extends readonly string[]>(
  ...values: L
): Field<L[number]> {
  return field((v) =>
    typeof v === "string" && values.includes(v)
      ? null
      : `must be one of ${values.join(", ")}`
  );
}

/** Makes a field optional: the key may be absent (or undefined). */
export function opt<T>(f: Field<T>): Field<T> & { readonly optional: true } {
  return {
    optional: true,
    check: (v) => (v === undefined ? null : f.check(v)),
  };
}

/** Allows null in addition to what `f` accepts. */
export function nullable<T>(f: Field<T>): Field<T | null> {
  return field((v) => (v === null ? null : f.check(v)));
}

/** An array of at most `max` items, each accepted by `item`. */
export function arr<T>(item: Field<T>, max: number): Field<T[]> {
  return field((v) => {
    if (!Array.isArray(v)) return "must be a list";
    if (v.length > max) return `must have at most ${max} items`;
    for (let i = 0; i < v.length; i++) {
      const reason = item.check(v[i]);
      if (reason) return `item ${i} ${reason}`;
    }
    return null;
  });
}

/** A nested object with its own shape. */
export function obj<S extends Shape>(shape: S): Field<Infer<S>> {
  return field((v) => checkShape(shape, v));
}

/** Checks a value against a shape; returns null or the first reason found. */
export function checkShape(shape: Shape, value: unknown): string | null {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return "must be an object";
  }
  const record = value as Record<string, unknown>;
  for (const key in shape) {
    const f = shape[key]!;
    const v = Object.hasOwn(record, key) ? record[key] : undefined;
    if (v === undefined) {
      if (!f.optional) return `"${key}" is missing`;
      continue;
    }
    const reason = f.check(v);
    if (reason) return `"${key}" ${reason}`;
  }
  return null;
}

/** Copies only the keys a shape names, so unknown fields never travel further. */
export function pick<S extends Shape>(shape: S, value: object): Infer<S> {
  const record = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const key in shape) {
    if (Object.hasOwn(record, key) && record[key] !== undefined) {
      out[key] = record[key];
    }
  }
  return out as Infer<S>;
}
