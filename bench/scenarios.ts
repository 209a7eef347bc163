/**
 * Every benchmark scenario `deno task bench` runs, in order. To add one,
 * write bench/<name>.ts exporting a Scenario (see bench/harness.ts) and
 * append it here.
 */
import type { Scenario } from "./harness.ts";
import { startupScenario } from "./startup.ts";
import { pipeThroughputScenario } from "./pipe_throughput.ts";
import { roomFanoutScenario } from "./room_fanout.ts";
import { directMessageScenario } from "./direct_message.ts";
import { registryLoadScenarios } from "./registry_load.ts";
import { reliabilityLoadScenario } from "./reliability_load.ts";
import { deviceLoginScenario } from "./device_login.ts";
import { soakScenario } from "./soak.ts";
import { webUiScenario } from "./web_ui.ts";
import { relayScenario } from "./relay_link.ts";
import { clusterScenario } from "./cluster.ts";
import { shellInputScenario } from "./shell_input.ts";
import { udpFloodScenario } from "./udp_flood.ts";

/** The registered scenarios; ids must be unique. */
export const SCENARIOS: Scenario[] = [
  startupScenario,
  pipeThroughputScenario,
  roomFanoutScenario,
  directMessageScenario,
  ...registryLoadScenarios,
  relayScenario,
  deviceLoginScenario,
  reliabilityLoadScenario,
  soakScenario,
  udpFloodScenario,
  webUiScenario,
  shellInputScenario,
  clusterScenario,
];
