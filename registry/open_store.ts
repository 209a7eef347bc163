/**
 * `--db VALUE` → a Store: a file path opens the embedded SQLite store, a
 * postgres:// URL the PostgreSQL store shared by a cluster of registries.
 */
import { PostgresStore } from "./postgres_store.ts";
import {
  isPostgresUrl,
  parsePostgresUrl,
  type PostgresTarget,
} from "./postgres_url.ts";
import { SqliteStore } from "./sqlite_store.ts";
import { type Store, StoreOpenError } from "./store.ts";

/** Which engine a --db value names, and where. */
export type DbChoice =
  | { engine: "sqlite"; path: string }
  | { engine: "postgres"; target: PostgresTarget };

/**
 * Decides the engine without touching anything; throws StoreOpenError "url"
 * (one line, no password) for a URL that cannot be used.
 */
export function chooseDb(value: string): DbChoice {
  if (isPostgresUrl(value)) {
    return { engine: "postgres", target: parsePostgresUrl(value) };
  }
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(value)?.[1];
  if (scheme !== undefined) {
    throw new StoreOpenError(
      "url",
      `--db ${scheme}://… is not supported; give a file path for SQLite or a postgres:// URL`,
    );
  }
  if (value === "") {
    throw new StoreOpenError(
      "url",
      "--db is empty; give a file path for SQLite or a postgres:// URL",
    );
  }
  return { engine: "sqlite", path: value };
}

/** What to print for the database in logs: the path, or the URL without password. */
export function describeDb(choice: DbChoice): string {
  return choice.engine === "sqlite" ? choice.path : choice.target.display;
}

/**
 * Opens and migrates the store `value` names. Errors are StoreOpenError with
 * one line (a bad URL, an unreachable or refusing server naming host and
 * port, a newer schema); SQLite's own errors pass through as before.
 */
export async function openStore(value: string | DbChoice): Promise<Store> {
  const choice = typeof value === "string" ? chooseDb(value) : value;
  if (choice.engine === "sqlite") return SqliteStore.open(choice.path);
  return await PostgresStore.open(choice.target);
}
