/**
 * `chat send` and `chat receive` (F17) as real processes against a real
 * registry: exact bytes from stdin to stdout and from file to file (empty,
 * 1 byte, 1 MiB + 1, a 200 MiB seeded stream compared by a streaming
 * SHA-256), injected corruption, cancels and a killed sender midway, and
 * every one-line failure: offline, unknown, rejected, timed out, bad paths.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { showBytes } from "../../../peer/front/progress.ts";
import { assert, assertEquals, assertIncludes } from "../../helpers/assert.ts";
import { runChat, spawnPeer } from "../../helpers/peer_process.ts";
import {
  MAIN,
  type RegistryProcess,
  spawnRegistry,
  until,
} from "../../helpers/registry.ts";

const MiB = 1024 * 1024;
const PASSWORD = "pipes-password";

/** A registry with accounts, and a CHAT_HOME per user. */
async function world(users: string[]) {
  const reg = await spawnRegistry();
  const root = await Deno.makeTempDir({ prefix: "chat-pipes-" });
  const home = (user: string) => join(root, user);
  const env = (user: string, extra: Record<string, string> = {}) => ({
    CHAT_HOME: home(user),
    CHAT_PASSWORD: PASSWORD,
    CHAT_REGISTRY_FINGERPRINT: reg.fingerprint,
    CHAT_REGISTRY: `127.0.0.1:${reg.port}`,
    NO_COLOR: "1",
    ...extra,
  });
  for (const user of users) {
    const r = await runChat(["signup", "--user", user], { env: env(user) });
    assertEquals(r.code, 0, r.stderr);
  }
  return {
    reg,
    root,
    home,
    env,
    async [Symbol.asyncDispose]() {
      await reg.stop("SIGKILL");
      await Deno.remove(root, { recursive: true }).catch(() => {});
    },
  };
}
type World = Awaited<ReturnType<typeof world>>;

/** A running `chat send` or `chat receive`. */
interface ChatChild {
  child: Deno.ChildProcess;
  /** Exit code and everything printed on stderr, once it ends. */
  done: Promise<{ code: number; stderr: string }>;
}

/** Spawns `chat ARGS` with stdin and stdout as the caller wants them. */
function spawnChat(
  args: string[],
  env: Record<string, string>,
  o: { stdin?: "piped" | "null"; stdout?: "piped" | "null" } = {},
): ChatChild {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", MAIN, ...args],
    env,
    stdin: o.stdin ?? "null",
    stdout: o.stdout ?? "null",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // Ended meanwhile.
    }
  }, 120_000);
  const done = child.status.then(async (s) => {
    clearTimeout(timer);
    return { code: s.code, stderr: (await stderr).trim() };
  });
  return { child, done };
}

/** Logins of `user` as a receive session the registry has logged so far. */
function receiveLogins(reg: RegistryProcess, user: string): number {
  return reg.stderr.filter((l) =>
    l.includes(` login user=${user} kind=receive`)
  ).length;
}

/** Starts `chat receive` as `user` and waits until the registry has it. */
async function startReceive(
  w: World,
  user: string,
  args: string[],
  o: { stdout?: "piped" | "null"; env?: Record<string, string> } = {},
): Promise<ChatChild> {
  const before = receiveLogins(w.reg, user);
  const r = spawnChat(
    ["receive", "--user", user, ...args],
    w.env(user, o.env),
    { stdout: o.stdout ?? "null" },
  );
  await Promise.race([
    until(
      () => receiveLogins(w.reg, user) > before,
      `${user}'s chat receive to log in`,
      30_000,
    ),
    r.done.then((d) => {
      throw new Error(`chat receive exited ${d.code} early: ${d.stderr}`);
    }),
  ]);
  return r;
}

