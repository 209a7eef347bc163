/**
 * A small internet made of Linux network namespaces, for tests of
 * reachability through NAT.
 *
 * Layout:
 *
 * ```
 *                 internet (namespace with bridge br0, no address)
 *        ┌───────────────┼──────────────────────┐
 *   public hosts     router home1 (wan)     router home2 (wan)
 *   203.0.113.10+    198.51.100.10          198.51.100.11
 *                    lan bridge 10.1.0.1    lan bridge 10.2.0.1
 *                    ├ alice 10.1.0.2       └ bob 10.2.0.2
 *                    └ carol 10.1.0.3
 * ```
 *
 * Every host and router is its own namespace; every link is a veth pair
 * created directly inside namespaces, so deleting the namespaces removes
 * every interface and nothing is left in the machine's own namespace.
 * Public hosts and routers' WAN sides share one switched segment and route
 * everything on-link (no router between the two documentation ranges, so
 * only home routers forward). A home router masquerades LAN traffic behind
 * its WAN address (optionally with `--random-fully`), forwards only LAN→WAN
 * and established replies, drops new connections from the WAN to itself, and
 * has no port forwarding and no hairpin: a LAN host that connects to its own
 * router's WAN address reaches the router itself, which refuses.
 *
 * Namespaces are named `chatlab-<pid>-<tag>-<node>`. Creating a lab first
 * removes namespaces of that family whose owning process is gone, so a
 * killed run leaves nothing behind for long. IPv6 is off in the lab so every
 * address a process sees is one the test chose.
 *
 * ```ts
 * await using lab = await NetLab.create({
 *   homes: [{ name: "home1", hosts: ["alice"], randomFully: true }],
 *   publicHosts: ["registry"],
 * });
 * const reg = lab.spawn("registry", Deno.execPath(), ["run", "-A", MAIN, "registry"]);
 * const out = await lab.run("alice", Deno.execPath(), ["eval", "..."]);
 * ```
 */

/** Start of every lab namespace name. */
export const NETLAB_FAMILY = "chatlab-";

/** A home network behind one NAT router. */
export interface HomeSpec {
  /** The router's name (also the home's name). */
  name: string;
  /** Hosts on the home's LAN, in address order (.2, .3, …). */
  hosts: string[];
  /** Masquerade with `--random-fully`: source ports are remapped at random. */
  randomFully?: boolean;
  /** The LAN's first three octets, e.g. "10.1.0" (default 10.<index+1>.0). Homes may overlap. */
  lan?: string;
}

/** What a lab is made of. */
export interface NetLabSpec {
  /** Home networks, each behind its own router. */
  homes?: HomeSpec[];
  /** Hosts with public addresses (203.0.113.10, .11, …). */
  publicHosts?: string[];
}

/** Where a node of the lab sits. */
export type LabHostKind = "public" | "lan" | "router";

/** One node of the lab: a namespace with an address. */
export interface LabHost {
  /** The name the test gave it. */
  readonly name: string;
  readonly kind: LabHostKind;
  /** Its namespace, for `ip netns exec`. */
  readonly ns: string;
  /** Its own address: public for public hosts and routers (WAN), 10.x for LAN hosts. */
  readonly addr: string;
  /** The address the internet sees it from: its own, or its router's WAN address. */
  readonly publicAddr: string;
  /** The home it belongs to (a LAN host's or router's), else null. */
  readonly home: string | null;
  /** A router's LAN-side address, else null. */
  readonly lanAddr: string | null;
}

/** Output of `NetLab.run`, decoded as text. */
export interface LabRunOutput {
  code: number;
  success: boolean;
  stdout: string;
  stderr: string;
}

/** Options of `NetLab.run`: those of Deno.Command plus a time limit. */
export interface LabRunOptions
  extends Omit<Deno.CommandOptions, "args" | "stdout" | "stderr"> {
  /** Kills the command after this long (default 30 s). */
  timeoutMs?: number;
  /** Written to the command's stdin, which is then closed. */
  input?: string | Uint8Array;
}

/** Whether this machine can build a lab, and if not, why. */
export type NetLabAvailability = { ok: true } | { ok: false; reason: string };

/** Raised when the lab cannot be built or a name is unknown. */
export class NetLabError extends Error {
  override name = "NetLabError";
  constructor(
    readonly code: "unavailable" | "setup" | "spec" | "unknown_host",
    message: string,
  ) {
    super(message);
  }
}

const HOST_NAME = /^[a-z][a-z0-9]{0,11}$/;
const enc = new TextEncoder();
const dec = new TextDecoder();

let availability: Promise<NetLabAvailability> | null = null;

