/**
 * Shared pieces of the registry tests: a RegistryClient that records pushed
 * events and (optionally) heartbeats, and one-line sign-up and log-in.
 */
import assert from "node:assert/strict";
import { HeartbeatSender } from "../../peer/mod.ts";
import {
  RegistryClient,
  RegistryError,
  type RegistryTarget,
  type RequestFields,
} from "../../peer/mod.ts";
import type {
  EventType,
  RegistryEvent,
  ReplyData,
  RequestType,
} from "../../wire/mod.ts";
import {
  type RegistryProcess,
  spawnRegistry,
  until,
} from "../helpers/registry.ts";
import { peerIdentity } from "../helpers/identity.ts";

/** Any P2P port will do: the registry only records and reports it. */
export const P2P_PORT = 40_123;

/** A connected client with its events, its session, and its heartbeat. */
export class TestClient implements AsyncDisposable {
  readonly events: RegistryEvent[] = [];
  session: ReplyData<"login"> | null = null;
  #beat: HeartbeatSender | null = null;

  private constructor(readonly client: RegistryClient) {
    client.onEvent((ev) => this.events.push(ev));
  }

  /** Connects (pinned by `target`) and says hello. */
  static async connect(target: RegistryTarget): Promise<TestClient> {
    return new TestClient(await RegistryClient.connect(target));
  }

  /** Sends a request and waits for its reply. */
  request<K extends RequestType>(
    type: K,
    fields: RequestFields<K>,
  ): Promise<ReplyData<K>> {
    return this.client.request(type, fields);
  }

  /** Logs in; `beat` starts a real UDP heartbeat at the registry's interval. */
  async login(
    user: string,
    password: string,
    opts: { kind?: "peer" | "tool"; replace?: boolean; beat?: boolean } = {},
  ): Promise<ReplyData<"login">> {
    const kind = opts.kind ?? "peer";
    const id = kind === "peer" ? await peerIdentity() : null;
    this.session = await this.request("login", {
      user,
      password,
      kind,
      ...(id ? { p2p_port: P2P_PORT, cert: id.cert, key: id.key } : {}),
      ...(opts.replace ? { replace: true } : {}),
    });
    if (opts.beat ?? true) this.startHeartbeat();
    return this.session;
  }

  /** Starts heartbeating for the current session. */
  startHeartbeat(): void {
    const s = this.session!;
    const hello = this.client.hello;
    this.#beat?.stop();
    this.#beat = new HeartbeatSender(
      "127.0.0.1",
      hello.udp_port,
      s.session,
      s.token,
      hello.heartbeat_interval_ms,
    );
  }

  /** Stops heartbeating (the session will time out after the TTL). */
  stopHeartbeat(): void {
    this.#beat?.stop();
    this.#beat = null;
  }

  /** Waits for a pushed event of `type` that satisfies `match`. */
  event<T extends EventType>(
    type: T,
    match: (ev: Extract<RegistryEvent, { type: T }>) => boolean = () => true,
    timeoutMs = 10_000,
  ): Promise<Extract<RegistryEvent, { type: T }>> {
    return until(
      () =>
        this.events.find((e): e is Extract<RegistryEvent, { type: T }> =>
          e.type === type && match(e as Extract<RegistryEvent, { type: T }>)
        ),
      `a ${type} event`,
      timeoutMs,
    );
  }

  /** Events of one type received so far. */
  eventsOf<T extends EventType>(
    type: T,
  ): Extract<RegistryEvent, { type: T }>[] {
    return this.events.filter((e): e is Extract<RegistryEvent, { type: T }> =>
      e.type === type
    );
  }

  /** Closes the connection and waits until it is gone. */
  async close(): Promise<void> {
    this.stopHeartbeat();
    this.client.close();
    await this.client.closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** Signs a user up on a throwaway connection. */
export async function signup(
  target: RegistryTarget,
  user: string,
  password: string,
): Promise<void> {
  await using c = await TestClient.connect(target);
  await c.request("signup", { user, password });
}

/** Connects and logs in; the caller closes the client. */
export async function loggedIn(
  target: RegistryTarget,
  user: string,
  password: string,
  opts: { kind?: "peer" | "tool"; replace?: boolean; beat?: boolean } = {},
): Promise<TestClient> {
  const c = await TestClient.connect(target);
  try {
    await c.login(user, password, opts);
  } catch (err) {
    await c.close();
    throw err;
  }
  return c;
}

/** Expects a RegistryError with this code whose message matches `text`. */
export async function refused(
  p: Promise<unknown>,
  code: RegistryError["code"],
  text: RegExp,
): Promise<RegistryError> {
  let caught: unknown;
  try {
    await p;
  } catch (err) {
    caught = err;
  }
  assert.ok(
    caught instanceof RegistryError,
    `expected a RegistryError (${code}), got ${caught}`,
  );
  assert.equal(caught.code, code, caught.message);
  assert.match(caught.message, text);
  return caught;
}

/** Runs `fn` against a fresh `chat registry` process, then kills it and removes its folder. */
export async function withRegistryProcess(
  args: string[],
  fn: (reg: RegistryProcess) => Promise<void>,
): Promise<void> {
  const reg = await spawnRegistry({ args });
  try {
    await fn(reg);
  } finally {
    await reg.stop("SIGKILL");
    await Deno.remove(reg.home, { recursive: true }).catch(() => {});
  }
}