/** Makes `a` and `b` friends: a asks, b accepts, each in a peer of its own. */
async function befriend(w: World, a: string, b: string): Promise<void> {
  const reg = { port: w.reg.port, fingerprint: w.reg.fingerprint };
  const as = (user: string) => ({
    user,
    password: PASSWORD,
    signup: false,
    home: w.home(user),
  });
  {
    await using pa = await spawnPeer(reg, as(a));
    assertEquals((await pa.send(`/friend add ${b}`)).ok, true);
  }
  await using pb = await spawnPeer(reg, as(b));
  const r = await pb.send(`/friend accept ${a}`);
  assertEquals(r.ok, true, JSON.stringify(r));
}

/** Seeded bytes, fast: xorshift32 words. The same seed gives the same bytes. */
function seeded(seed: number) {
  let x = seed >>> 0 || 1;
  return (n: number): Uint8Array => {
    const words = new Uint32Array(Math.ceil(n / 4));
    for (let i = 0; i < words.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      words[i] = x >>> 0;
    }
    return new Uint8Array(words.buffer, 0, n);
  };
}

/** Writes `total` seeded bytes into a writable stream; returns their SHA-256. */
async function feed(
  w: WritableStream<Uint8Array>,
  total: number,
  seed: number,
): Promise<string> {
  const next = seeded(seed);
  const hash = createHash("sha256");
  const writer = w.getWriter();
  try {
    for (let left = total; left > 0;) {
      const chunk = next(Math.min(left, 256 * 1024));
      hash.update(chunk);
      await writer.write(chunk);
      left -= chunk.length;
    }
    await writer.close();
  } finally {
    writer.releaseLock();
  }
  return hash.digest("hex");
}

/** Reads a stream to its end; returns the byte count and SHA-256. */
async function drain(
  r: ReadableStream<Uint8Array>,
): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash("sha256");
  let bytes = 0;
  for await (const chunk of r) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  return { bytes, sha256: hash.digest("hex") };
}

/** Writes `total` seeded bytes to a new file; returns its SHA-256. */
async function seededFile(
  path: string,
  total: number,
  seed: number,
): Promise<string> {
  const file = await Deno.open(path, { write: true, createNew: true });
  return await feed(file.writable, total, seed);
}

async function sha256File(path: string): Promise<string> {
  return (await drain((await Deno.open(path)).readable)).sha256;
}

async function listDir(dir: string): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) out.push(e.name);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return out.sort();
}

/** Fails unless `text` is exactly one line starting with "chat: ". */
function assertOneLine(text: string, part: string): void {
  assert(!text.includes("\n"), `expected one line, got:\n${text}`);
  assert(text.startsWith("chat: "), text);
  assertIncludes(text, part);
}

/** Pipes `total` seeded bytes through send and receive; checks both ends. */
async function pipeThrough(
  w: World,
  total: number,
  seed: number,
): Promise<void> {
  const recv = await startReceive(w, "bob", ["--from", "alice", "-o", "-"], {
    stdout: "piped",
  });
  const got = drain(recv.child.stdout);
  const send = spawnChat(
    ["send", "--user", "alice", "bob", "-"],
    w.env("alice"),
    {
      stdin: "piped",
    },
  );
  const sentHash = await feed(send.child.stdin, total, seed);
  const [s, r, out] = await Promise.all([send.done, recv.done, got]);
  assertEquals(s.code, 0, s.stderr);
  assertEquals(r.code, 0, r.stderr);
  assertEquals(out, { bytes: total, sha256: sentHash });
  assertEquals(
    s.stderr,
    `sent stdin to bob: ${
      sizeWords(total)
    }, sha256 ${sentHash} verified by bob (direct)`,
  );
  assertEquals(
    r.stderr,
    `received ${
      sizeWords(total)
    } from alice, sha256 ${sentHash} verified (direct)`,
  );
}

/** How the one-shot summaries give a size: human units beside the exact count. */
function sizeWords(n: number): string {
  return n < 1024 ? `${n} bytes` : `${showBytes(n)} (${n} bytes)`;
}

