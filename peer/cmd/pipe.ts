/**
 * `chat send` and `chat receive` (F17): a file or a pipe streamed directly
 * between two machines, in constant memory, verified end to end. Each side
 * logs in for its own duration: the sender as a tool session, the receiver as
 * a receive session that file offers for its user are routed to.
 */
import { basename, dirname, join } from "node:path";
import type { CommandContext } from "../../cli/mod.ts";
import type { ReplyData } from "../../wire/mod.ts";
import {
  type ChunkSource,
  type Destination,
  type PeerEvent,
  Transfers,
  UserError,
} from "../core/mod.ts";
import { ProgressLine, stdinIsTerminal } from "../front/mod.ts";
import {
  createPeerIdentity,
  DialError,
  type P2PLink,
  P2PNode,
  type PeerIdentity,
  RegistryError,
  RegistrySession,
} from "../net/mod.ts";
import { oneLineErrors } from "./oneshot.ts";
import { type CommonSettings, commonSettings, credentials } from "./options.ts";

/** `chat send NAME [FILE|-] [--name N]`. */
export function send(ctx: CommandContext): Promise<number> {
  return oneLineErrors(async () => {
    const to = ctx.positionals[0]!.toLowerCase();
    const path = ctx.positionals[1] ?? "-";
    const fromStdin = path === "-";
    // Questions are only asked when stdin is a terminal that is not the data.
    const s = await commonSettings(ctx.flags, !fromStdin && stdinIsTerminal());
    let source: ChunkSource & { close?(): void };
    let size: number | null;
    if (fromStdin) {
      source = Deno.stdin;
      size = null;
    } else {
      try {
        const file = await Deno.open(path, { read: true });
        const info = await file.stat();
        if (!info.isFile) {
          file.close();
          throw new UserError(
            `${path} is not a regular file (send a folder with: tar c DIR | chat send ${to} -)`,
          );
        }
        source = file;
        size = info.size;
      } catch (err) {
        if (err instanceof UserError) throw err;
        if (err instanceof Deno.errors.NotFound) {
          throw new UserError(`no such file: ${path}`);
        }
        throw new UserError(`cannot read ${path}: ${describe(err)}`);
      }
    }
    const name = (ctx.flags.name as string | undefined) ??
      (fromStdin ? "stdin" : basename(path));
    const creds = await credentials(ctx.flags, s);
    const identity = await createPeerIdentity();
    let session: RegistrySession | null = null;
    const p2p = pipeNode(
      identity,
      creds.user,
      () => session,
      s,
      (link) => link.conn.close(),
    );
    const progress = new ProgressLine(Deno.stderr);
    let failed: string | null = null;
    session = await RegistrySession.open({
      target: s.target,
      credentials: creds,
      kind: "tool",
      key: identity.publicKey,
      logger: s.logger,
      onEvent: () => {},
      onStatus: (st) => {
        if (st.kind === "timeout" || st.kind === "ended") {
          failed = "logged out by the registry";
        }
      },
    });
    const transfers = new Transfers({
      self: () => creds.user,
      dial: async (user) => {
        let intro: ReplyData<"introduce">;
        try {
          intro = await session!.request("introduce", {
            user,
            purpose: "file",
          });
        } catch (err) {
          if (err instanceof RegistryError && err.code === "offline") {
            throw new UserError(
              `${user} is offline — ask them to run chat peer or chat receive`,
            );
          }
          if (err instanceof RegistryError && err.code === "not_found") {
            throw new UserError(`no such user '${user}'`);
          }
          throw err;
        }
        try {
          return await p2p.dial(intro, "file");
        } catch (err) {
          if (err instanceof DialError) throw new UserError(err.message);
          throw err;
        }
      },
      emit: (ev: PeerEvent) => {
        if (ev.type === "file_progress") progress.update(ev);
      },
      downloads: s.home,
      maxBytes: 0,
      logger: s.logger,
      now: Date.now,
      ...corruptAt(s),
    });
    try {
      const t = await transfers.offer(to, source, name, size);
      if (progress.enabled) {
        progress.note(`waiting for ${to} to accept ${t.name}…`);
      }
      const abort = new Promise<"signal">((resolve) => {
        if (ctx.signal.aborted) resolve("signal");
        ctx.signal.addEventListener("abort", () => resolve("signal"), {
          once: true,
        });
      });
      const r = await Promise.race([t.result, abort]);
      if (r === "signal") {
        await transfers.answer(t.id, "cancel").catch(() => {});
        throw new UserError("cancelled");
      }
      progress.done();
      if (!r.ok) throw new UserError(r.reason);
      if (failed) throw new UserError(failed);
      console.error(
        `sent ${t.name} to ${to}: ${r.size} bytes, sha256 ${r.sha256} verified by ${to}`,
      );
      return 0;
    } finally {
      progress.done();
      await transfers.closeAll("the sender stopped");
      source.close?.();
      await session.close();
      await p2p.close();
    }
  });
}

