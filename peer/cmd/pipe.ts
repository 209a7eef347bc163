/**
 * `chat send` and `chat receive` (F17): a file or a pipe streamed directly
 * between two machines, in constant memory, verified end to end. Each side
 * opens an endpoint for its own duration — the sender as a tool session
 * that only dials, the receiver as a receive session that file offers for
 * its user are routed to — and drives the core's Transfers over it, as the
 * Peer does.
 */
import { dirname, join } from "node:path";
import {
  type CommandContext,
  receiveSettings,
  sendSettings,
} from "../../cli/mod.ts";
import { SYSTEM_CLOCK } from "../../common/clock.ts";
import { aborted } from "../../common/signals.ts";
import {
  type ChunkSource,
  closeQuietly,
  type Destination,
  openForReading,
  type PeerEvent,
  Transfers,
  UserError,
} from "../core/mod.ts";
import {
  askYesNo,
  contactNoticeText,
  pathWords,
  ProgressLine,
  showBytes,
  stdinIsTerminal,
} from "../front/mod.ts";
import {
  Endpoint,
  LinkError,
  RegistryError,
  type SessionStatus,
} from "../net/mod.ts";
import { MAX_PAGE_ITEMS } from "../../wire/mod.ts";
import { oneLineErrors } from "./errors.ts";
import { credentials, openTerminal, rememberLogin, setUp } from "./options.ts";

/** `chat send NAME [FILE|-] [--name N]`. */
export function send(ctx: CommandContext): Promise<number> {
  return oneLineErrors(async () => {
    const s = sendSettings(ctx);
    const to = s.to;
    if (s.path === null && stdinIsTerminal()) {
      // Nothing is piped in: sending what is typed is rarely meant.
      if (!s.named) {
        throw new UserError(
          `nothing is piped into chat send and stdin is a terminal — give a FILE, pipe the data in (tar c dir | chat send ${to} -), or pass --name NAME to send what you type (end it with Ctrl-D)`,
        );
      }
      console.error(
        `chat: sending what you type as ${s.name} — end it with Ctrl-D`,
      );
    }
    // Questions are asked on stdin when it is a terminal that is not the
    // data, else on the terminal itself when there is one.
    using tty = s.path === null || !stdinIsTerminal()
      ? await openTerminal()
      : null;
    const c = tty
      ? await setUp(s, true, tty)
      : await setUp(s, s.path !== null && stdinIsTerminal());
    let size: number | null = null;
    let source: ChunkSource & Disposable = {
      read: (p) => Deno.stdin.read(p),
      [Symbol.dispose]: () => {},
    };
    if (s.path !== null) {
      const opened = await openForReading(s.path, to);
      size = opened.size;
      source = opened.file;
    }
    using _source = source;
    const creds = await credentials(s, c);
    const progress = new ProgressLine(Deno.stderr);
    let failed: string | null = null;
    await using endpoint = await Endpoint.open({
      target: c.target,
      credentials: creds,
      kind: "tool",
      home: c.home,
      logger: c.logger,
      onStatus: (st) => failed ??= loggedOut(st),
      onContact: (n) => {
        // First contacts pin quietly; changes are loud.
        if (n.change !== "pinned") console.error(contactNoticeText(n));
      },
    });
    await rememberLogin(c, creds.user);
    const transfers = new Transfers({
      self: () => creds.user,
      dial: async (user) => {
        try {
          return (await endpoint.links.open(user, "file")).link;
        } catch (err) {
          if (!(err instanceof LinkError)) throw err;
          throw new UserError(
            err.code === "offline"
              ? `${user} is offline — ask them to run chat peer or chat receive`
              : err.message,
            err.code,
          );
        }
      },
      emit: (ev: PeerEvent) => {
        if (ev.type === "file_progress") progress.update(ev);
      },
      downloads: c.home,
      maxBytes: 0,
      logger: c.logger,
      ...(s.faults.corruptAt !== undefined
        ? { corruptAt: s.faults.corruptAt }
        : {}),
    });
    await using _transfers = closing(transfers, "the sender stopped");
    try {
      const t = await transfers.offer(to, source, s.name, size);
      if (progress.enabled) {
        progress.note(`waiting for ${to} to accept ${t.name}…`);
      }
      const abort = aborted(ctx.signal).then(() => "signal" as const);
      const r = await Promise.race([t.result, abort]);
      if (r === "signal") {
        await transfers.answer(t.id, "cancel").catch(() => {});
        throw new UserError("cancelled");
      }
      progress.done();
      if (!r.ok) throw new UserError(r.reason);
      if (failed) throw new UserError(failed);
      console.error(
        `sent ${t.name} to ${to}: ${
          sizeWords(r.size)
        }, sha256 ${r.sha256} verified by ${to} (${pathWords(r.via)})`,
      );
      return 0;
    } finally {
      progress.done();
    }
  });
}