Deno.test("chat send piped into chat receive -o - delivers the exact bytes", async (t) => {
  await using w = await world(["alice", "bob"]);
  for (
    const [label, total] of [
      ["empty", 0],
      ["1 byte", 1],
      ["1 MiB + 1", MiB + 1],
    ] as const
  ) {
    await t.step(label, () => pipeThrough(w, total, 0x5eed + total));
  }
});

Deno.test("a 200 MiB stream goes through chat send and chat receive unchanged", async () => {
  await using w = await world(["alice", "bob"]);
  await pipeThrough(w, 200 * MiB, 0xc0ffee);
});

Deno.test("files go from a file to a file, a folder or the downloads folder", async (t) => {
  await using w = await world(["alice", "bob"]);
  const src = join(w.root, "report.pdf");
  const hash = await seededFile(src, MiB + 1, 42);
  const send = async (extra: string[] = []) => {
    const s = await runChat(
      ["send", "--user", "alice", "bob", src, ...extra],
      { env: w.env("alice") },
    );
    assertEquals(s.code, 0, s.stderr);
    return s;
  };

  await t.step(
    "-o PATH writes exactly that file and nothing else",
    async () => {
      const dir = join(w.root, "out-file");
      await Deno.mkdir(dir);
      const out = join(dir, "copy.pdf");
      const recv = await startReceive(w, "bob", ["--from", "alice", "-o", out]);
      const s = await send();
      const r = await recv.done;
      assertEquals(r.code, 0, r.stderr);
      assertEquals(await sha256File(out), hash);
      assertEquals(await listDir(dir), ["copy.pdf"]);
      assertEquals(
        s.stderr.trim(),
        `sent report.pdf to bob: 1.0 MiB (1048577 bytes), sha256 ${hash} verified by bob (direct)`,
      );
      assertEquals(
        r.stderr,
        `received 1.0 MiB (1048577 bytes) from alice, sha256 ${hash} verified → ${out} (direct)`,
      );
    },
  );

  await t.step(
    "-o FOLDER keeps the sender's name and never overwrites",
    async () => {
      const dir = join(w.root, "out-dir");
      await Deno.mkdir(dir);
      await Deno.writeTextFile(join(dir, "report.pdf"), "mine");
      const recv = await startReceive(w, "bob", ["--from", "alice", "-o", dir]);
      await send();
      assertEquals((await recv.done).code, 0);
      assertEquals(await listDir(dir), ["report (1).pdf", "report.pdf"]);
      assertEquals(await Deno.readTextFile(join(dir, "report.pdf")), "mine");
      assertEquals(await sha256File(join(dir, "report (1).pdf")), hash);
    },
  );

  await t.step(
    "with no -o the file lands in $CHAT_HOME/downloads",
    async () => {
      const recv = await startReceive(w, "bob", ["--from", "alice"]);
      await send(["--name", "renamed.pdf"]);
      assertEquals((await recv.done).code, 0);
      const downloads = join(w.home("bob"), "downloads");
      assertEquals(await listDir(downloads), ["renamed.pdf"]);
      assertEquals(await sha256File(join(downloads, "renamed.pdf")), hash);
    },
  );

  await t.step(
    "-o of a file that exists is refused without --force, replaced with it",
    async () => {
      const out = join(w.root, "out-file", "copy.pdf");
      await Deno.writeTextFile(out, "keep me");
      const refused = await runChat(
        ["receive", "--user", "bob", "--from", "alice", "-o", out],
        { env: w.env("bob") },
      );
      assertEquals(refused.code, 1, refused.stderr);
      assertOneLine(
        refused.stderr.trim(),
        `chat: ${out} exists — pass --force to replace it, or choose another -o`,
      );
      assertEquals(await Deno.readTextFile(out), "keep me");
      const recv = await startReceive(w, "bob", [
        "--from",
        "alice",
        "-o",
        out,
        "--force",
      ]);
      await send();
      const r = await recv.done;
      assertEquals(r.code, 0, r.stderr);
      assertEquals(await sha256File(out), hash);
    },
  );

  await t.step("an empty file arrives as an empty file", async () => {
    const empty = join(w.root, "empty.txt");
    await Deno.writeFile(empty, new Uint8Array());
    const out = join(w.root, "empty-copy.txt");
    const recv = await startReceive(w, "bob", ["--from", "alice", "-o", out]);
    const s = await runChat(["send", "--user", "alice", "bob", empty], {
      env: w.env("alice"),
    });
    assertEquals(s.code, 0, s.stderr);
    assertEquals((await recv.done).code, 0);
    assertEquals((await Deno.stat(out)).size, 0);
  });

  await t.step(
    "-o /dev/null takes the bytes and leaves /dev/null alone",
    async () => {
      const recv = await startReceive(w, "bob", [
        "--from",
        "alice",
        "-o",
        "/dev/null",
      ]);
      await send();
      const r = await recv.done;
      assertEquals(r.code, 0, r.stderr);
      assert((await Deno.stat("/dev/null")).isCharDevice);
    },
  );
});

