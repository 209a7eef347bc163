/**
 * The network lab has the properties reachability tests rely on: NAT hides
 * homes, replies come back, nothing unsolicited gets in, no hairpin, and a
 * `--random-fully` router remaps ports. Probes are real Deno processes with
 * plain sockets inside the namespaces.
 */
import assert from "node:assert/strict";
import { type LabHost, NetLab, NETLAB_FAMILY, NetLabError } from "./netns.ts";

const PROBE = new URL("./netns_probe.ts", import.meta.url).pathname;
/** How long a probe waits before calling a connection attempt a failure. */
const FAIL_MS = 1_000;

const lab = await NetLab.available();
if (!lab.ok) {
  console.log(`network lab tests skipped: ${lab.reason}`);
}

interface ProbeResult {
  ok: boolean;
  local?: string;
  seen?: string;
  error?: string;
}

/** A probe server in the lab, with the port it listens on. */
interface Server {
  port: number;
  /** Resolves once the server's output has ended (after the lab killed it). */
  drained: Promise<void>;
}

async function serve(
  net: NetLab,
  host: string,
  proto: "tcp" | "udp",
): Promise<Server> {
  const child = net.spawn(host, Deno.execPath(), [
    "run",
    "-A",
    PROBE,
    `${proto}-serve`,
    "0",
  ], { stderr: "null" });
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await lines.read();
    if (done) throw new Error(`${proto} server on ${host} ended before ready`);
    text += value;
  }
  const drained = (async () => {
    while (!(await lines.read()).done) {
      // The server prints nothing after ready; read to the end regardless.
    }
  })();
  return { port: JSON.parse(text.split("\n")[0]!).ready, drained };
}

async function dial(
  net: NetLab,
  from: string,
  proto: "tcp" | "udp",
  to: string | LabHost,
  port: number,
  count = 1,
): Promise<ProbeResult[]> {
  const addr = typeof to === "string" ? to : to.addr;
  const args = ["run", "-A", PROBE, `${proto}-dial`, addr, String(port)];
  args.push(String(FAIL_MS));
  if (proto === "tcp") args.push(String(count));
  const out = await net.run(from, Deno.execPath(), args);
  assert.equal(out.code, 0, `probe from ${from} failed: ${out.stderr}`);
  return out.stdout.trim().split("\n").map((l) => JSON.parse(l));
}

function hostOf(addr: string | undefined): string {
  return (addr ?? "").split(":")[0]!;
}

function portOf(addr: string | undefined): number {
  return Number((addr ?? "").split(":")[1]);
}

async function namespaces(): Promise<string[]> {
  const out = await new Deno.Command("ip", {
    args: ["netns", "list"],
    stdout: "piped",
  }).output();
  return new TextDecoder().decode(out.stdout).split("\n").map((l) =>
    l.split(" ")[0]!
  ).filter((n) => n !== "");
}