/** `chat receive [--from NAME] [-o PATH|-] [--timeout S]`. */
export function receive(ctx: CommandContext): Promise<number> {
  return oneLineErrors(async () => {
    const s = receiveSettings(ctx);
    const { from, output, timeoutMs } = s;
    const c = await setUp(s, stdinIsTerminal());
    using dest = await destination(output, c.home, s.force, c.interactive);
    const creds = await credentials(s, c);
    const progress = new ProgressLine(Deno.stderr);
    let chosen: string | null = null;
    let offered!: (offer: Offer) => void;
    const firstOffer = new Promise<Offer>((resolve) => offered = resolve);
    let ended: string | null = null;
    let endpoint: Endpoint | null = null;
    let opened!: () => void;
    const ready = new Promise<void>((resolve) => opened = resolve);
    const say = (line: string) => {
      progress.done();
      console.error(line);
    };
    const refuse = (ev: Offer, reason: string) =>
      void transfers.answer(ev.id, "reject", reason).catch(() => {});
    // Offers are considered one at a time: a question on the terminal, or
    // the registry's word on who is a friend, settles one before the next.
    let considering = Promise.resolve();
    const consider = async (ev: Offer): Promise<void> => {
      if (chosen !== null) {
        return refuse(ev, `${creds.user} is busy receiving another file`);
      }
      if (from !== undefined) {
        if (ev.from === from) return take(ev);
        return refuse(ev, `${creds.user} is waiting for a file from ${from}`);
      }
      // Without --from, only friends get in silently (F17): anyone can
      // find a receive session and push a tar into `| tar x`.
      await ready;
      if (await isFriend(endpoint!, ev.from)) return take(ev);
      if (chosen !== null) {
        return refuse(ev, `${creds.user} is busy receiving another file`);
      }
      const what = `${ev.name} (${
        ev.size === null ? "size unknown" : showBytes(ev.size)
      })`;
      if (c.interactive) {
        progress.done();
        const yes = await askYesNo(
          `${ev.from}, who is not your friend, offers ${what}. Take it?`,
        );
        if (chosen !== null) {
          return refuse(ev, `${creds.user} is busy receiving another file`);
        }
        if (yes) return take(ev);
        return refuse(ev, `${creds.user} turned the file down`);
      }
      say(
        `chat: refused ${what} from ${ev.from}: not a friend — ` +
          `chat receive --from ${ev.from} takes it`,
      );
      refuse(
        ev,
        `${creds.user} takes files only from friends — ask them to run chat receive --from ${ev.from}`,
      );
    };
    const take = (ev: Offer) => {
      chosen = ev.id;
      offered(ev);
    };
    const transfers: Transfers = new Transfers({
      self: () => creds.user,
      dial: () => Promise.reject(new UserError("chat receive does not send")),
      emit: (ev: PeerEvent) => {
        if (ev.type === "file_progress") progress.update(ev);
        if (ev.type === "error") {
          // An offer over CHAT_MAX_FILE_BYTES or a limit was refused: say
          // so, wait on.
          say(`chat: ${ev.message}`);
        }
        if (ev.type !== "file_offer") return;
        considering = considering.then(() => consider(ev)).catch((err) => {
          refuse(ev, `${creds.user} could not check the offer`);
          c.logger.warn("offer check failed", { error: String(err) });
        });
      },
      downloads: c.home,
      maxBytes: s.maxFileBytes,
      logger: c.logger,
      // A room file is taken only from a member of a room we are in, which
      // the registry's member list says (see Transfers' room check).
      checkRoom: async (room, user) => {
        await ready;
        return await roomRefusal(endpoint!, room, user);
      },
    });
    endpoint = await Endpoint.open({
      target: c.target,
      credentials: creds,
      kind: "receive",
      listen: { port: 0, host: s.listenHost },
      home: c.home,
      logger: c.logger,
      onInbound: (link) => {
        if (link.purpose === "file") transfers.adoptInbound(link);
        else link.conn.close();
      },
      onStatus: (st) => ended ??= loggedOut(st),
      onContact: (n) => {
        // First contacts pin quietly; changes are loud.
        if (n.change !== "pinned") console.error(contactNoticeText(n));
      },
    });
    await rememberLogin(c, creds.user);
    opened();
    await using _endpoint = endpoint;
    await using _transfers = closing(transfers, "the receiver stopped");
    try {
      if (progress.enabled) {
        progress.note(
          `waiting for a file${from ? ` from ${from}` : ""} as ${creds.user}…`,
        );
      }
      const stop = aborted(ctx.signal).then(() => "signal" as const);
      let cancelTimeout = () => {};
      const timeout = timeoutMs > 0
        ? new Promise<"timeout">((resolve) =>
          cancelTimeout = SYSTEM_CLOCK.after(
            timeoutMs,
            () => resolve("timeout"),
          )
        )
        : new Promise<never>(() => {});
      const first = await Promise.race([firstOffer, stop, timeout]);
      cancelTimeout();
      if (first === "signal") throw new UserError("cancelled");
      if (first === "timeout") {
        throw new UserError(`no file arrived within ${timeoutMs / 1000} s`);
      }
      const { id, from: sender } = first;
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
        `received ${
          sizeWords(r.size)
        } from ${sender}, sha256 ${r.sha256} verified${
          r.path && output !== "-" ? ` → ${r.path}` : ""
        } (${pathWords(r.via)})`,
      );
      return 0;
    } finally {
      progress.done();
    }
  });
}