Deno.test("a hostile --name lands inside $CHAT_HOME/downloads under a plain name", async () => {
  await using w = await world(["alice", "bob"]);
  const recv = await startReceive(w, "bob", ["--from", "alice"]);
  const s = await runChat(
    ["send", "--user", "alice", "bob", "-", "--name", "../../etc/passwd"],
    { env: w.env("alice"), stdin: new TextEncoder().encode("root:x:0:0\n") },
  );
  assertEquals(s.code, 0, s.stderr);
  assertEquals((await recv.done).code, 0);
  assertEquals(await listDir(join(w.home("bob"))), [
    "contacts",
    "devices",
    "downloads",
    "last_login",
    "peer.log",
  ]);
  assertEquals(await listDir(join(w.home("bob"), "downloads")), ["passwd"]);
  assertEquals(
    await Deno.readTextFile(join(w.home("bob"), "downloads", "passwd")),
    "root:x:0:0\n",
  );
});

Deno.test("an injected corruption makes both sides exit 1 with one line and the receiver keeps nothing", async () => {
  await using w = await world(["alice", "bob"]);
  const src = join(w.root, "data.bin");
  await seededFile(src, 3 * MiB, 9);
  const dir = join(w.root, "in");
  await Deno.mkdir(dir);
  const recv = await startReceive(w, "bob", ["--from", "alice", "-o", dir]);
  const s = await runChat(["send", "--user", "alice", "bob", src], {
    env: w.env("alice", { CHAT_FAULT_CORRUPT_AT: String(2 * MiB + 17) }),
  });
  const r = await recv.done;
  assertEquals(s.code, 1);
  assertOneLine(
    s.stderr.trim(),
    "bob could not verify the file: SHA-256 mismatch",
  );
  assertEquals(r.code, 1);
  assertOneLine(
    r.stderr,
    "SHA-256 mismatch: the data was corrupted in transit",
  );
  assertEquals(await listDir(dir), [], "no file and no part file");
});

/** Starts a sender fed by hand from the test, and a receiver into `-o`. */
async function heldTransfer(w: World, out: string) {
  const recv = await startReceive(w, "bob", ["--from", "alice", "-o", out]);
  const send = spawnChat(
    ["send", "--user", "alice", "bob", "-", "--name", "stream.bin"],
    w.env("alice"),
    { stdin: "piped" },
  );
  const writer = send.child.stdin.getWriter();
  await writer.write(seeded(1)(MiB));
  // Midway: the first mebibyte is in the part file, the rest is not sent yet.
  const dir = out.endsWith(".bin") ? join(out, "..") : out;
  await until(
    async () => {
      for (const name of await listDir(dir)) {
        if (!name.endsWith(".chat-part")) continue;
        const size = await Deno.stat(join(dir, name)).then(
          (s) => s.size,
          () => 0,
        );
        if (size >= MiB) {
          return true;
        }
      }
      return false;
    },
    "the first mebibyte in the part file",
    30_000,
  );
  return { recv, send, writer, dir };
}

