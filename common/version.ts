/** The version `chat --version` reports, taken from deno.json at build time. */
import config from "../deno.json" with { type: "json" };

/** The version of this build. */
export const VERSION: string = config.version;
