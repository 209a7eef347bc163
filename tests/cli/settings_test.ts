/**
 * Typed settings (cli/settings.ts): every flag and environment variable a
 * subcommand reads becomes one typed value, and a bad one is a
 * SettingsError naming it, with the exit code it ends the command with.
 */
import {
  type CommandContext,
  faults,
  maxFileBytes,
  parseArgs,
  parseRate,
  peerEnvironment,
  peerSettings,
  receiveSettings,
  registrySettings,
  sendSettings,
  SettingsError,
} from "../../cli/mod.ts";
import type { Env } from "../../common/paths.ts";
import { DEFAULT_REGISTRY_LIMITS } from "../../registry/limits.ts";
import { DEFAULT_RELAY_PER_USER } from "../../registry/mod.ts";

import { assert, assertEquals, assertIncludes } from "../helpers/assert.ts";

const envOf = (vars: Record<string, string>): Env => (name) => vars[name];

/** The context main.ts would hand the subcommand for `argv`. */
function context(
  argv: string[],
  vars: Record<string, string> = {},
): CommandContext {
  const env = envOf({ CHAT_HOME: "/tmp/chat-home", ...vars });
  const parsed = parseArgs(argv, env);
  assert(parsed.kind === "run", JSON.stringify(parsed));
  return {
    flags: parsed.flags,
    positionals: parsed.positionals,
    signal: new AbortController().signal,
    version: "test",
    env,
  };
}

function refusal(fn: () => unknown): SettingsError {
  try {
    fn();
  } catch (err) {
    if (err instanceof SettingsError) return err;
    throw err;
  }
  throw new Error("no SettingsError");
}

Deno.test("chat peer's settings come typed from flags, defaults and environment", () => {
  const s = peerSettings(context(
    ["peer", "--user", "Alice", "--signup", "--port", "4000", "--json"],
    {
      CHAT_PASSWORD: "pw",
      CHAT_MAX_FILE_BYTES: "1000",
      CHAT_FAULT_CORRUPT_AT: "17",
      CHAT_REGISTRY: "chat.example.org:15600",
    },
  ));
  assertEquals(s, {
    registry: {
      host: "chat.example.org",
      port: 15600,
      addresses: [{ host: "chat.example.org", port: 15600 }],
      given: true,
    },
    user: "alice",
    env: {
      home: "/tmp/chat-home",
      password: "pw",
      logLevel: "info",
      noColor: false,
    },
    port: 4000,
    signup: true,
    replace: false,
    json: true,
    maxFileBytes: 1000,
    faults: { corruptAt: 17 },
  });
});

Deno.test("a registry neither --registry nor CHAT_REGISTRY names is the default, marked as not given", () => {
  const s = peerSettings(context(["peer"]));
  assertEquals(s.registry, {
    host: "127.0.0.1",
    port: 15600,
    addresses: [{ host: "127.0.0.1", port: 15600 }],
    given: false,
  });
  const flag = peerSettings(context(["peer", "--registry", "10.0.0.5:15600"]));
  assertEquals(flag.registry.given, true);
});

Deno.test("a bad environment variable is a SettingsError with exit code 1 naming it", () => {
  const level = refusal(() =>
    peerEnvironment(envOf({ CHAT_LOG_LEVEL: "loud" }))
  );
  assertEquals(level.exitCode, 1);
  assertIncludes(level.message, "CHAT_LOG_LEVEL 'loud' is not a log level");
  const max = refusal(() =>
    maxFileBytes(envOf({ CHAT_MAX_FILE_BYTES: "lots" }))
  );
  assertEquals(max.exitCode, 1);
  assertIncludes(
    max.message,
    "CHAT_MAX_FILE_BYTES 'lots' is not a number of bytes",
  );
  assertEquals(maxFileBytes(envOf({ CHAT_MAX_FILE_BYTES: "" })), 0);
});

Deno.test("NO_COLOR counts when set to anything but the empty string", () => {
  assertEquals(peerEnvironment(envOf({ NO_COLOR: "1" })).noColor, true);
  assertEquals(peerEnvironment(envOf({ NO_COLOR: "" })).noColor, false);
  assertEquals(peerEnvironment(envOf({})).noColor, false);
});

Deno.test("fault injection is read only from whole numbers, and absent otherwise", () => {
  assertEquals(faults(envOf({ CHAT_FAULT_CORRUPT_AT: "70000" })), {
    corruptAt: 70000,
  });
  assertEquals(faults(envOf({ CHAT_FAULT_CORRUPT_AT: "x" })), {});
  assertEquals(faults(envOf({})), {});
});