/** `chat receive [--from NAME] [-o PATH|-] [--timeout S]`. */
export function receive(ctx: CommandContext): Promise<number> {
  return oneLineErrors(async () => {
    const s = await commonSettings(ctx.flags, stdinIsTerminal());
    const from = ctx.flags.from as string | undefined;
    const output = ctx.flags.output as string | undefined;
    const timeoutMs = ctx.flags.timeout as number;
    const maxBytes = maxFileBytes(s);
    const dest = await destination(output, s);
    const creds = await credentials(ctx.flags, s);
    const identity = await createPeerIdentity();
    const progress = new ProgressLine(Deno.stderr);
    let session: RegistrySession | null = null;
    let chosen: string | null = null;
    let offered!: (id: string) => void;
    const firstOffer = new Promise<string>((resolve) => offered = resolve);
    let ended: string | null = null;
    const transfers: Transfers = new Transfers({
      self: () => creds.user,
      dial: () => Promise.reject(new UserError("chat receive does not send")),
      emit: (ev: PeerEvent) => {
        if (ev.type === "file_progress") progress.update(ev);
        if (ev.type === "error") {
          // An offer over CHAT_MAX_FILE_BYTES was refused: say so, wait on.
          progress.done();
          console.error(`chat: ${ev.message}`);
        }
        if (ev.type !== "file_offer") return;
        if (from !== undefined && ev.from !== from) {
          void transfers.answer(
            ev.id,
            "reject",
            `${creds.user} is waiting for a file from ${from}`,
          ).catch(() => {});
          return;
        }
        if (chosen !== null) {
          void transfers.answer(
            ev.id,
            "reject",
            `${creds.user} is busy receiving another file`,
          ).catch(() => {});
          return;
        }
        chosen = ev.id;
        offered(ev.id);
      },
      downloads: s.home,
      maxBytes,
      logger: s.logger,
      now: Date.now,
    });
    const p2p = pipeNode(identity, creds.user, () => session, s, (link) => {
      if (link.purpose === "file") transfers.adoptInbound(link);
      else link.conn.close();
    });
    const port = p2p.listen(0);
    try {
      session = await RegistrySession.open({
        target: s.target,
        credentials: creds,
        kind: "receive",
        p2pPort: port,
        cert: identity.certPem,
        key: identity.publicKey,
        logger: s.logger,
        onEvent: () => {},
        onStatus: (st) => {
          if (st.kind === "timeout" || st.kind === "ended") {
            ended = "logged out by the registry";
          }
        },
      });
      if (progress.enabled) {
        progress.note(
          `waiting for a file${from ? ` from ${from}` : ""} as ${creds.user}…`,
        );
      }
      const stop = new Promise<"signal">((resolve) => {
        if (ctx.signal.aborted) resolve("signal");
        ctx.signal.addEventListener("abort", () => resolve("signal"), {
          once: true,
        });
      });
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = timeoutMs > 0
        ? new Promise<"timeout">((resolve) =>
          timer = setTimeout(() => resolve("timeout"), timeoutMs)
        )
        : new Promise<never>(() => {});
      const first = await Promise.race([firstOffer, stop, timeout]);
      clearTimeout(timer);
      if (first === "signal") throw new UserError("cancelled");
      if (first === "timeout") {
        throw new UserError(`no file arrived within ${timeoutMs / 1000} s`);
      }
      const id = first;
      const result = transfers.result(id);
      if (!result) {
        throw new UserError("the sender went away before the transfer started");
      }
      try {
        await transfers.accept(id, dest);
      } catch (err) {
        // The offer may have ended meanwhile; its reason says more.
        const r = await Promise.race([result, Promise.resolve(null)]);
        if (r && !r.ok) throw new UserError(r.reason);
        throw err;
      }
      const r = await Promise.race([result, stop]);
      progress.done();
      if (r === "signal") {
        await transfers.answer(id, "cancel").catch(() => {});
        throw new UserError("cancelled");
      }
      if (!r.ok) throw new UserError(r.reason);
      if (ended) throw new UserError(ended);
      console.error(
        `received ${r.size} bytes, sha256 ${r.sha256} verified${
          r.path && output !== "-" ? ` → ${r.path}` : ""
        }`,
      );
      return 0;
    } finally {
      progress.done();
      await transfers.closeAll("the receiver stopped");
      await session?.close();
      await p2p.close();
      dest.close?.();
    }
  });
}

