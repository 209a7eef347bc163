/** Handlers of file transfers inside the peer: /send, /files, /file. */
import type { HandlerTable } from "../context.ts";

/** See the module doc. */
export const FILES: HandlerTable<"send" | "files" | "file"> = {
  send: (p, cmd) =>
    cmd.room
      ? p.transfers.sendFileToRoom(
        cmd.to,
        cmd.path,
        p.rooms.onlineOthers(cmd.to, p.self()),
        p.rooms.isMember(cmd.to, p.self()),
      )
      : p.transfers.sendFile(cmd.to, cmd.path),
  files: (p) => Promise.resolve({ transfers: p.transfers.list() }),
  file: (p, cmd) => p.transfers.answer(cmd.id, cmd.action),
};