Deno.test("chat send and chat receive read their positionals and flags", () => {
  const file = sendSettings(context(["send", "Bob", "dir/report.pdf"]));
  assertEquals([file.to, file.path, file.name], [
    "bob",
    "dir/report.pdf",
    "report.pdf",
  ]);
  const stdin = sendSettings(context(["send", "bob", "-", "--name", "db.sql"]));
  assertEquals([stdin.path, stdin.name], [null, "db.sql"]);
  assertEquals(sendSettings(context(["send", "bob"])).name, "stdin");
  const r = receiveSettings(
    context(["receive", "--from", "alice", "-o", "-", "--timeout", "2s"]),
  );
  assertEquals([r.from, r.output, r.timeoutMs], ["alice", "-", 2000]);
});

Deno.test("chat registry's settings: defaults, and exit code 2 with the usage for values no peer could use", () => {
  const s = registrySettings(context(["registry"]));
  assertEquals(s.dbPath, "/tmp/chat-home/registry.db");
  assertEquals([s.host, s.port, s.udpPort], ["0.0.0.0", 15600, 15500]);
  assertEquals([s.heartbeatIntervalMs, s.heartbeatTtlMs], [1000, 3000]);
  assertEquals(s.tls, undefined);
  const half = refusal(() =>
    registrySettings(context(["registry", "--tls-cert", "c.pem"]))
  );
  assertEquals(half.exitCode, 2);
  assertEquals(half.message, "--tls-cert and --tls-key go together");
  assertEquals(half.usage, "chat registry --tls-cert FILE --tls-key FILE");
  const long = refusal(() =>
    registrySettings(context(["registry", "--heartbeat-ttl", "2h"]))
  );
  assertEquals([long.exitCode, long.message], [
    2,
    "--heartbeat-ttl must be between 1ms and 1h",
  ]);
});

Deno.test("--registry and CHAT_REGISTRY take the instances of a cluster, separated by commas", () => {
  const s = peerSettings(context(
    ["peer", "--registry", "h1.example.org:15600, [::1]:15601,10.0.0.3:15602"],
  ));
  assertEquals(s.registry.addresses, [
    { host: "h1.example.org", port: 15600 },
    { host: "::1", port: 15601 },
    { host: "10.0.0.3", port: 15602 },
  ]);
  assertEquals([s.registry.host, s.registry.port], ["h1.example.org", 15600]);
  const env = peerSettings(context(["peer"], { CHAT_REGISTRY: "a:1,b:2" }));
  assertEquals(env.registry.addresses, [
    { host: "a", port: 1 },
    { host: "b", port: 2 },
  ]);
});

Deno.test("chat registry keeps its identity in --state-dir: the database's folder, or CHAT_HOME for a URL", () => {
  assertEquals(
    registrySettings(context(["registry", "--db", "/srv/chat/r.db"])).stateDir,
    "/srv/chat",
  );
  assertEquals(
    registrySettings(context(["registry", "--db", "postgres://u@h/db"]))
      .stateDir,
    "/tmp/chat-home",
  );
  assertEquals(
    registrySettings(
      context(["registry", "--db", "postgres://u@h/db", "--state-dir", "/k"]),
    ).stateDir,
    "/k",
  );
  const s = registrySettings(context(["registry", "--advertise", "10.1.2.3"]));
  assertEquals(s.advertise, "10.1.2.3");
  const bad = refusal(() =>
    registrySettings(context(["registry", "--advertise", "a b"]))
  );
  assertEquals([bad.exitCode, bad.message], [
    2,
    "--advertise 'a b' is not a host name or IP address",
  ]);
});

Deno.test("chat registry's limit flags default to the registry's own defaults", () => {
  const { limits } = registrySettings(context(["registry"]));
  const defaults = Object.fromEntries(
    Object.keys(limits).map((k) => [
      k,
      DEFAULT_REGISTRY_LIMITS[k as keyof typeof DEFAULT_REGISTRY_LIMITS],
    ]),
  );
  assertEquals(limits, defaults);
});

