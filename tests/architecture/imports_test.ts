/**
 * The shape of the code, kept by a test: every module's imports follow the
 * layers of docs/architecture.md, and the checker is shown to catch each
 * kind of bad import on a synthetic graph.
 */
import { fileURLToPath } from "node:url";
import { assert, assertEquals } from "../helpers/assert.ts";
import {
  checkImports,
  faceFor,
  type ImportGraph,
  readGraph,
  specifiersOf,
  unitOf,
} from "./import_graph.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** A graph from a literal: every file named as a key exists. */
function graphOf(edges: Record<string, string[]>): ImportGraph {
  return new Map(Object.entries(edges));
}

/** The rules broken by `edges`, as [rule, from, to]. */
function broken(edges: Record<string, string[]>): string[][] {
  return checkImports(graphOf(edges)).map((v) => [v.rule, v.from, v.to]);
}

Deno.test("the import graph of every module keeps the layers, enters folders through mod.ts and has no cycle", async () => {
  const graph = await readGraph(ROOT);
  assert(graph.size > 80, `only ${graph.size} modules found`);
  for (const f of ["main.ts", "peer/core/peer.ts", "registry/server.ts"]) {
    assert(graph.has(f), `${f} was not walked`);
  }
  assert(
    (graph.get("main.ts") ?? []).includes("peer/mod.ts"),
    "main.ts's lazy import of peer/mod.ts was seen",
  );
  const violations = checkImports(graph);
  assertEquals(violations.map((v) => v.message), []);
});

Deno.test("an import that runs back up a layer is refused", () => {
  assertEquals(
    broken({
      "peer/net/p2p.ts": ["peer/core/mod.ts"],
      "peer/core/mod.ts": [],
    }),
    [["upward", "peer/net/p2p.ts", "peer/core/mod.ts"]],
  );
  assertEquals(
    broken({ "wire/frame.ts": ["common/conn.ts"], "common/conn.ts": [] }),
    [["upward", "wire/frame.ts", "common/conn.ts"]],
  );
  assertEquals(
    broken({ "peer/front/format.ts": ["cli/mod.ts"], "cli/mod.ts": [] }),
    [["upward", "peer/front/format.ts", "cli/mod.ts"]],
  );
  // The same imports downward are fine.
  assertEquals(
    broken({
      "peer/core/peer.ts": ["peer/net/mod.ts"],
      "peer/net/mod.ts": [],
      "peer/cmd/pipe.ts": ["cli/mod.ts", "peer/net/mod.ts"],
      "cli/mod.ts": [],
    }),
    [],
  );
});

Deno.test("nothing imports main.ts, and registry and peer never import each other", () => {
  assertEquals(
    broken({ "bench/x.ts": ["main.ts"], "main.ts": [] }),
    [["main", "bench/x.ts", "main.ts"]],
  );
  assertEquals(
    broken({
      "registry/service.ts": ["peer/mod.ts"],
      "peer/mod.ts": [],
      "peer/net/p2p.ts": ["registry/mod.ts"],
      "registry/mod.ts": [],
      "cli/parse.ts": ["peer/core/mod.ts"],
      "peer/core/mod.ts": [],
    }),
    [
      ["registry-peer", "registry/service.ts", "peer/mod.ts"],
      ["registry-peer", "peer/net/p2p.ts", "registry/mod.ts"],
      ["registry-peer", "cli/parse.ts", "peer/core/mod.ts"],
    ],
  );
  assertEquals(
    broken({ "bench/x.ts": ["scripts/compile.ts"], "scripts/compile.ts": [] }),
    [["sideways", "bench/x.ts", "scripts/compile.ts"]],
  );
});

Deno.test("a folder with a mod.ts is entered only through it", () => {
  assertEquals(
    broken({
      "peer/cmd/pipe.ts": ["peer/core/transfers.ts"],
      "peer/core/transfers.ts": [],
      "peer/core/mod.ts": [],
    }),
    [["mod", "peer/cmd/pipe.ts", "peer/core/transfers.ts"]],
  );
  assertEquals(
    broken({
      "bench/x.ts": ["peer/core/mod.ts"],
      "peer/core/mod.ts": [],
      "peer/mod.ts": [],
    }),
    [["mod", "bench/x.ts", "peer/core/mod.ts"]],
  );
  // Inside its folder a module imports its neighbours directly, and a
  // folder's own subfolders through their mod.ts.
  assertEquals(
    broken({
      "registry/service.ts": ["registry/handlers/mod.ts", "registry/store.ts"],
      "registry/handlers/mod.ts": ["registry/handlers/rooms.ts"],
      "registry/handlers/rooms.ts": ["registry/store.ts"],
      "registry/store.ts": [],
      "registry/mod.ts": [],
    }),
    [],
  );
  assertEquals(
    broken({
      "registry/service.ts": ["registry/handlers/rooms.ts"],
      "registry/handlers/rooms.ts": [],
      "registry/handlers/mod.ts": [],
    }),
    [["mod", "registry/service.ts", "registry/handlers/rooms.ts"]],
  );
  // A folder without a mod.ts (common/) is a set of separate modules.
  assertEquals(
    broken({
      "wire/x.ts": [],
      "peer/net/p2p.ts": ["common/conn.ts"],
      "common/conn.ts": [],
    }),
    [],
  );
  assertEquals(
    faceFor("peer/cmd/pipe.ts", "peer/core/transfers/send.ts"),
    "peer/core/mod.ts",
  );
  assertEquals(
    faceFor("peer/core/peer.ts", "peer/core/transfers/send.ts"),
    "peer/core/transfers/mod.ts",
  );
  assertEquals(faceFor("peer/core/peer.ts", "peer/core/inbox.ts"), null);
});

Deno.test("an import that closes a cycle is refused, within a layer too", () => {
  const v = checkImports(graphOf({
    "peer/core/a.ts": ["peer/core/b.ts"],
    "peer/core/b.ts": ["peer/core/c.ts"],
    "peer/core/c.ts": ["peer/core/a.ts"],
  }));
  assertEquals(v.map((x) => x.rule), ["cycle"]);
  assertEquals(
    v[0]!.message,
    "import cycle: peer/core/a.ts → peer/core/b.ts → peer/core/c.ts → peer/core/a.ts",
  );
});

Deno.test("imports are read from every form: named, default, namespace, type-only, re-export, bare and dynamic", () => {
  const source = [
    'import { a, type B } from "./a.ts";',
    'import type { C } from "../c.ts";',
    'import d, { e } from "./d.ts";',
    'import * as f from "./f.ts";',
    'export * from "./g.ts";',
    "export {\n  h,\n  type I,\n} from './h.ts';",
    'import "./side.ts";',
    'const j = await import("./j.ts");',
    '/** Not an import: from "./k.ts" */',
    'import config from "../deno.json" with { type: "json" };',
  ].join("\n");
  assertEquals(specifiersOf(source), [
    "./a.ts",
    "../c.ts",
    "./d.ts",
    "./f.ts",
    "./g.ts",
    "./h.ts",
    "../deno.json",
    "./side.ts",
    "./j.ts",
  ]);
  assertEquals(unitOf("peer/core/transfers/send.ts"), "peer/core");
  assertEquals(unitOf("peer/mod.ts"), "peer");
  assertEquals(unitOf("tests/peer/core/peer_test.ts"), null);
});