/** A running lab; dispose it (or call close) to remove every namespace. */
export class NetLab implements AsyncDisposable {
  /** The per-lab start of its namespace names, e.g. `chatlab-4242-a1b2c3-`. */
  readonly prefix: string;
  readonly #hosts: Map<string, LabHost>;
  readonly #children = new Set<Deno.ChildProcess>();
  #closed: Promise<void> | null = null;

  private constructor(prefix: string, hosts: Map<string, LabHost>) {
    this.prefix = prefix;
    this.#hosts = hosts;
  }

  /**
   * Whether this machine can build labs: Linux, root, `ip` and `iptables`,
   * and a namespace that accepts a NAT rule. Checked once per process.
   */
  static available(): Promise<NetLabAvailability> {
    availability ??= probeAvailability();
    return availability;
  }

  /** Builds the lab; on any failure removes what it made and throws NetLabError. */
  static async create(spec: NetLabSpec): Promise<NetLab> {
    const hosts = plan(spec);
    const ok = await NetLab.available();
    if (!ok.ok) throw new NetLabError("unavailable", ok.reason);
    await NetLab.removeStale();
    for (let attempt = 0;; attempt++) {
      const prefix = `${NETLAB_FAMILY}${Deno.pid}-${randomTag()}-`;
      const existing = await listNamespaces();
      if (existing.some((n) => n.startsWith(prefix)) && attempt < 5) continue;
      const lab = new NetLab(prefix, qualify(prefix, hosts));
      try {
        await sh(lab.#script(spec));
      } catch (err) {
        await lab.close();
        throw new NetLabError(
          "setup",
          `Could not build the network lab: ${
            err instanceof Error ? err.message : err
          }`,
        );
      }
      return lab;
    }
  }

  /**
   * Deletes lab namespaces whose owning process has exited (a killed test
   * run), killing anything still running in them. Returns their names.
   */
  static async removeStale(): Promise<string[]> {
    const stale: string[] = [];
    for (const ns of await listNamespaces()) {
      const m = /^chatlab-(\d+)-/.exec(ns);
      if (!m || processAlive(Number(m[1]))) continue;
      stale.push(ns);
    }
    if (stale.length > 0) await deleteNamespaces(stale);
    return stale;
  }

  /** Every node of the lab. */
  get hosts(): LabHost[] {
    return [...this.#hosts.values()];
  }

  /** Every namespace this lab made, the internet's included. */
  get namespaces(): string[] {
    return [`${this.prefix}internet`, ...this.hosts.map((h) => h.ns)];
  }

  /** A node by name (host or router); throws NetLabError for unknown names. */
  host(name: string): LabHost {
    const h = this.#hosts.get(name);
    if (!h) {
      throw new NetLabError(
        "unknown_host",
        `No host "${name}" in the lab; known: ${
          [...this.#hosts.keys()].join(", ")
        }`,
      );
    }
    return h;
  }

  /**
   * Starts `cmd args` inside the host's namespace (`ip netns exec`). Stdin
   * defaults to null, stdout and stderr to piped. The lab kills the process
   * on close if it is still running.
   */
  spawn(
    host: string | LabHost,
    cmd: string | URL,
    args: string[] = [],
    opts: Omit<Deno.CommandOptions, "args"> = {},
  ): Deno.ChildProcess {
    if (this.#closed) {
      throw new NetLabError("setup", `The lab ${this.prefix} is closed`);
    }
    const h = typeof host === "string" ? this.host(host) : host;
    const child = new Deno.Command("ip", {
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      ...opts,
      args: [
        "netns",
        "exec",
        h.ns,
        cmd instanceof URL ? decodeURIComponent(cmd.pathname) : cmd,
        ...args,
      ],
    }).spawn();
    this.#children.add(child);
    child.status.finally(() => this.#children.delete(child));
    return child;
  }

  /** Runs `cmd args` in the host's namespace to its end and returns its output as text. */
  async run(
    host: string | LabHost,
    cmd: string | URL,
    args: string[] = [],
    opts: LabRunOptions = {},
  ): Promise<LabRunOutput> {
    const { timeoutMs = 30_000, input, ...rest } = opts;
    const child = this.spawn(host, cmd, args, {
      ...rest,
      stdin: input === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
    });
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch {
        // Exited just now: its output is still collected below.
      }
    }, timeoutMs);
    try {
      if (input !== undefined) {
        const w = child.stdin.getWriter();
        await w.write(typeof input === "string" ? enc.encode(input) : input)
          .catch(() => {}); // The command exited without reading: its code says why.
        await w.close().catch(() => {});
      }
      const out = await child.output();
      return {
        code: out.code,
        success: out.success,
        stdout: dec.decode(out.stdout),
        stderr: dec.decode(out.stderr),
      };
    } finally {
      clearTimeout(timer);
    }
  }

  /** Kills what the lab started and deletes every namespace (and so every veth). */
  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  /** Same as close. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #close(): Promise<void> {
    for (const child of this.#children) {
      try {
        child.kill("SIGKILL");
      } catch {
        // Already exited.
      }
    }
    await Promise.all([...this.#children].map(async (child) => {
      await child.status;
      // Unread pipes of a killed child would leak their resources.
      for (const pipe of [() => child.stdout, () => child.stderr]) {
        let s: ReadableStream<Uint8Array>;
        try {
          s = pipe();
        } catch {
          continue; // Not piped: nothing to release.
        }
        if (!s.locked) await s.cancel();
      }
    }));
    const mine = (await listNamespaces()).filter((n) =>
      n.startsWith(this.prefix)
    );
    await deleteNamespaces(mine);
  }

  /** The shell script that builds the lab. */
  #script(spec: NetLabSpec): string {
    const inet = `${this.prefix}internet`;
    const lines: string[] = [];
    const addNs = (ns: string) => {
      lines.push(
        `ip netns add ${ns}`,
        `ip netns exec ${ns} sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1`,
        `ip -n ${ns} link set lo up`,
      );
    };
    addNs(inet);
    lines.push(
      `ip -n ${inet} link add br0 type bridge`,
      `ip -n ${inet} link set br0 up`,
    );
    for (const h of this.hosts.filter((h) => h.kind === "public")) {
      addNs(h.ns);
      lines.push(
        `ip link add eth0 netns ${h.ns} type veth peer name p-${h.name} netns ${inet}`,
        `ip -n ${inet} link set p-${h.name} master br0 up`,
        `ip -n ${h.ns} addr add ${h.addr}/24 dev eth0`,
        `ip -n ${h.ns} link set eth0 up`,
        `ip -n ${h.ns} route add default dev eth0`,
      );
    }
    for (const home of spec.homes ?? []) {
      const r = this.host(home.name);
      addNs(r.ns);
      const x = (rule: string) =>
        lines.push(`ip netns exec ${r.ns} iptables -w ${rule}`);
      lines.push(
        `ip link add wan netns ${r.ns} type veth peer name w-${r.name} netns ${inet}`,
        `ip -n ${inet} link set w-${r.name} master br0 up`,
        `ip -n ${r.ns} addr add ${r.addr}/24 dev wan`,
        `ip -n ${r.ns} link set wan up`,
        `ip -n ${r.ns} route add default dev wan`,
        `ip -n ${r.ns} link add lan type bridge`,
        `ip -n ${r.ns} addr add ${r.lanAddr}/24 dev lan`,
        `ip -n ${r.ns} link set lan up`,
        `ip netns exec ${r.ns} sysctl -qw net.ipv4.ip_forward=1`,
      );
      x(
        `-t nat -A POSTROUTING -o wan -j MASQUERADE${
          home.randomFully ? " --random-fully" : ""
        }`,
      );
      x("-P FORWARD DROP");
      x("-A FORWARD -i lan -o wan -j ACCEPT");
      x("-A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT");
      // With br_netfilter loaded, frames switched between two LAN ports
      // pass this chain too; a home switch forwards them.
      x("-A FORWARD -i lan -o lan -j ACCEPT");
      x("-A INPUT -i wan -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT");
      x("-A INPUT -i wan -j DROP");
      for (const h of this.hosts.filter((h) => h.home === home.name)) {
        if (h.kind !== "lan") continue;
        addNs(h.ns);
        lines.push(
          `ip link add eth0 netns ${h.ns} type veth peer name h-${h.name} netns ${r.ns}`,
          `ip -n ${r.ns} link set h-${h.name} master lan up`,
          `ip -n ${h.ns} addr add ${h.addr}/24 dev eth0`,
          `ip -n ${h.ns} link set eth0 up`,
          `ip -n ${h.ns} route add default via ${r.lanAddr}`,
        );
      }
    }
    return lines.join("\n");
  }
}