Deno.test("cancelling midway from either side makes both exit 1 and leaves no part file", async (t) => {
  await using w = await world(["alice", "bob"]);
  for (const who of ["receiver", "sender"] as const) {
    await t.step(`SIGINT to the ${who}`, async () => {
      const dir = join(w.root, `cancel-${who}`);
      await Deno.mkdir(dir);
      const { recv, send, writer } = await heldTransfer(w, dir);
      (who === "sender" ? send : recv).child.kill("SIGINT");
      const [s, r] = await Promise.all([send.done, recv.done]);
      await writer.close().catch(() => {});
      assertEquals(s.code, 1, s.stderr);
      assertEquals(r.code, 1, r.stderr);
      if (who === "sender") {
        assertOneLine(s.stderr, "cancelled");
        assertOneLine(r.stderr, "cancelled by alice");
      } else {
        assertOneLine(r.stderr, "cancelled");
        assertOneLine(s.stderr, "cancelled by bob");
      }
      assertEquals(await listDir(dir), [], "no part file");
    });
  }
});

Deno.test("a sender killed midway makes the receiver exit 1 and keep nothing", async () => {
  await using w = await world(["alice", "bob"]);
  const dir = join(w.root, "target");
  await Deno.mkdir(dir);
  const out = join(dir, "whole.bin");
  const { recv, send, writer } = await heldTransfer(w, out);
  send.child.kill("SIGKILL");
  const [s, r] = await Promise.all([send.done, recv.done]);
  await writer.close().catch(() => {});
  assertEquals(s.code, 137);
  assertEquals(r.code, 1);
  assertOneLine(r.stderr, "lost the connection to alice");
  assertEquals(await listDir(dir), [], "no file at -o PATH and no part file");
});

Deno.test("a receiver killed midway makes the sender exit 1 with one line", async () => {
  await using w = await world(["alice", "bob"]);
  const dir = join(w.root, "target");
  await Deno.mkdir(dir);
  const { recv, send, writer } = await heldTransfer(w, join(dir, "whole.bin"));
  recv.child.kill("SIGKILL");
  // The sender notices at its next write (or the connection's end).
  const feeding = (async () => {
    const chunk = new Uint8Array(64 * 1024);
    try {
      for (let i = 0; i < 2_000; i++) await writer.write(chunk);
    } catch {
      // The sender exited and its stdin is gone.
    }
  })();
  const [s, r] = await Promise.all([send.done, recv.done]);
  await feeding;
  await writer.close().catch(() => {});
  assertEquals(r.code, 137);
  assertEquals(s.code, 1);
  assertOneLine(s.stderr, "lost the connection to bob");
});

Deno.test("chat receive --from alice turns down offers from anyone else", async () => {
  await using w = await world(["alice", "bob", "carol"]);
  const recv = await startReceive(w, "bob", ["--from", "alice", "-o", "-"], {
    stdout: "piped",
  });
  const got = drain(recv.child.stdout);
  const carol = await runChat(["send", "--user", "carol", "bob", "-"], {
    env: w.env("carol"),
    stdin: new TextEncoder().encode("from carol"),
  });
  assertEquals(carol.code, 1);
  assertOneLine(
    carol.stderr.trim(),
    "bob declined the file: bob is waiting for a file from alice",
  );
  const alice = await runChat(["send", "--user", "alice", "bob", "-"], {
    env: w.env("alice"),
    stdin: new TextEncoder().encode("from alice"),
  });
  assertEquals(alice.code, 0, alice.stderr);
  assertEquals((await recv.done).code, 0);
  const want = createHash("sha256").update("from alice").digest("hex");
  assertEquals(await got, { bytes: 10, sha256: want });
});