Deno.test("chat registry's limit flags become the registry's limits", async (t) => {
  await t.step("every flag sets its limit", () => {
    const { limits } = registrySettings(context([
      "registry",
      "--trusted-address",
      "10.0.0.0/8, fd00::/8,192.0.2.7",
      "--login-failures=3",
      "--signups-per-hour",
      "5",
      "--max-connections-per-address",
      "16",
      "--max-offline",
      "50",
      "--max-offline-per-sender",
      "10",
      "--room-backlog",
      "12",
      "--max-rooms-owned",
      "2",
      "--max-invites-sent",
      "7",
      "--max-invites-received",
      "8",
      "--max-friend-requests-sent",
      "9",
      "--max-friend-requests-received",
      "11",
    ]));
    assertEquals(limits, {
      trustedAddresses: ["10.0.0.0/8", "fd00::/8", "192.0.2.7"],
      loginFailuresPerPair: 3,
      signupsPerHour: 5,
      maxConnectionsPerAddress: 16,
      maxOfflinePerRecipient: 50,
      maxOfflinePerPair: 10,
      roomBacklog: 12,
      maxRoomsOwned: 2,
      maxInvitesPerSender: 7,
      maxInvitesPerRecipient: 8,
      maxFriendRequestsPerSender: 9,
      maxFriendRequestsPerRecipient: 11,
    });
  });

  await t.step("--trusted-address none trusts no address", () => {
    const s = registrySettings(
      context(["registry", "--trusted-address", "none"]),
    );
    assertEquals(s.limits.trustedAddresses, []);
  });

  await t.step("a prefix that is not one is refused, naming it", () => {
    for (const bad of ["10.0.0.0/33", "example.org", "::1/129", "1.2.3/8"]) {
      const err = refusal(() =>
        registrySettings(context(["registry", "--trusted-address", bad]))
      );
      assertEquals(err.exitCode, 2);
      assertEquals(
        err.message,
        `--trusted-address '${bad}' is not an IP address or prefix (like 10.0.0.0/8 or fd00::/8)`,
      );
    }
    const empty = refusal(() =>
      registrySettings(context(["registry", "--trusted-address", ","]))
    );
    assertIncludes(empty.message, "--trusted-address is empty");
  });

  await t.step("a count must be a whole number from 1", () => {
    for (const bad of ["0", "-3", "1.5", "lots", "1000000000"]) {
      const parsed = parseArgs(
        ["registry", "--max-offline", bad],
        envOf({}),
      );
      assertEquals(parsed.kind, "usage", bad);
      if (parsed.kind === "usage") {
        assertEquals(
          parsed.error,
          `--max-offline '${bad}' is not a whole number from 1 to 999999999`,
        );
      }
    }
  });
});

Deno.test("chat registry's relay flags: on by default beside --port, off, caps and rates", async (t) => {
  await t.step(
    "defaults: on, the port after --port, 8 links a user, no caps",
    () => {
      assertEquals(registrySettings(context(["registry"])).relay, {
        port: 15601,
        perUser: 8,
        linkRate: null,
        totalRate: null,
      });
      assertEquals(
        registrySettings(context(["registry", "--port", "0"])).relay?.port,
        0,
      );
      assertEquals(
        registrySettings(context(["registry", "--port", "2000"])).relay?.port,
        2001,
      );
      assertEquals(DEFAULT_RELAY_PER_USER, 8);
    },
  );
  await t.step("each flag sets its value", () => {
    assertEquals(
      registrySettings(context([
        "registry",
        "--relay-port",
        "7000",
        "--relay-per-user",
        "2",
        "--relay-rate",
        "1.5M",
        "--relay-total",
        "10MiB/s",
      ])).relay,
      {
        port: 7000,
        perUser: 2,
        linkRate: 1.5 * 1024 * 1024,
        totalRate: 10 * 1024 * 1024,
      },
    );
    assertEquals(
      registrySettings(context(["registry", "--relay", "off"])).relay,
      null,
    );
  });
  await t.step("bad values are usage errors naming the flag", () => {
    for (
      const [argv, text] of [
        [["--relay", "maybe"], "--relay 'maybe' is not on or off"],
        [["--relay-rate", "fast"], "--relay-rate 'fast' is not a rate"],
        [["--relay-per-user", "0"], "--relay-per-user '0' is not a whole"],
      ] as const
    ) {
      const parsed = parseArgs(["registry", ...argv], envOf({}));
      assert(parsed.kind === "usage", JSON.stringify(parsed));
      assertIncludes(parsed.error, text);
    }
  });
  await t.step("rates read k, M, G as binary multiples", () => {
    assertEquals(parseRate("0"), 0);
    assertEquals(parseRate("500k"), 500 * 1024);
    assertEquals(parseRate("2g"), 2 * 1024 ** 3);
    assertEquals(parseRate("100B/s"), 100);
    assertEquals(parseRate("-1"), null);
    assertEquals(parseRate("1T"), null);
  });
});
