/**
 * A tiny peer for tests that need to kill one: logs in as a peer session,
 * heartbeats at the registry's interval, and prints one JSON line per thing
 * that happens (`ready`, then every pushed event, then `closed`) on stdout.
 * It never exits on its own while connected, so a test can `kill -9` it or
 * stop it with SIGSTOP.
 *
 * Usage: deno run -A tests/helpers/fake_client.ts '{"port":N,"fingerprint":"HEX",
 *   "home":"DIR","user":"NAME","password":"PW"}'
 */
import { HeartbeatSender } from "../../peer/net/heartbeat.ts";
import { RegistryClient } from "../../peer/net/registry_client.ts";
import { peerIdentity } from "./identity.ts";

/** What the fake client is told on its command line. */
export interface FakeClientArgs {
  host?: string;
  port: number;
  fingerprint: string;
  home: string;
  user: string;
  password: string;
}

/** Path of this script, for Deno.Command. */
export const FAKE_CLIENT = new URL(import.meta.url).pathname;

function say(obj: object): void {
  console.log(JSON.stringify(obj));
}

async function run(args: FakeClientArgs): Promise<void> {
  const host = args.host ?? "127.0.0.1";
  const client = await RegistryClient.connect({
    host,
    port: args.port,
    home: args.home,
    pin: args.fingerprint,
  });
  client.onEvent((ev) => say(ev));
  const id = await peerIdentity();
  const session = await client.request("login", {
    user: args.user,
    password: args.password,
    kind: "peer",
    p2p_port: 40_000,
    cert: id.cert,
    key: id.key,
  });
  const beat = new HeartbeatSender(
    host,
    client.hello.udp_port,
    session.session,
    session.token,
    client.hello.heartbeat_interval_ms,
  );
  say({ type: "ready", user: session.user, session: session.session });
  await client.closed;
  beat.stop();
  say({ type: "closed" });
}

if (import.meta.main) {
  try {
    await run(JSON.parse(Deno.args[0] ?? "{}"));
  } catch (err) {
    say({ type: "failed", message: String(err) });
    Deno.exit(1);
  }
}