Deno.test("one-line failures: timeout, offline, unknown, rejected, bad paths", async (t) => {
  await using w = await world(["alice", "bob"]);
  const alice = (args: string[], o: { stdin?: Uint8Array } = {}) =>
    runChat(["send", "--user", "alice", ...args], {
      env: w.env("alice"),
      ...o,
    });
  const file = join(w.root, "f.txt");
  await Deno.writeTextFile(file, "hello");

  await t.step("chat receive --timeout 1s with no sender exits 1", async () => {
    const r = await runChat(["receive", "--user", "bob", "--timeout", "1s"], {
      env: w.env("bob"),
    });
    assertEquals(r.code, 1);
    assertOneLine(r.stderr.trim(), "no file arrived within 1 s");
  });

  await t.step("chat send to an offline user exits 1", async () => {
    const r = await alice(["bob", file]);
    assertEquals(r.code, 1);
    assertOneLine(r.stderr.trim(), "bob is offline");
  });

  await t.step("chat send to an unknown user exits 1", async () => {
    const r = await alice(["nosuchuser", file]);
    assertEquals(r.code, 1);
    assertOneLine(r.stderr.trim(), "no such user 'nosuchuser'");
  });

  await t.step(
    "chat send of a missing file or a folder exits 1 before logging in",
    async () => {
      const missing = await alice(["bob", join(w.root, "missing.txt")]);
      assertEquals(missing.code, 1);
      assertOneLine(missing.stderr.trim(), "no such file:");
      const folder = await alice(["bob", w.root]);
      assertEquals(folder.code, 1);
      assertOneLine(folder.stderr.trim(), "is not a regular file");
    },
  );

  await t.step(
    "chat receive -o into a missing folder or under a file exits 1",
    async () => {
      const missing = await runChat(
        ["receive", "--user", "bob", "-o", join(w.root, "nope", "x.bin")],
        { env: w.env("bob") },
      );
      assertEquals(missing.code, 1);
      assertOneLine(missing.stderr.trim(), "there is no folder");
      const under = await runChat(
        ["receive", "--user", "bob", "-o", join(file, "x.bin")],
        { env: w.env("bob") },
      );
      assertEquals(under.code, 1);
      assertOneLine(
        under.stderr.trim(),
        `cannot write to ${join(file, "x.bin")}`,
      );
    },
  );

  await t.step("a bad --timeout is a usage error", async () => {
    const r = await runChat(["receive", "--user", "bob", "--timeout", "soon"], {
      env: w.env("bob"),
    });
    assertEquals(r.code, 2);
  });

  await t.step("a rejected offer makes chat send exit 1", async () => {
    await using bob = await spawnPeer(
      { port: w.reg.port, fingerprint: w.reg.fingerprint },
      { user: "bob", password: PASSWORD, signup: false },
    );
    const sending = alice(["bob", file]);
    const offer = await bob.waitFor((l) => l.type === "file_offer", "offer");
    assertEquals(offer.name, "f.txt");
    assertEquals((await bob.send(`/file reject ${offer.id}`)).ok, true);
    const r = await sending;
    assertEquals(r.code, 1);
    assertOneLine(r.stderr.trim(), "bob declined the file");
  });
});

