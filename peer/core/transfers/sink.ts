/**
 * Where a received file goes. Bytes are written to a hidden part file that
 * is renamed into place only after the receiver verified them, and deleted
 * on any failure, so no partial file is ever left behind; a stream (stdout,
 * a FIFO) is written directly. A name is never reused: `name (1).ext`.
 */
import { dirname, join } from "node:path";
import { numberedName } from "./filenames.ts";

/** Anything that takes bytes: a file, stdout. */
export interface ChunkSink {
  write(p: Uint8Array): Promise<number>;
}

/** Where an accepted file goes. */
export type Destination =
  | { kind: "folder"; dir: string }
  | { kind: "file"; path: string }
  | { kind: "stream"; sink: ChunkSink; label: string };

/** An opened destination and its two ways to finish. */
export interface OpenSink {
  write(p: Uint8Array): Promise<void>;
  /** Makes the file visible under its final name; returns that path. */
  commit(): Promise<string>;
  /** Deletes whatever was written. */
  discard(): Promise<void>;
}

/** A part file untouched this long belongs to a receiver that died. */
export const STALE_PART_MS = 60 * 60 * 1000;

/** Opens where an accepted file is written; see Destination. `now` dates stale part files. */
export async function openSink(
  dest: Destination,
  name: string,
  id: string,
  now: number,
): Promise<OpenSink> {
  if (dest.kind === "stream") {
    return {
      write: async (p) => {
        let off = 0;
        while (off < p.length) off += await dest.sink.write(p.subarray(off));
      },
      commit: () => Promise.resolve(dest.label),
      discard: () => Promise.resolve(),
    };
  }
  const dir = dest.kind === "folder" ? dest.dir : dirname(dest.path);
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  await removeStaleParts(dir, now);
  const part = join(dir, `.${id}.chat-part`);
  const file = await Deno.open(part, {
    write: true,
    createNew: true,
    mode: 0o600,
  });
  let open = true;
  const close = () => {
    if (open) {
      open = false;
      closeQuietly(file);
    }
  };
  return {
    write: async (p) => {
      let off = 0;
      while (off < p.length) off += await file.write(p.subarray(off));
    },
    commit: async () => {
      await file.sync();
      close();
      if (dest.kind === "file") {
        await Deno.rename(part, dest.path);
        return dest.path;
      }
      return await placeWithoutOverwrite(part, dir, name);
    },
    discard: async () => {
      close();
      await Deno.remove(part).catch(() => {});
    },
  };
}

/**
 * Deletes part files in `dir` not written for STALE_PART_MS: a receiver
 * killed outright (SIGKILL, a power cut) cannot delete its own. A live
 * transfer writes its part file continuously, so it is never touched.
 */
export async function removeStaleParts(
  dir: string,
  now: number,
): Promise<void> {
  try {
    for await (const e of Deno.readDir(dir)) {
      if (!e.isFile || !/^\.[A-Za-z0-9_-]{1,64}\.chat-part$/.test(e.name)) {
        continue;
      }
      const path = join(dir, e.name);
      const info = await Deno.lstat(path).catch(() => null);
      const at = info?.mtime?.getTime();
      if (at !== undefined && now - at > STALE_PART_MS) {
        await Deno.remove(path).catch(() => {});
      }
    }
  } catch {
    // An unreadable folder: opening the part file will say what is wrong.
  }
}

/** Closes a file that may already be closed. */
export function closeQuietly(f: { close(): void }): void {
  try {
    f.close();
  } catch {
    // Already closed.
  }
}

/** Moves `part` to `dir/name`, or `name (1)`, … without replacing anything. */
async function placeWithoutOverwrite(
  part: string,
  dir: string,
  name: string,
): Promise<string> {
  for (let n = 0; n < 10_000; n++) {
    const target = join(dir, numberedName(name, n));
    try {
      // link() fails if the target exists, so an existing file is never replaced.
      await Deno.link(part, target);
      await Deno.remove(part);
      return target;
    } catch (err) {
      if (err instanceof Deno.errors.AlreadyExists) continue;
      // Hard links unsupported (some file systems): fall back to check-then-rename.
      if (await exists(target)) continue;
      await Deno.rename(part, target);
      return target;
    }
  }
  throw new Error(`too many files named like ${name}`);
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}
