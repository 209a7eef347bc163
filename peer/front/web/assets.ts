/**
 * The page's files, part of the program: imported as text, so `deno
 * compile` puts them in the binary and nothing is read from disk or fetched
 * from elsewhere at run time.
 */
import appCss from "./assets/app.css" with { type: "text" };
import appJs from "./assets/app.js" with { type: "text" };
import iconSvg from "./assets/icon.svg" with { type: "text" };
import indexHtml from "./assets/index.html" with { type: "text" };
import markupJs from "./assets/markup.js" with { type: "text" };
import stateJs from "./assets/state.js" with { type: "text" };

/** One file of the page. */
export interface Asset {
  type: string;
  body: string;
}

const JS = "text/javascript; charset=utf-8";

/** The page's files by URL path. */
export const ASSETS: Record<string, Asset> = {
  "/": { type: "text/html; charset=utf-8", body: indexHtml },
  "/app.css": { type: "text/css; charset=utf-8", body: appCss },
  "/app.js": { type: JS, body: appJs },
  "/markup.js": { type: JS, body: markupJs },
  "/state.js": { type: JS, body: stateJs },
  "/icon.svg": { type: "image/svg+xml", body: iconSvg },
};