/** Addresses and kinds for every node, before namespaces are named. */
function plan(spec: NetLabSpec): Map<string, Omit<LabHost, "ns">> {
  const out = new Map<string, Omit<LabHost, "ns">>();
  const add = (h: Omit<LabHost, "ns">) => {
    if (!HOST_NAME.test(h.name) || h.name === "internet") {
      throw new NetLabError(
        "spec",
        `Lab host name "${h.name}" must be 1 to 12 lower-case letters and digits, starting with a letter, and not "internet"`,
      );
    }
    if (out.has(h.name)) {
      throw new NetLabError("spec", `Lab host name "${h.name}" is used twice`);
    }
    out.set(h.name, h);
  };
  const publicHosts = spec.publicHosts ?? [];
  const homes = spec.homes ?? [];
  if (publicHosts.length > 200 || homes.length > 200) {
    throw new NetLabError(
      "spec",
      "A lab holds at most 200 public hosts and 200 homes",
    );
  }
  publicHosts.forEach((name, i) => {
    const addr = `203.0.113.${10 + i}`;
    add({
      name,
      kind: "public",
      addr,
      publicAddr: addr,
      home: null,
      lanAddr: null,
    });
  });
  homes.forEach((home, i) => {
    const wan = `198.51.100.${10 + i}`;
    const lan = home.lan ?? `10.${i + 1}.0`;
    if (!/^10\.\d{1,3}\.\d{1,3}$/.test(lan)) {
      throw new NetLabError(
        "spec",
        `Home ${home.name}'s lan "${lan}" must be three octets of 10.0.0.0/8, e.g. "10.1.0"`,
      );
    }
    if (home.hosts.length > 200) {
      throw new NetLabError(
        "spec",
        `Home ${home.name} holds at most 200 hosts`,
      );
    }
    add({
      name: home.name,
      kind: "router",
      addr: wan,
      publicAddr: wan,
      home: home.name,
      lanAddr: `${lan}.1`,
    });
    home.hosts.forEach((name, j) =>
      add({
        name,
        kind: "lan",
        addr: `${lan}.${2 + j}`,
        publicAddr: wan,
        home: home.name,
        lanAddr: null,
      })
    );
  });
  return out;
}

