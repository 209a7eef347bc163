/**
 * File transfers (F16, F17) over their own authenticated P2P link each: the
 * table of transfers in flight (table.ts), sending (send.ts), receiving
 * (receive.ts) and where received bytes go (sink.ts), behind one Transfers
 * object that the Peer and the pipe commands both drive.
 *
 * offer (id, name, size or null) → accept / reject, or cancel from either
 * side → data frames → file_end with the SHA-256 of the stream → the
 * receiver checks size and hash and answers file_ok or file_fail. No
 * partial file is ever left behind.
 */
import { SYSTEM_CLOCK } from "../../../common/clock.ts";
import type { P2PLink } from "../../net/mod.ts";
import { UserError } from "../errors.ts";
import { Receiver } from "./receive.ts";
import {
  type ChunkSource,
  type FileOffered,
  type Offered,
  type RoomFileOffered,
  Sender,
} from "./send.ts";
import type { Destination } from "./sink.ts";
import {
  type TransferDeps,
  type TransferInfo,
  type TransferResult,
  TransferTable,
} from "./table.ts";

export {
  MAX_FILE_NAME_BYTES,
  numberedName,
  sanitizeFileName,
} from "./filenames.ts";
export {
  CHUNK_BYTES,
  type ChunkSource,
  type FileOffered,
  type Offered,
  openForReading,
  type RoomFileOffered,
} from "./send.ts";
export {
  type ChunkSink,
  closeQuietly,
  type Destination,
  removeStaleParts,
  STALE_PART_MS,
} from "./sink.ts";
export {
  OFFER_TTL_MS,
  type TransferDeps,
  type TransferInfo,
  type TransferResult,
} from "./table.ts";

/** The reply to /file accept|reject|cancel ID. */
export type FileAnswer =
  | (TransferInfo & { action: "accept" })
  | { id: string; action: "reject" | "cancel" };

/** What `new Transfers` takes: the clock may be left out (the system one). */
export type TransfersOptions =
  & Omit<TransferDeps, "clock">
  & Partial<Pick<TransferDeps, "clock">>;

/** See the module doc. */
export class Transfers {
  readonly #d: TransferDeps;
  readonly #table: TransferTable;
  readonly #send: Sender;
  readonly #receive: Receiver;

  constructor(o: TransfersOptions) {
    this.#d = { ...o, clock: o.clock ?? SYSTEM_CLOCK };
    this.#table = new TransferTable(this.#d);
    this.#send = new Sender(this.#table, this.#d);
    this.#receive = new Receiver(this.#table, this.#d);
  }

  /** Transfers in progress or waiting for an answer. */
  list(): TransferInfo[] {
    return this.#table.list();
  }

  /** The outcome of a transfer, once it ends. */
  result(id: string): Promise<TransferResult> | undefined {
    return this.#table.get(id)?.result;
  }

  /** /send NAME FILE: offers a file; the transfer continues in the background. */
  sendFile(to: string, path: string): Promise<FileOffered> {
    return this.#send.sendFile(to, path);
  }

  /** /send #ROOM FILE: one offer to every online member. */
  sendFileToRoom(
    room: string,
    path: string,
    members: string[],
    isMember: boolean,
  ): Promise<RoomFileOffered> {
    return this.#send.sendFileToRoom(room, path, members, isMember);
  }

  /** Offers a stream; see Sender.offer. */
  offer(
    to: string,
    source: ChunkSource,
    name: string,
    size: number | null,
    room?: string,
  ): Promise<Offered> {
    return this.#send.offer(to, source, name, size, room);
  }

  /** Takes ownership of an inbound file link: reads its offer and waits. */
  adoptInbound(link: P2PLink): void {
    this.#receive.adoptInbound(link);
  }

  /** Accepts an offer into a destination (default: the downloads folder). */
  accept(id: string, dest?: Destination): Promise<TransferInfo> {
    return this.#receive.accept(id, dest);
  }

  /** /file accept|reject|cancel ID. */
  async answer(
    id: string,
    action: "accept" | "reject" | "cancel",
    reason?: string,
  ): Promise<FileAnswer> {
    const t = this.#table.get(id);
    if (!t) {
      throw new UserError(
        `no transfer with id ${id} — /files lists them`,
        "state",
      );
    }
    if (action === "accept") {
      return { ...(await this.accept(id)), action };
    }
    if (action === "reject") {
      this.#receive.reject(t, reason);
      return { id, action };
    }
    this.#table.fail(t, `cancelled by ${this.#d.self()}`, true);
    return { id, action };
  }

  /** Stops everything with `user` (after /block). */
  forget(user: string): void {
    this.#table.forget(user);
  }

  /** Cancels every transfer and waits for the cleanup. */
  closeAll(reason: string): Promise<void> {
    return this.#table.closeAll(reason);
  }
}