Deno.test({
  name: "network lab",
  ignore: !lab.ok,
  async fn(t) {
    const net = await NetLab.create({
      homes: [
        { name: "home1", hosts: ["alice", "carol"], randomFully: true },
        { name: "home2", hosts: ["bob"] },
      ],
      publicHosts: ["registry", "dave"],
    });
    const servers: Server[] = [];
    try {
      const alice = net.host("alice");
      const home1 = net.host("home1");
      const home2 = net.host("home2");
      const registry = net.host("registry");

      await t.step("names hosts, routers and addresses as planned", () => {
        assert.equal(alice.kind, "lan");
        assert.equal(alice.addr, "10.1.0.2");
        assert.equal(alice.publicAddr, home1.addr);
        assert.equal(home1.kind, "router");
        assert.equal(home1.lanAddr, "10.1.0.1");
        assert.match(home1.addr, /^198\.51\.100\./);
        assert.match(registry.addr, /^203\.0\.113\./);
        assert.equal(registry.publicAddr, registry.addr);
        for (const ns of net.namespaces) assert.ok(ns.startsWith(net.prefix));
        assert.throws(() => net.host("nobody"), NetLabError);
      });

      const regTcp = await serve(net, "registry", "tcp");
      const regUdp = await serve(net, "registry", "udp");
      const aliceTcp = await serve(net, "alice", "tcp");
      const bobTcp = await serve(net, "bob", "tcp");
      const aliceUdp = await serve(net, "alice", "udp");
      servers.push(regTcp, regUdp, aliceTcp, bobTcp, aliceUdp);

      await t.step(
        "home to public works and shows the router's address",
        async () => {
          const [viaHome1, viaHome2, viaPublic] = await Promise.all([
            dial(net, "alice", "tcp", registry, regTcp.port),
            dial(net, "bob", "tcp", registry, regTcp.port),
            dial(net, "dave", "tcp", registry, regTcp.port),
          ]);
          assert.equal(viaHome1[0]!.ok, true, JSON.stringify(viaHome1));
          assert.equal(hostOf(viaHome1[0]!.local), alice.addr);
          assert.equal(hostOf(viaHome1[0]!.seen), home1.addr);
          assert.equal(hostOf(viaHome2[0]!.seen), home2.addr);
          assert.equal(hostOf(viaPublic[0]!.seen), net.host("dave").addr);
        },
      );

      await t.step("UDP replies come back through the router", async () => {
        const [r] = await dial(net, "alice", "udp", registry, regUdp.port);
        assert.equal(r!.ok, true, JSON.stringify(r));
        assert.equal(hostOf(r!.seen), home1.addr);
      });

      await t.step(
        "a plain router keeps source ports, --random-fully remaps them",
        async () => {
          const [plain, random] = await Promise.all([
            dial(net, "bob", "tcp", registry, regTcp.port, 8),
            dial(net, "alice", "tcp", registry, regTcp.port, 8),
          ]);
          for (const r of [...plain, ...random]) {
            assert.equal(r.ok, true, JSON.stringify(r));
          }
          const same = (rs: ProbeResult[]) =>
            rs.filter((r) => portOf(r.local) === portOf(r.seen)).length;
          assert.equal(same(plain), 8, JSON.stringify(plain));
          // A random port equals the original with odds of about 1 in 28,000.
          assert.ok(same(random) <= 1, JSON.stringify(random));
        },
      );

      await t.step("nothing from outside gets into a home", async () => {
        const results = await Promise.all([
          // A public host to the router's address and to the LAN address.
          dial(net, "registry", "tcp", home1, aliceTcp.port),
          dial(net, "registry", "tcp", alice, aliceTcp.port),
          dial(net, "registry", "udp", home1, aliceUdp.port),
          // One home to the other's router.
          dial(net, "alice", "tcp", home2, bobTcp.port),
          dial(net, "bob", "tcp", home1, aliceTcp.port),
        ]);
        // Routers drop silently, as home routers do.
        for (const [r] of results) {
          assert.deepEqual(r, { ok: false, error: "timeout" });
        }
        // The same servers answer from inside their homes, so the failures
        // above are the routers' doing.
        const [bobLocal, aliceUdpLocal] = await Promise.all([
          dial(net, "home2", "tcp", net.host("bob"), bobTcp.port),
          dial(net, "home1", "udp", alice, aliceUdp.port),
        ]);
        assert.equal(bobLocal[0]!.ok, true, JSON.stringify(bobLocal));
        assert.equal(aliceUdpLocal[0]!.ok, true, JSON.stringify(aliceUdpLocal));
      });

      await t.step(
        "LAN neighbours reach each other, not through the router",
        async () => {
          const [direct, hairpin] = await Promise.all([
            dial(net, "carol", "tcp", alice, aliceTcp.port),
            dial(net, "carol", "tcp", home1, aliceTcp.port),
          ]);
          assert.equal(direct[0]!.ok, true, JSON.stringify(direct));
          assert.equal(hostOf(direct[0]!.seen), net.host("carol").addr);
          // The router itself answers its own address and has nothing there.
          assert.deepEqual(hairpin, [{ ok: false, error: "refused" }]);
        },
      );
    } finally {
      await net.close();
      await Promise.all(servers.map((s) => s.drained));
    }
    const left = (await namespaces()).filter((n) => n.startsWith(net.prefix));
    assert.deepEqual(left, [], "close left namespaces behind");
    assert.throws(() => net.spawn("alice", "true"), NetLabError);
  },
});

