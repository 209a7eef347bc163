/**
 * `--db postgres://USER[:PASS]@HOST[:PORT]/DB[?sslmode=…]` parsed into the
 * settings the PostgreSQL store connects with. Pure: no I/O, no environment.
 */
import { StoreOpenError } from "./store.ts";

/** How the connection is protected, with libpq's names and meanings. */
export type SslMode =
  | "disable"
  | "prefer"
  | "require"
  | "verify-ca"
  | "verify-full";

/** The accepted sslmode values, in order of strength. */
export const SSL_MODES: readonly SslMode[] = [
  "disable",
  "prefer",
  "require",
  "verify-ca",
  "verify-full",
];

/** The query parameters a --db URL may carry. */
export const URL_PARAMETERS = [
  "sslmode",
  "sslrootcert",
  "connect_timeout",
] as const;

/** The port PostgreSQL listens on when the URL names none. */
export const DEFAULT_PORT = 5432;

/** How long connecting may take when the URL does not say (seconds). */
export const DEFAULT_CONNECT_TIMEOUT_S = 10;

/** The form of a --db URL, ending the errors about its shape. */
const FORM =
  "the form is postgres://USER[:PASS]@HOST[:PORT]/DB[?sslmode=require|verify-full]";

/** Where and how to reach one PostgreSQL database. */
export interface PostgresTarget {
  host: string;
  port: number;
  user: string;
  /** Null when the URL carries none (trust, peer or certificate auth). */
  password: string | null;
  database: string;
  /** libpq's default is `prefer`: TLS when the server offers it. */
  sslmode: SslMode;
  /** PEM file of the certificate authority for verify-ca/verify-full. */
  sslrootcert: string | null;
  connectTimeoutS: number;
  /** The URL without its password, for logs and errors. */
  display: string;
}

/** True when `value` is meant as a PostgreSQL URL rather than a file path. */
export function isPostgresUrl(value: string): boolean {
  return /^postgres(?:ql)?:\/\//i.test(value);
}

/**
 * Parses a postgres:// (or postgresql://) URL; throws StoreOpenError "url"
 * with one line naming what is wrong. The password never appears in errors.
 */
export function parsePostgresUrl(value: string): PostgresTarget {
  if (!isPostgresUrl(value)) {
    throw badShape(`--db '${redact(value)}' is not a postgres:// URL`);
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw badShape(
      `--db '${
        redact(value)
      }' is not a valid URL (ports are 1 to 65535; escape @ : / in a password as %40 %3A %2F)`,
    );
  }
  const display = redactUrl(url);
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  if (host === "") throw badShape(`--db '${display}' names no host`);
  if (host.includes(",")) {
    throw bad(
      `--db '${display}' names several hosts; give one (put a load balancer or a DNS name in front of replicas)`,
    );
  }
  const port = url.port === "" ? DEFAULT_PORT : Number(url.port);
  if (!(Number.isInteger(port) && port >= 1 && port <= 65535)) {
    throw bad(`--db '${display}' has port ${url.port}; use 1 to 65535`);
  }
  const user = decode(url.username, display, "user name");
  if (user === "") throw badShape(`--db '${display}' names no user`);
  const password = url.password === ""
    ? null
    : decode(url.password, display, "password");
  const path = url.pathname.replace(/^\//, "");
  const database = decode(path, display, "database name");
  if (database === "" || database.includes("/")) {
    throw badShape(`--db '${display}' must name one database after the host`);
  }
  const params = new Map<string, string>();
  for (const [k, v] of url.searchParams) {
    if (!(URL_PARAMETERS as readonly string[]).includes(k)) {
      throw bad(
        `--db '${display}' has unknown parameter '${k}'; known: ${
          URL_PARAMETERS.join(", ")
        }`,
      );
    }
    params.set(k, v);
  }
  const sslmode = params.get("sslmode") ?? "prefer";
  if (!(SSL_MODES as readonly string[]).includes(sslmode)) {
    throw bad(
      `--db '${display}' has sslmode '${sslmode}'; use one of ${
        SSL_MODES.join(", ")
      }`,
    );
  }
  const timeout = params.get("connect_timeout");
  const connectTimeoutS = timeout === undefined
    ? DEFAULT_CONNECT_TIMEOUT_S
    : Number(timeout);
  if (
    !(Number.isInteger(connectTimeoutS) && connectTimeoutS >= 1 &&
      connectTimeoutS <= 3600)
  ) {
    throw bad(
      `--db '${display}' has connect_timeout '${timeout}'; use whole seconds from 1 to 3600`,
    );
  }
  const sslrootcert = params.get("sslrootcert") ?? null;
  if (sslrootcert !== null && (sslmode === "disable" || sslmode === "prefer")) {
    throw bad(
      `--db '${display}' has sslrootcert with sslmode=${sslmode}; a CA is only checked with sslmode=verify-ca or verify-full`,
    );
  }
  return {
    host,
    port,
    user,
    password,
    database,
    sslmode: sslmode as SslMode,
    sslrootcert,
    connectTimeoutS,
    display,
  };
}

function bad(what: string): StoreOpenError {
  return new StoreOpenError("url", what);
}

/** An error about the URL's shape, which also shows the expected form. */
function badShape(what: string): StoreOpenError {
  return new StoreOpenError("url", `${what}; ${FORM}`);
}

function decode(part: string, display: string, what: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw bad(
      `--db '${display}' has a badly escaped ${what}; write special characters as %XX`,
    );
  }
}

/** The URL with any password replaced, so it can be logged. */
function redactUrl(url: URL): string {
  const copy = new URL(url.href);
  if (copy.password !== "") copy.password = "***";
  return copy.href;
}

/**
 * Redaction of a string that did not parse as a URL: everything between the
 * user's colon and the last @ goes, erring on the side of hiding too much.
 */
function redact(value: string): string {
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:@/]*):.*@/i, "$1:***@");
}
