/**
 * The table of transfers in flight (peer/core/transfers/table.ts): unknown
 * ids are clear errors, and unanswered offers expire on the clock the
 * transfers were given.
 */
import { OFFER_TTL_MS } from "../../../../peer/core/transfers/mod.ts";
import { assert, assertEquals } from "../../../helpers/assert.ts";
import { ManualClock } from "../../../helpers/clock.ts";
import { until } from "../../../helpers/registry.ts";
import { heldSource, linkPair, side } from "./support.ts";

Deno.test("accepting or answering an unknown transfer is a clear error", async () => {
  await using recv = await side("bob");
  for (const action of ["accept", "reject", "cancel"] as const) {
    let message = "";
    try {
      await recv.transfers.answer("nosuchid", action);
    } catch (err) {
      message = (err as Error).message;
    }
    assertEquals(message, "no transfer with id nosuchid — /files lists them");
  }
});

/** A sender and a receiver over one loopback link, each on its own manual clock. */
async function clockedPair() {
  const { sending, receiving } = await linkPair();
  const clocks = {
    alice: new ManualClock(Date.now()),
    bob: new ManualClock(Date.now()),
  };
  const alice = await side("alice", {
    dial: () => sending,
    clock: clocks.alice,
  });
  const bob = await side("bob", { clock: clocks.bob });
  bob.transfers.adoptInbound(receiving);
  const source = heldSource();
  const t = await alice.transfers.offer("bob", source, "late.txt", 3);
  await bob.event("file_offer");
  return { alice, bob, clocks, t };
}

const failures = (s: { events: { type: string }[] }) =>
  s.events.filter((e) => e.type === "transfer_failed");

Deno.test("an offer nobody answers expires after ten minutes on the sender's clock", async () => {
  const { alice, bob, clocks, t } = await clockedPair();
  await using _a = alice;
  await using _b = bob;
  clocks.alice.advance(OFFER_TTL_MS - 1);
  assertEquals(failures(alice), [], "a millisecond early nothing happens");
  assertEquals(alice.transfers.list().length, 1);
  clocks.alice.advance(1);
  const r = await t.result;
  assert(!r.ok);
  assertEquals(r.reason, "bob did not answer within 10 minutes");
  // The receiver is told, with the sender's reason.
  const failed = await bob.event("transfer_failed");
  assertEquals(
    failed.reason,
    "alice stopped the transfer: bob did not answer within 10 minutes",
  );
  assertEquals(bob.transfers.list(), []);
});

Deno.test("an offer left unanswered expires on the receiver's clock too, and the sender hears why", async () => {
  const { alice, bob, clocks, t } = await clockedPair();
  await using _a = alice;
  await using _b = bob;
  clocks.bob.advance(OFFER_TTL_MS);
  const failed = await bob.event("transfer_failed");
  assertEquals(failed.reason, "the offer was not answered in time");
  const r = await t.result;
  assert(!r.ok);
  assertEquals(
    r.reason,
    "bob stopped the transfer: the offer was not answered in time",
  );
  await until(() => alice.transfers.list().length === 0, "alice's side gone");
});

Deno.test("an accepted offer no longer expires", async () => {
  const { alice, bob, clocks, t } = await clockedPair();
  await using _a = alice;
  await using _b = bob;
  const offer = await bob.event("file_offer");
  await bob.transfers.accept(offer.id);
  await until(
    () => alice.transfers.list()[0]?.state === "active",
    "alice to see the accept",
  );
  clocks.alice.advance(OFFER_TTL_MS * 2);
  clocks.bob.advance(OFFER_TTL_MS * 2);
  assertEquals(failures(alice), []);
  assertEquals(failures(bob), []);
  await alice.transfers.answer(t.id, "cancel");
});