Deno.test({
  name: "network lab cleanup",
  ignore: !lab.ok,
  async fn(t) {
    await t.step(
      "a failing test body still removes every namespace",
      async () => {
        let prefix = "";
        await assert.rejects(async () => {
          await using net = await NetLab.create({
            homes: [{ name: "home", hosts: ["a"] }],
            publicHosts: ["pub"],
          });
          prefix = net.prefix;
          const sleeper = net.spawn("a", "sleep", ["60"]);
          sleeper.status.catch(() => {}); // Killed by the lab's close.
          throw new Error("the test failed");
        }, /the test failed/);
        assert.notEqual(prefix, "");
        const left = (await namespaces()).filter((n) => n.startsWith(prefix));
        assert.deepEqual(left, []);
      },
    );

    await t.step(
      "namespaces of a dead process are removed as stale",
      async () => {
        const pidMax = Number(
          (await Deno.readTextFile("/proc/sys/kernel/pid_max")).trim(),
        );
        // A pid above pid_max never belongs to a live process.
        const stale = `${NETLAB_FAMILY}${pidMax + 1}-dead00-x`;
        const add = await new Deno.Command("ip", {
          args: ["netns", "add", stale],
        }).output();
        assert.ok(add.success);
        const removed = await NetLab.removeStale();
        // A concurrent lab in another process may have removed it first.
        assert.ok(removed.every((n) => n.startsWith(NETLAB_FAMILY)));
        assert.ok(!(await namespaces()).includes(stale));
      },
    );

    await t.step("refuses bad host names before making anything", async () => {
      await assert.rejects(
        () => NetLab.create({ publicHosts: ["Not-A-Name"] }),
        (err: unknown) => err instanceof NetLabError && err.code === "spec",
      );
      await assert.rejects(
        () =>
          NetLab.create({
            publicHosts: ["x"],
            homes: [{ name: "x", hosts: [] }],
          }),
        (err: unknown) => err instanceof NetLabError && err.code === "spec",
      );
    });
  },
});

Deno.test("without root, the lab is unavailable and says why, so lab tests skip with that reason", async () => {
  const want = {
    ok: false,
    reason: "network namespaces need root (run the tests as root)",
  };
  if (Deno.build.os === "linux" && Deno.uid() === 0) {
    // As root, ask the same question as an unprivileged user (nobody).
    const home = await Deno.makeTempDir({ prefix: "chat-nobody-" });
    try {
      await Deno.chmod(home, 0o777);
      const src = new URL("./netns.ts", import.meta.url).href;
      const out = await new Deno.Command("setpriv", {
        args: [
          "--reuid=65534",
          "--regid=65534",
          "--clear-groups",
          Deno.execPath(),
          "eval",
          "--no-config",
          `const { NetLab } = await import(${JSON.stringify(src)});` +
          "console.log(JSON.stringify(await NetLab.available()));",
        ],
        env: { HOME: home, DENO_DIR: `${home}/deno`, NO_COLOR: "1" },
        clearEnv: true,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const err = new TextDecoder().decode(out.stderr);
      assert.ok(out.success, err);
      assert.deepEqual(
        JSON.parse(new TextDecoder().decode(out.stdout)),
        want,
        err,
      );
    } finally {
      await Deno.remove(home, { recursive: true });
    }
  } else if (Deno.build.os === "linux") {
    assert.deepEqual(await NetLab.available(), want);
  } else {
    const r = await NetLab.available();
    assert.ok(!r.ok && r.reason.startsWith("network namespaces need Linux"));
  }
});
