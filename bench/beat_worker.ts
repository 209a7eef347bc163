/**
 * Heartbeats for a load generator's sessions from a thread of their own.
 *
 * A load generator holds thousands of sessions in one event loop; when
 * thousands of them reconnect at once (a registry restart, an instance of a
 * cluster killed) its TLS handshakes hold that loop for seconds, and
 * heartbeats sent from it leave late: the registry then ends sessions whose
 * peers, each in a process of its own, would have beaten on time — and
 * those log in again, which measured the generator, not the registry. Here
 * the heartbeats go out from a worker with its own loop and UDP socket:
 * the generator says when a session starts and stops beating; the worker
 * beats each once a second (a fiftieth of them every 20 ms, as beatAll).
 */
import { encodeHeartbeat } from "../wire/mod.ts";

/** What the generator tells the worker. */
type ToWorker =
  | { type: "start"; udpPort: number }
  | { type: "on"; i: number; id: string; token: Uint8Array }
  | { type: "off"; i: number }
  | { type: "stop" };

/** What the worker reports: heartbeats sent and failed since the last. */
type FromWorker = { type: "sent"; beats: number; errors: number } | {
  type: "stopped";
};

/** The generator's side: one worker beating for many sessions. */
export class HeartbeatWorker {
  readonly #worker: Worker;
  #stopped: Promise<void> | null = null;
  #onStopped: () => void = () => {};

  /** `sent` is told the heartbeats sent and failed, about twice a second. */
  constructor(udpPort: number, sent: (beats: number, errors: number) => void) {
    this.#worker = new Worker(import.meta.url, { type: "module" });
    this.#worker.onmessage = (e: MessageEvent<FromWorker>) => {
      if (e.data.type === "sent") sent(e.data.beats, e.data.errors);
      else this.#onStopped();
    };
    this.#post({ type: "start", udpPort });
  }

  /** Session `i` beats from now on, its counter from 1. */
  on(i: number, id: string, token: Uint8Array): void {
    this.#post({ type: "on", i, id, token });
  }

  /** Session `i` stops beating. */
  off(i: number): void {
    this.#post({ type: "off", i });
  }

  /** Stops every heartbeat and the worker. */
  stop(): Promise<void> {
    this.#stopped ??= new Promise<void>((resolve) => {
      const timer = setTimeout(done, 2_000);
      const worker = this.#worker;
      function done() {
        clearTimeout(timer);
        worker.terminate();
        resolve();
      }
      this.#onStopped = done;
      this.#post({ type: "stop" });
    });
    return this.#stopped;
  }

  #post(msg: ToWorker): void {
    this.#worker.postMessage(msg);
  }
}

/** The worker's side. */
async function workerMain(): Promise<void> {
  const dgram = (await import("node:dgram")).default;
  const scope = self as unknown as {
    onmessage: ((e: MessageEvent<ToWorker>) => void) | null;
    postMessage(msg: FromWorker): void;
  };
  const sock = dgram.createSocket("udp4");
  sock.on("error", () => {});
  const SLOTS = 50;
  // Session i beats in the tick i % SLOTS.
  const ticks = Array.from(
    { length: SLOTS },
    () => new Map<number, { id: string; token: Uint8Array; seq: number }>(),
  );
  let udpPort = 0;
  let beats = 0;
  let errors = 0;
  let slot = 0;
  const sent = (err: Error | null) => (err ? errors++ : beats++);
  const timer = setInterval(() => {
    for (const s of ticks[slot]!.values()) {
      sock.send(
        encodeHeartbeat(s.id, ++s.seq, s.token),
        udpPort,
        "127.0.0.1",
        sent,
      );
    }
    slot = (slot + 1) % SLOTS;
  }, 1000 / SLOTS);
  const report = setInterval(() => {
    if (beats === 0 && errors === 0) return;
    scope.postMessage({ type: "sent", beats, errors });
    beats = 0;
    errors = 0;
  }, 500);
  scope.onmessage = (e) => {
    const m = e.data;
    if (m.type === "start") udpPort = m.udpPort;
    else if (m.type === "on") {
      ticks[m.i % SLOTS]!.set(m.i, { id: m.id, token: m.token, seq: 0 });
    } else if (m.type === "off") ticks[m.i % SLOTS]!.delete(m.i);
    else {
      clearInterval(timer);
      clearInterval(report);
      scope.postMessage({ type: "sent", beats, errors });
      sock.close(() => scope.postMessage({ type: "stopped" }));
    }
  };
}

// deno-lint-ignore no-explicit-any
if (typeof (globalThis as any).WorkerGlobalScope !== "undefined") {
  await workerMain();
}
