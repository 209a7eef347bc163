/**
 * What the room tests share: a crowd of `chat peer --json` processes with
 * their homes under one folder, commands that must succeed or fail, waits
 * for room messages and deliveries, and a Peer core in this process for
 * what a command line cannot forge.
 */
import { join } from "node:path";
import { assert } from "../../helpers/assert.ts";
import { Logger } from "../../../common/log.ts";
import { Peer, type PeerEvent } from "../../../peer/mod.ts";
import type { RegistryTarget } from "../../../peer/net/mod.ts";
import {
  type JsonLine,
  type JsonPeer,
  type RegistryRef,
  spawnPeer,
  type SpawnPeerOptions,
} from "../../helpers/peer_process.ts";

/** Peers of one test, each with a CHAT_HOME under one folder removed at the end. */
export interface Crowd extends AsyncDisposable {
  /** Starts (or restarts, with the same home) the peer `user`. */
  spawn(user: string, opts?: Omit<SpawnPeerOptions, "user">): Promise<JsonPeer>;
  /** Starts several peers at once. */
  spawnAll(users: string[]): Promise<JsonPeer[]>;
}

export async function crowd(reg: RegistryRef): Promise<Crowd> {
  const root = await Deno.makeTempDir({ prefix: "chat-rooms-" });
  const running: JsonPeer[] = [];
  const spawn = async (
    user: string,
    opts: Omit<SpawnPeerOptions, "user"> = {},
  ) => {
    const home = join(root, user);
    await Deno.mkdir(home, { recursive: true });
    const p = await spawnPeer(reg, { user, home, ...opts });
    running.push(p);
    return p;
  };
  return {
    spawn,
    spawnAll: (users) => Promise.all(users.map((u) => spawn(u))),
    async [Symbol.asyncDispose]() {
      await Promise.all(running.map((p) => p.quit()));
      await Deno.remove(root, { recursive: true });
    },
  };
}

/** Sends a command and fails the test unless it succeeded. */
export async function ok(peer: JsonPeer, line: string): Promise<JsonLine> {
  const reply = await peer.send(line);
  assert(
    reply.ok === true,
    `${peer.user}: ${line} failed: ${JSON.stringify(reply)}`,
  );
  return reply;
}

/** Sends a command and returns its error, failing the test if it succeeded. */
export async function refused(peer: JsonPeer, line: string): Promise<string> {
  const reply = await peer.send(line);
  assert(
    reply.ok === false,
    `${peer.user}: ${line} should fail: ${JSON.stringify(reply)}`,
  );
  return String(reply.error);
}

/** Waits until `peer` has the room message `text` from `from`. */
export function roomMessage(
  peer: JsonPeer,
  room: string,
  from: string,
  text: string,
): Promise<JsonLine> {
  return peer.waitFor(
    (l) =>
      l.type === "message" && l.room === room && l.from === from &&
      l.text === text,
    `room message '${text}' from ${from} in ${room}`,
  );
}

/** Waits until `sender` has a delivered event from each of `to` for message `id`. */
export async function deliveredTo(
  sender: JsonPeer,
  room: string,
  id: unknown,
  to: string[],
): Promise<void> {
  for (const user of to) {
    await sender.waitFor(
      (l) =>
        l.type === "delivered" && l.to === user && l.id === id &&
        l.room === room,
      `delivered ${id} to ${user}`,
    );
  }
}

/** A Peer core in this process, collecting its events (for forging what a CLI cannot). */
export async function corePeer(
  target: RegistryTarget,
  user: string,
): Promise<{ peer: Peer; events: PeerEvent[] } & AsyncDisposable> {
  const events: PeerEvent[] = [];
  const peer = await Peer.start({
    target,
    credentials: { user, password: `${user}-password` },
    home: target.home,
    port: 0,
    listenHost: "127.0.0.1",
    signup: true,
    logger: new Logger("error", () => {}),
  }, (ev) => events.push(ev));
  return { peer, events, [Symbol.asyncDispose]: () => peer.stop() };
}
