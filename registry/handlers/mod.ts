/**
 * The registry's request handlers, one file per domain, and the dispatch
 * table that joins them.
 *
 * To serve a new request type: declare it in wire/messages.ts (REQUESTS and
 * REPLIES), write a `Handler<"type">` in its domain's file and add it to
 * that file's routes. The table below is typed against every request type,
 * so one without a route does not compile.
 */
import { accountRoutes } from "./accounts.ts";
import { backlogRoutes } from "./backlog.ts";
import { deviceRoutes } from "./devices.ts";
import { introductionRoutes } from "./introductions.ts";
import { offlineRoutes } from "./offline.ts";
import { roomRoutes } from "./rooms.ts";
import type { Routes } from "./route.ts";
import { socialRoutes } from "./social.ts";

/** Each domain's routes, by domain (a request type belongs to one). */
export const DOMAINS = {
  accounts: accountRoutes,
  devices: deviceRoutes,
  social: socialRoutes,
  rooms: roomRoutes,
  offline: offlineRoutes,
  backlog: backlogRoutes,
  introductions: introductionRoutes,
} as const;

/** The dispatch table: the route of every request type but hello. */
export const ROUTES: Routes = {
  ...accountRoutes,
  ...deviceRoutes,
  ...socialRoutes,
  ...roomRoutes,
  ...offlineRoutes,
  ...backlogRoutes,
  ...introductionRoutes,
};

export {
  type ClientState,
  DEFAULT_SERVICE_CONFIG,
  HEARTBEAT_FLOOD_DATAGRAMS_PER_S,
  logFrom,
  type LoggedIn,
  type RelayDesk,
  type ServiceConfig,
  type ServiceContext,
  type ServiceStats,
  sweepIntervalFor,
} from "./context.ts";
export {
  event,
  type GateRequestType,
  type Handler,
  type OpenRoute,
  Refused,
  type Route,
  type Routes,
} from "./route.ts";
export {
  acceptBeat,
  acceptHeartbeat,
  cameBack,
  endSession,
  startSweeping,
  sweep,
  wentOffline,
} from "./presence.ts";
export { endReplaced } from "./accounts.ts";
export { endDeviceSessions } from "./devices.ts";