Deno.test("CHAT_MAX_FILE_BYTES bounds what chat receive takes, offered or streamed", async () => {
  await using w = await world(["alice", "bob"]);
  const dir = join(w.root, "in");
  await Deno.mkdir(dir);
  const recv = await startReceive(w, "bob", ["--from", "alice", "-o", dir], {
    env: { CHAT_MAX_FILE_BYTES: "1000" },
  });
  // A file of known size over the limit is refused without asking...
  const big = join(w.root, "big.bin");
  await Deno.writeFile(big, new Uint8Array(1001));
  const refused = await runChat(["send", "--user", "alice", "bob", big], {
    env: w.env("alice"),
  });
  assertEquals(refused.code, 1);
  assertOneLine(
    refused.stderr.trim(),
    "bob declined the file: larger than the receiver's 1000-byte limit",
  );
  // ...and a stream of unknown size is cut off once it passes the limit.
  const streamed = await runChat(["send", "--user", "alice", "bob", "-"], {
    env: w.env("alice"),
    stdin: new Uint8Array(5000),
  });
  const r = await recv.done;
  assertEquals(streamed.code, 1);
  assertOneLine(
    streamed.stderr.trim(),
    "bob stopped the transfer: the file is larger than the 1000-byte limit",
  );
  assertEquals(r.code, 1);
  const lines = r.stderr.split("\n");
  assertEquals(lines.length, 2, r.stderr);
  assertIncludes(lines[0]!, "refused big.bin from alice: 1001 bytes");
  assertOneLine(lines[1]!, "the file is larger than the 1000-byte limit");
  assertEquals(await listDir(dir), [], "no part file");

  const bad = await runChat(["receive", "--user", "bob"], {
    env: w.env("bob", { CHAT_MAX_FILE_BYTES: "10MB" }),
  });
  assertEquals(bad.code, 1);
  assertOneLine(
    bad.stderr.trim(),
    "CHAT_MAX_FILE_BYTES '10MB' is not a number",
  );
});

Deno.test("a user bob has blocked cannot send to bob's chat receive and is only told bob is not available", async () => {
  await using w = await world(["alice", "bob", "carol"]);
  {
    await using bob = await spawnPeer(
      { port: w.reg.port, fingerprint: w.reg.fingerprint },
      { user: "bob", password: PASSWORD, signup: false, home: w.home("bob") },
    );
    assertEquals((await bob.send("/block carol")).ok, true);
  }
  await befriend(w, "alice", "bob");
  const recv = await startReceive(w, "bob", ["-o", "-"], { stdout: "piped" });
  const got = drain(recv.child.stdout);
  const carol = await runChat(["send", "--user", "carol", "bob", "-"], {
    env: w.env("carol"),
    stdin: new TextEncoder().encode("let me in"),
  });
  assertEquals(carol.code, 1);
  assertOneLine(carol.stderr.trim(), "bob is not available");
  assert(!carol.stderr.includes("block"), carol.stderr);
  // bob's receive never saw it and still takes alice's file.
  const alice = await runChat(["send", "--user", "alice", "bob", "-"], {
    env: w.env("alice"),
    stdin: new TextEncoder().encode("hello"),
  });
  assertEquals(alice.code, 0, alice.stderr);
  const r = await recv.done;
  assertEquals(r.code, 0, r.stderr);
  assertEquals((await got).bytes, 5);
});

Deno.test("chat receive without --from takes a friend's file and refuses a stranger's, naming them", async () => {
  await using w = await world(["alice", "bob", "carol"]);
  await befriend(w, "alice", "bob");
  const recv = await startReceive(w, "bob", ["-o", "-"], { stdout: "piped" });
  const got = drain(recv.child.stdout);
  // A stranger who found bob's receive session first gets nothing in.
  const carol = await runChat(["send", "--user", "carol", "bob", "-"], {
    env: w.env("carol"),
    stdin: new TextEncoder().encode("echo pwned >> ~/.bashrc"),
  });
  assertEquals(carol.code, 1);
  assertOneLine(
    carol.stderr.trim(),
    "bob takes files only from friends — ask them to run chat receive --from carol",
  );
  // The friend still gets through, and the summary names them.
  const alice = await runChat(["send", "--user", "alice", "bob", "-"], {
    env: w.env("alice"),
    stdin: new TextEncoder().encode("hello"),
  });
  assertEquals(alice.code, 0, alice.stderr);
  const r = await recv.done;
  assertEquals(r.code, 0, r.stderr);
  assertEquals((await got).bytes, 5);
  const lines = r.stderr.trim().split("\n");
  assertEquals(lines.length, 2, r.stderr);
  assertIncludes(lines[0]!, "from carol: not a friend");
  assertIncludes(lines[0]!, "chat receive --from carol takes it");
  assertIncludes(lines[1]!, "received 5 bytes from alice, sha256 ");
});