/**
 * Where `-o` points, checked before logging in so a bad path costs nobody a
 * transfer: a folder, a file (written to a part file, renamed into place
 * after verification), or something that is neither, like /dev/null or a
 * FIFO, written directly.
 */
async function destination(
  output: string | undefined,
  s: CommonSettings,
): Promise<Destination & { close?(): void }> {
  if (output === "-") {
    return { kind: "stream", sink: Deno.stdout, label: "stdout" };
  }
  if (output === undefined) {
    return { kind: "folder", dir: join(s.home, "downloads") };
  }
  const cannot = (why: string) =>
    new UserError(`cannot write to ${output}: ${why}`);
  let info: Deno.FileInfo | null = null;
  try {
    info = await Deno.stat(output);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw cannot(describe(err));
  }
  if (info?.isDirectory) return { kind: "folder", dir: output };
  if (info && !info.isFile) {
    // A device or a pipe: no part file can be renamed onto it.
    let file: Deno.FsFile;
    try {
      file = await Deno.open(output, { write: true });
    } catch (err) {
      throw cannot(describe(err));
    }
    return {
      kind: "stream",
      sink: file,
      label: output,
      close: () => file.close(),
    };
  }
  const dir = dirname(output);
  let parent: Deno.FileInfo;
  try {
    parent = await Deno.stat(dir);
  } catch (err) {
    throw cannot(
      err instanceof Deno.errors.NotFound
        ? `there is no folder ${dir}`
        : describe(err),
    );
  }
  if (!parent.isDirectory) throw cannot(`${dir} is not a folder`);
  return { kind: "file", path: output };
}

function describe(err: unknown): string {
  if (err instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (err instanceof Deno.errors.NotADirectory) {
    return "a part of the path is not a folder";
  }
  return err instanceof Error ? err.message : String(err);
}

/** CHAT_MAX_FILE_BYTES, as `chat peer` reads it: a whole number, 0 = no limit. */
function maxFileBytes(s: CommonSettings): number {
  const raw = s.env("CHAT_MAX_FILE_BYTES") || "0";
  if (!/^\d+$/.test(raw)) {
    throw new UserError(
      `CHAT_MAX_FILE_BYTES '${raw}' is not a number of bytes (0 = no limit)`,
    );
  }
  return Number(raw);
}

function corruptAt(s: CommonSettings): { corruptAt?: number } {
  const v = s.env("CHAT_FAULT_CORRUPT_AT");
  return v !== undefined && /^\d+$/.test(v) ? { corruptAt: Number(v) } : {};
}

/** The P2P node of a one-shot transfer: nobody is blocked, `onInbound` decides. */
function pipeNode(
  identity: PeerIdentity,
  user: string,
  session: () => RegistrySession | null,
  s: CommonSettings,
  onInbound: (link: P2PLink) => void,
): P2PNode {
  return new P2PNode({
    identity,
    self: () => ({ user, registryKey: session()?.registryKey ?? null }),
    isBlocked: () => false,
    onInbound,
    logger: s.logger,
  });
}
