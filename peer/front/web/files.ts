/**
 * Files between the page and the peer. An upload is streamed into a private
 * spool file (0600, in a folder of its own under $CHAT_HOME/uploads/) that
 * the core then offers with /send; it is deleted once every offer of it has
 * ended. A received file is served back to the page by its transfer id, as
 * an attachment under a safe name, and only from the downloads folder.
 */
import { basename, join, resolve, sep } from "node:path";
import { sanitizeFileName } from "../../core/mod.ts";
import { attachment } from "./gate.ts";
import type { HubEvent } from "./hub.ts";

/** Spool folders left by a process that died are removed after this long. */
export const STALE_UPLOAD_MS = 24 * 60 * 60 * 1000;

/** One spooled upload. */
export interface Spool {
  dir: string;
  path: string;
  bytes: number;
}

/** Fields of the events that end or record transfers. */
type TransferEvent =
  | { type: "file_received"; id: string; path: string }
  | { type: "file_sent"; id: string }
  | { type: "transfer_failed"; id: string };

function transferEvent(ev: HubEvent): TransferEvent | null {
  if (
    ev.type !== "file_received" && ev.type !== "file_sent" &&
    ev.type !== "transfer_failed"
  ) return null;
  const id = "id" in ev ? ev.id : undefined;
  if (typeof id !== "string") return null;
  if (ev.type === "file_received") {
    const path = "path" in ev ? ev.path : undefined;
    return typeof path === "string" ? { type: ev.type, id, path } : null;
  }
  return { type: ev.type, id };
}

/** See the module doc (the upload half). */
export class Uploads {
  readonly #root: string;
  #dir: string | null = null;
  readonly #pending = new Map<string, Set<string>>();
  readonly #byId = new Map<string, string>();

  /** `root` is $CHAT_HOME/uploads. */
  constructor(root: string) {
    this.#root = root;
  }

  /** Removes spool folders of earlier runs that are older than STALE_UPLOAD_MS. */
  async sweep(now = Date.now()): Promise<void> {
    let entries: Deno.DirEntry[] = [];
    try {
      entries = await Array.fromAsync(Deno.readDir(this.#root));
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return;
      throw err;
    }
    for (const e of entries) {
      const path = join(this.#root, e.name);
      const info = await Deno.stat(path).catch(() => null);
      if (info?.mtime && now - info.mtime.getTime() > STALE_UPLOAD_MS) {
        await Deno.remove(path, { recursive: true }).catch(() => {});
      }
    }
  }

  async #own(): Promise<string> {
    if (this.#dir) return this.#dir;
    await Deno.mkdir(this.#root, { recursive: true, mode: 0o700 });
    this.#dir = await Deno.makeTempDir({ dir: this.#root, prefix: "web-" });
    await Deno.chmod(this.#dir, 0o700).catch(() => {});
    return this.#dir;
  }

  /**
   * Streams `body` into a new 0600 file named after `name` (made safe) in a
   * folder of its own, so the receiver sees the original name.
   */
  async spool(body: ReadableStream<Uint8Array>, name: string): Promise<Spool> {
    const dir = await Deno.makeTempDir({ dir: await this.#own(), prefix: "" });
    const path = join(dir, sanitizeFileName(name));
    let bytes = 0;
    try {
      using file = await Deno.open(path, {
        write: true,
        createNew: true,
        mode: 0o600,
      });
      for await (const chunk of body) {
        let off = 0;
        while (off < chunk.length) off += await file.write(chunk.subarray(off));
        bytes += chunk.length;
      }
    } catch (err) {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      throw err;
    }
    return { dir, path, bytes };
  }

  /**
   * Keeps a spool until the transfers `ids` made from it have ended; with
   * no ids (the offer failed) it is removed at once.
   */
  async hold(spool: Spool, ids: string[]): Promise<void> {
    if (ids.length === 0) {
      await Deno.remove(spool.dir, { recursive: true }).catch(() => {});
      return;
    }
    this.#pending.set(spool.dir, new Set(ids));
    for (const id of ids) this.#byId.set(id, spool.dir);
  }

  /** Spools still held. */
  get held(): number {
    return this.#pending.size;
  }

  /** Watches events for the end of transfers made from spools. */
  observe = (ev: HubEvent): void => {
    const t = transferEvent(ev);
    if (!t || t.type === "file_received") return;
    const dir = this.#byId.get(t.id);
    if (dir === undefined) return;
    this.#byId.delete(t.id);
    const ids = this.#pending.get(dir);
    ids?.delete(t.id);
    if (ids && ids.size === 0) {
      this.#pending.delete(dir);
      Deno.remove(dir, { recursive: true }).catch(() => {
        // Gone already, or held open on a system that cannot delete open
        // files: the sweep of a later run removes it.
      });
    }
  };

  /** Removes this process's spool folder with whatever is left in it. */
  async close(): Promise<void> {
    this.#pending.clear();
    this.#byId.clear();
    if (this.#dir) {
      await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
      this.#dir = null;
    }
  }
}

/** See the module doc (the download half). */
export class Downloads {
  readonly #root: string;
  readonly #files = new Map<string, string>();

  /** `root` is the downloads folder ($CHAT_HOME/downloads). */
  constructor(root: string) {
    this.#root = resolve(root);
  }

  /** Remembers where received files were saved. */
  observe = (ev: HubEvent): void => {
    const t = transferEvent(ev);
    if (t?.type === "file_received") this.#files.set(t.id, t.path);
  };

  /** The response for GET /files/ID: the file as an attachment, or 404. */
  async serve(id: string, headers: Record<string, string>): Promise<Response> {
    const notFound = () =>
      new Response("no such file\n", {
        status: 404,
        headers: { ...headers, "content-type": "text/plain; charset=utf-8" },
      });
    const path = this.#files.get(id);
    if (path === undefined) return notFound();
    let real: string;
    let root: string;
    try {
      real = await Deno.realPath(path);
      root = await Deno.realPath(this.#root);
    } catch {
      return notFound();
    }
    // Only what the core saved in the downloads folder, never a link out.
    if (!real.startsWith(root + sep)) return notFound();
    let file: Deno.FsFile;
    try {
      file = await Deno.open(real, { read: true });
    } catch {
      return notFound();
    }
    const { size } = await file.stat();
    return new Response(file.readable, {
      headers: {
        ...headers,
        "content-type": "application/octet-stream",
        "content-length": String(size),
        "content-disposition": attachment(basename(real)),
      },
    });
  }
}