/** A file offer as `chat receive` weighs it. */
type Offer = Extract<PeerEvent, { type: "file_offer" }>;

/** True if the registry says `user` is our friend. */
async function isFriend(endpoint: Endpoint, user: string): Promise<boolean> {
  const p = await endpoint.session.request("profile", { user });
  return p.friend === "friends";
}

/**
 * Why a file offered in `room` by `user` is refused, or null: the room must
 * exist, and both we and the sender must be members of it.
 */
async function roomRefusal(
  endpoint: Endpoint,
  room: string,
  user: string,
): Promise<string | null> {
  let state;
  try {
    state = await endpoint.session.request("room_members", {
      room,
      limit: MAX_PAGE_ITEMS,
    });
  } catch (err) {
    if (!(err instanceof RegistryError) || err.code === "network") throw err;
    return `there is no room #${room} that ${endpoint.user} is in`;
  }
  const members = new Set(state.members.map((m) => m.user));
  if (!members.has(endpoint.user)) {
    return `${endpoint.user} is not a member of #${room}`;
  }
  if (!members.has(user)) return `${user} is not a member of #${room}`;
  return null;
}

/** Why a session status ends a pipe command, or null if it does not. */
function loggedOut(st: SessionStatus): string | null {
  return (st.kind === "timeout" && !st.again) || st.kind === "ended"
    ? "logged out by the registry"
    : null;
}

/** Cancels every transfer of `transfers` with `reason` when disposed. */
function closing(transfers: Transfers, reason: string): AsyncDisposable {
  return { [Symbol.asyncDispose]: () => transfers.closeAll(reason) };
}

/**
 * Where `-o` points, checked before logging in so a bad path costs nobody a
 * transfer: a folder, a file (written to a part file, renamed into place
 * after verification), or something that is neither, like /dev/null or a
 * FIFO, written directly.
 */
async function destination(
  output: string | undefined,
  home: string,
  force: boolean,
  interactive: boolean,
): Promise<Destination & Disposable> {
  const none = { [Symbol.dispose]: () => {} };
  if (output === "-") {
    return { kind: "stream", sink: Deno.stdout, label: "stdout", ...none };
  }
  if (output === undefined) {
    return { kind: "folder", dir: join(home, "downloads"), ...none };
  }
  const cannot = (why: string) =>
    new UserError(`cannot write to ${output}: ${why}`);
  let info: Deno.FileInfo | null = null;
  try {
    info = await Deno.stat(output);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw cannot(describe(err));
  }
  if (info?.isDirectory) return { kind: "folder", dir: output, ...none };
  if (info?.isFile && !force) {
    // Replacing a file silently loses it, as wormhole and croc agree.
    const yes = interactive &&
      await askYesNo(`${output} exists (${showBytes(info.size)}). Replace it?`);
    if (!yes) {
      throw new UserError(
        `${output} exists — pass --force to replace it, or choose another -o`,
      );
    }
  }
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
      [Symbol.dispose]: () => closeQuietly(file),
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
  return { kind: "file", path: output, ...none };
}

function describe(err: unknown): string {
  if (err instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (err instanceof Deno.errors.NotADirectory) {
    return "a part of the path is not a folder";
  }
  return err instanceof Error ? err.message : String(err);
}

/** A size for people, with the exact count beside it: "1.5 MiB (1572864 bytes)". */
function sizeWords(n: number): string {
  return n < 1024 ? `${n} bytes` : `${showBytes(n)} (${n} bytes)`;
}
