import { assertEquals } from "../../../helpers/assert.ts";
import { EventLog } from "../../../../peer/front/web/event_log.ts";

Deno.test("event log", async (t) => {
  await t.step("numbers events and replays what a page missed", () => {
    const log = new EventLog();
    assertEquals(log.last, 0);
    assertEquals(log.append({ type: "a" }), `{"type":"a","seq":1}`);
    log.append({ type: "b" });
    log.append({ type: "c" });
    assertEquals(log.since(0), {
      lines: [
        `{"type":"a","seq":1}`,
        `{"type":"b","seq":2}`,
        `{"type":"c","seq":3}`,
      ],
      complete: true,
    });
    assertEquals(log.since(2).lines, [`{"type":"c","seq":3}`]);
    assertEquals(log.since(3), { lines: [], complete: true });
  });

  await t.step(
    "drops the oldest over its caps and says so to a page that needed them",
    () => {
      const log = new EventLog(3, 1_000_000);
      for (let i = 0; i < 5; i++) log.append({ type: `e${i}` });
      assertEquals(log.size, 3);
      assertEquals(log.last, 5);
      assertEquals(log.since(0).complete, false);
      assertEquals(log.since(1).complete, false);
      assertEquals(log.since(2), {
        lines: [
          `{"type":"e2","seq":3}`,
          `{"type":"e3","seq":4}`,
          `{"type":"e4","seq":5}`,
        ],
        complete: true,
      });
      const small = new EventLog(100, 50);
      for (let i = 0; i < 10; i++) small.append({ type: "x".repeat(10) });
      assertEquals(small.size, 1);
      assertEquals(small.since(9).complete, true);
      assertEquals(small.since(8).complete, false);
    },
  );
});
