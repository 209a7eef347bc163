/**
 * The import rules of docs/architecture.md as a pure checker: which layer a
 * file belongs to, what each layer may import, entry through `mod.ts`, and
 * no cycles. `readGraph` reads the real tree; `checkImports` judges any
 * graph, so a test can prove it rejects a synthetic bad import.
 */
import { dirname, join, normalize, relative } from "node:path";

/** The import graph: file → the local .ts files it imports (paths relative to the root, with /). */
export type ImportGraph = Map<string, string[]>;

/** One broken rule. */
export interface Violation {
  rule: "upward" | "sideways" | "main" | "registry-peer" | "mod" | "cycle";
  from: string;
  to: string;
  message: string;
}

/**
 * The layers, highest first. A file may import files of its own layer and of
 * any layer below it; never one above, nor another layer of the same height.
 */
export const LAYERS: readonly { unit: string; rank: number }[] = [
  { unit: "main", rank: 9 },
  { unit: "bench", rank: 9 },
  { unit: "scripts", rank: 9 },
  { unit: "peer", rank: 8 },
  { unit: "peer/cmd", rank: 7 },
  { unit: "registry", rank: 7 },
  { unit: "cli", rank: 6 },
  { unit: "peer/front", rank: 5 },
  { unit: "peer/core", rank: 4 },
  { unit: "peer/net", rank: 3 },
  { unit: "common", rank: 2 },
  { unit: "wire", rank: 1 },
];

/**
 * Imports allowed past the `mod.ts` rule, each with its reason. Nothing else
 * is: a new entry here needs as good a reason.
 */
export const MOD_EXCEPTIONS: readonly {
  from: string;
  to: string;
  why: string;
}[] = [
  {
    from: "registry/udp_worker.ts",
    to: "wire/limits.ts",
    why: "a worker thread loads its own module graph and needs one constant",
  },
];

/** The layer of a file, or null for files outside the walked folders. */
export function unitOf(path: string): string | null {
  if (path === "main.ts") return "main";
  const parts = path.split("/");
  if (parts.length < 2) return null;
  const top = parts[0]!;
  if (top === "peer") {
    const sub = parts[1]!;
    if (parts.length > 2 && ["cmd", "front", "core", "net"].includes(sub)) {
      return `peer/${sub}`;
    }
    return "peer";
  }
  if (["bench", "scripts", "cli", "common", "wire", "registry"].includes(top)) {
    return top;
  }
  return null;
}

function rankOf(unit: string): number {
  const layer = LAYERS.find((l) => l.unit === unit);
  if (!layer) throw new Error(`unit ${unit} has no layer`);
  return layer.rank;
}

const isPeer = (unit: string) => unit === "peer" || unit.startsWith("peer/");

/** Judges every import of `graph`; an empty list means the shape holds. */
export function checkImports(graph: ImportGraph): Violation[] {
  const out: Violation[] = [];
  const files = new Set(graph.keys());
  for (const [from, targets] of graph) {
    const fu = unitOf(from);
    if (fu === null) continue;
    for (const to of targets) {
      const tu = unitOf(to);
      if (tu === null) continue;
      const v = judge(from, fu, to, tu, files);
      if (v) out.push(v);
    }
  }
  out.push(...cycles(graph));
  return out;
}

function judge(
  from: string,
  fu: string,
  to: string,
  tu: string,
  files: Set<string>,
): Violation | null {
  const v = (rule: Violation["rule"], message: string): Violation => ({
    rule,
    from,
    to,
    message: `${from} imports ${to}: ${message}`,
  });
  if (to === "main.ts") return v("main", "nothing imports main.ts");
  if (
    (fu === "registry" && isPeer(tu)) || (isPeer(fu) && tu === "registry") ||
    (fu === "cli" && isPeer(tu))
  ) {
    return v(
      "registry-peer",
      "registry/ and peer/ never import each other, and cli/ imports nothing of peer/",
    );
  }
  if (fu !== tu) {
    const fr = rankOf(fu);
    const tr = rankOf(tu);
    if (tr > fr) return v("upward", `${fu} runs back up to ${tu}`);
    if (tr === fr) return v("sideways", `${fu} and ${tu} are separate layers`);
  }
  const face = faceFor(from, to);
  if (
    face !== null && files.has(face) && to !== face &&
    !MOD_EXCEPTIONS.some((e) => e.from === from && e.to === to)
  ) {
    return v("mod", `from outside ${dirname(face)}/ only ${face} is imported`);
  }
  return null;
}