function qualify(
  prefix: string,
  hosts: Map<string, Omit<LabHost, "ns">>,
): Map<string, LabHost> {
  const out = new Map<string, LabHost>();
  for (const [name, h] of hosts) {
    out.set(name, Object.freeze({ ...h, ns: prefix + name }));
  }
  return out;
}

function randomTag(): string {
  const b = crypto.getRandomValues(new Uint8Array(3));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

function processAlive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

async function probeAvailability(): Promise<NetLabAvailability> {
  if (Deno.build.os !== "linux") {
    return {
      ok: false,
      reason: `network namespaces need Linux, this is ${Deno.build.os}`,
    };
  }
  if (Deno.uid() !== 0) {
    return {
      ok: false,
      reason: "network namespaces need root (run the tests as root)",
    };
  }
  for (const tool of ["ip", "iptables"]) {
    try {
      const out = await new Deno.Command(tool, {
        args: ["-V"],
        stdout: "null",
        stderr: "null",
      }).output();
      if (!out.success) throw new Error(`exit ${out.code}`);
    } catch {
      return {
        ok: false,
        reason:
          `${tool} is not installed (Debian: apt-get install iproute2 iptables)`,
      };
    }
  }
  const ns = `${NETLAB_FAMILY}${Deno.pid}-probe${randomTag()}`;
  try {
    await sh([
      `ip netns add ${ns}`,
      `ip netns exec ${ns} iptables -w -t nat -A POSTROUTING -o lo -j MASQUERADE --random-fully`,
    ].join("\n"));
  } catch (err) {
    return {
      ok: false,
      reason: `cannot make a network namespace with a NAT rule: ${
        err instanceof Error ? err.message : err
      }`,
    };
  } finally {
    await deleteNamespaces([ns]).catch(() => {}); // Never made: nothing to delete.
  }
  return { ok: true };
}

async function listNamespaces(): Promise<string[]> {
  const out = await new Deno.Command("ip", {
    args: ["netns", "list"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) return [];
  return dec.decode(out.stdout).split("\n").map((l) => l.split(" ")[0]!)
    .filter((n) => n.startsWith(NETLAB_FAMILY));
}

async function deleteNamespaces(names: string[]): Promise<void> {
  if (names.length === 0) return;
  // Processes left inside would keep the namespace (and its veths) alive
  // after its name is gone, so they go first.
  const script = names.map((ns) =>
    `for p in $(ip netns pids ${ns} 2>/dev/null); do kill -9 $p 2>/dev/null; done; ip netns del ${ns} 2>/dev/null`
  ).join("\n");
  await sh(script + "\ntrue");
}

/** Runs a shell script that stops at the first failing command. */
async function sh(script: string): Promise<void> {
  const out = await new Deno.Command("sh", {
    args: ["-e", "-x", "-c", script],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    const err = dec.decode(out.stderr).trim().split("\n").slice(-3).join("; ");
    throw new Error(`exit ${out.code}: ${err || "no output"}`);
  }
}
