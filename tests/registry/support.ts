/**
 * Shared pieces of the registry tests: a RegistryClient that records pushed
 * events and (optionally) heartbeats, and one-line sign-up and log-in.
 */
import assert from "node:assert/strict";
import { HeartbeatSender } from "../../peer/mod.ts";
import { newMessageId, seal as sealBox } from "../../peer/net/sealed.ts";
import {
  DeviceKeysCache,
  DEVICES_DIR,
  fetchDeviceKeys,
} from "../../peer/net/mod.ts";
import {
  Device,
  deviceLoginFields,
  RegistryClient,
  RegistryError,
  type RegistryTarget,
  type RequestFields,
} from "../../peer/mod.ts";
import {
  base64url,
  type EventType,
  fromBase64url,
  type RegistryEvent,
  type ReplyData,
  type RequestType,
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
/** How TestClient.login logs in. */
export interface LoginOpts {
  kind?: "peer" | "tool";
  replace?: boolean;
  beat?: boolean;
  /**
   * Adds the machine as device TEST_DEVICE (stand-in keys) on the first
   * such login of the user, then as TEST_DEVICE-2 and so on.
   */
  device?: boolean;
}

/** The device name tests give a user's first device. */
export const TEST_DEVICE = "desk";
/** A stand-in raw public key: the registry stores keys, it does not use them. */
const STAND_IN_KEY = "A".repeat(43);

/**
 * An offline_send from the session of `from` (logged in with a device) to
 * a recipient whose one device is TEST_DEVICE: the "box" is the text in
 * base64url, which the registry cannot tell from a real one (real boxes:
 * tests/peer/cmd/sealed_offline_test.ts).
 */
export function sealedTo(
  from: TestClient,
  to: string,
  text: string,
): RequestFields<"offline_send"> {
  return {
    to,
    mid: base64url(crypto.getRandomValues(new Uint8Array(16))),
    from_device: from.session?.device ?? TEST_DEVICE,
    boxes: [{
      device: TEST_DEVICE,
      box: base64url(new TextEncoder().encode(text)),
    }],
  };
}

/**
 * Like sealedTo, for whatever devices `to` has now (asked of the registry),
 * each "box" the text in base64url.
 */
export async function standInTo(
  from: TestClient,
  to: string,
  text: string,
): Promise<RequestFields<"offline_send">> {
  const theirs = await fetchDeviceKeys(from, to);
  return {
    ...sealedTo(from, to, text),
    boxes: theirs.map((d) => ({
      device: d.name,
      box: base64url(new TextEncoder().encode(text)),
    })),
  };
}

/** The text of a stand-in box of sealedTo. */
export function unsealedText(m: { box?: string }): string {
  return new TextDecoder().decode(fromBase64url(m.box ?? "")!);
}

/**
 * A tool session of `user` logged in with the real device that a peer made
 * in `home` (its only device file there), and a real sealed offline_send
 * from it to every device of `to`.
 */
export async function deviceTool(
  target: RegistryTarget,
  home: string,
  user: string,
): Promise<{
  client: TestClient;
  seal: (to: string, text: string) => Promise<RequestFields<"offline_send">>;
}> {
  let device: Device | null = null;
  for await (const e of Deno.readDir(`${home}/${DEVICES_DIR}`)) {
    if (!e.name.endsWith(`_${user}.json`)) continue;
    const f = JSON.parse(
      await Deno.readTextFile(`${home}/${DEVICES_DIR}/${e.name}`),
    );
    device = await Device.load(home, f.registry, user);
  }
  assert.ok(device, `no device file of ${user} in ${home}`);
  const client = await TestClient.connect(target);
  client.session = await client.request(
    "login",
    await deviceLoginFields(client.client, device, { user, kind: "tool" }),
  );
  return { client, seal: sealerOf(client, device, user) };
}

/**
 * A tool session of `user` that adds a new device (real keys, in a
 * temporary CHAT_HOME) by password, and real sealed offline_sends from it.
 */
export async function sealingTool(
  target: RegistryTarget,
  user: string,
  password: string,
): Promise<{
  client: TestClient;
  seal: (to: string, text: string) => Promise<RequestFields<"offline_send">>;
}> {
  const home = await Deno.makeTempDir({ prefix: `chat-sealer-${user}-` });
  const device = await Device.create(
    home,
    `${target.host}:${target.port}`,
    user,
    "sealer",
  );
  const client = await TestClient.connect(target);
  client.session = await client.request("login", {
    user,
    password,
    kind: "tool",
    device: device.name,
    device_sign: device.signPublic,
    device_dh: device.dhPublic,
  });
  await device.save("", client.session.device ?? device.name);
  return { client, seal: sealerOf(client, device, user) };
}

function sealerOf(
  client: TestClient,
  d: Device,
  user: string,
): (to: string, text: string) => Promise<RequestFields<"offline_send">> {
  // As a peer does: keys looked up a moment ago serve a burst of messages.
  const keys = new DeviceKeysCache();
  return async (to: string, text: string) => {
    const mid = newMessageId();
    const theirs = await keys.get(client, to);
    return {
      to,
      mid,
      from_device: d.name,
      boxes: await Promise.all(theirs.map(async (t) => ({
        device: t.name,
        box: await sealBox(d, t.dh, {
          kind: "msg",
          from: user,
          fromDevice: d.name,
          to,
          toDevice: t.name,
          mid,
        }, text),
      }))),
    };
  };
}

/** Gives `user` the device TEST_DEVICE, as a first password login does. */
export async function addDevice(
  target: RegistryTarget,
  user: string,
  password: string,
): Promise<void> {
  const c = await loggedIn(target, user, password, {
    kind: "tool",
    device: true,
    beat: false,
  });
  await c.request("logout", {});
  await c.close();
}

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
    opts: LoginOpts = {},
  ): Promise<ReplyData<"login">> {
    const kind = opts.kind ?? "peer";
    const id = kind === "peer" ? await peerIdentity() : null;
    this.session = await this.request("login", {
      user,
      password,
      kind,
      ...(id ? { p2p_port: P2P_PORT, cert: id.cert, key: id.key } : {}),
      ...(opts.replace ? { replace: true } : {}),
      ...(opts.device
        ? {
          device: TEST_DEVICE,
          device_sign: STAND_IN_KEY,
          device_dh: STAND_IN_KEY,
        }
        : {}),
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
  opts: LoginOpts = {},
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