/**
 * The `mod.ts` that `from` must go through to reach `to`: that of the
 * outermost folder of `to` that does not contain `from`; null when every
 * folder of `to` contains `from` (a neighbour in the same folder).
 */
export function faceFor(from: string, to: string): string | null {
  const folders = to.split("/").slice(0, -1);
  for (let i = 1; i <= folders.length; i++) {
    const folder = folders.slice(0, i).join("/");
    if (!from.startsWith(folder + "/")) return `${folder}/mod.ts`;
  }
  return null;
}

/** Every cycle of the graph, each reported once at the import that closes it. */
function cycles(graph: ImportGraph): Violation[] {
  const out: Violation[] = [];
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (file: string) => {
    state.set(file, "open");
    stack.push(file);
    for (const to of graph.get(file) ?? []) {
      if (!graph.has(to)) continue;
      const s = state.get(to);
      if (s === "open") {
        const loop = [...stack.slice(stack.indexOf(to)), to];
        out.push({
          rule: "cycle",
          from: file,
          to,
          message: `import cycle: ${loop.join(" → ")}`,
        });
      } else if (s === undefined) visit(to);
    }
    stack.pop();
    state.set(file, "done");
  };
  for (const file of [...graph.keys()].sort()) {
    if (!state.has(file)) visit(file);
  }
  return out;
}

const STATIC_IMPORT =
  /^\s*(?:import|export)\s+(?:type\s+)?(?:[\w$]+\s*,?\s*)?(?:\*\s+as\s+[\w$]+\s*|\*\s*|\{[^}]*\}\s*)?from\s*["']([^"']+)["']/gm;
const BARE_IMPORT = /^\s*import\s*["']([^"']+)["']/gm;
const DYNAMIC_IMPORT = /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g;

/** Every specifier a module imports: static, type-only, re-exports and literal dynamic imports. */
export function specifiersOf(source: string): string[] {
  const out: string[] = [];
  for (const re of [STATIC_IMPORT, BARE_IMPORT, DYNAMIC_IMPORT]) {
    for (const m of source.matchAll(re)) out.push(m[1]!);
  }
  return out;
}

/** The folders and files of the tree that the rules cover. */
export const WALKED = [
  "main.ts",
  "cli",
  "common",
  "wire",
  "registry",
  "peer",
  "bench",
  "scripts",
];

/** Reads the import graph of every .ts file under `root`'s walked folders. */
export async function readGraph(root: string): Promise<ImportGraph> {
  const files: string[] = [];
  const walk = async (rel: string) => {
    const info = await Deno.stat(join(root, rel));
    if (info.isFile) {
      if (rel.endsWith(".ts")) files.push(rel);
      return;
    }
    for await (const e of Deno.readDir(join(root, rel))) {
      await walk(`${rel}/${e.name}`);
    }
  };
  for (const w of WALKED) await walk(w);
  const graph: ImportGraph = new Map();
  for (const file of files.sort()) {
    const source = await Deno.readTextFile(join(root, file));
    const targets = specifiersOf(source)
      .filter((s) => s.startsWith("./") || s.startsWith("../"))
      .map((s) => relative(root, normalize(join(root, dirname(file), s))))
      .map((p) => p.split("\\").join("/"))
      .filter((p) => p.endsWith(".ts"));
    graph.set(file, [...new Set(targets)]);
  }
  return graph;
}
