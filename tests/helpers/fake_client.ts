/**
 * A tiny peer for tests that need to kill one: logs in as a peer session
 * (the product's RegistrySession, without reconnection), heartbeats at the
 * registry's interval, and prints one JSON line per thing that happens
 * (`ready`, then every pushed event, then `closed`) on stdout.
 * It never exits on its own while connected, so a test can `kill -9` it or
 * stop it with SIGSTOP.
 *
 * Usage: deno run -A tests/helpers/fake_client.ts '{"port":N,"fingerprint":"HEX",
 *   "home":"DIR","user":"NAME","password":"PW"}'
 */
import { silentLogger } from "../../common/log.ts";
import { RegistrySession } from "../../peer/net/mod.ts";
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
  const id = await peerIdentity();
  // The product's own session, heartbeat included, minus reconnection: a
  // test that kills or freezes this process wants it gone, not back.
  await using session = await RegistrySession.open({
    target: {
      host: args.host ?? "127.0.0.1",
      port: args.port,
      home: args.home,
      pin: args.fingerprint,
    },
    credentials: { user: args.user, password: args.password },
    kind: "peer",
    p2pPort: 40_000,
    cert: id.cert,
    key: id.key,
    reconnect: false,
    logger: silentLogger,
    onEvent: (ev) => say(ev),
    onStatus: (st) => {
      if (st.kind === "timeout") say({ type: "timeout", reason: st.reason });
      if (st.kind === "ended") {
        say({ type: "session_ended", reason: st.reason });
      }
    },
  });
  say({ type: "ready", user: session.user });
  await session.done;
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
