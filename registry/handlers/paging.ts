/**
 * Paging of list replies: the page a request asks for, the leading entries
 * that fit the byte budget of one reply, and the `total` / `next_offset` a
 * paged reply carries. A page is cut by count and by encoded size, so no
 * list can make a reply outgrow the frame.
 *
 * A reply carries `total` when the request asked for a page (`offset` or
 * `limit`) or when the page does not hold the whole list; a client that
 * never pages and whose list fits sees the reply it always saw.
 */
import { DEFAULT_PAGE_ITEMS, MAX_PAGE_BYTES } from "../../wire/mod.ts";
import type { Page } from "../store.ts";

const utf8 = new TextEncoder();

/** A page as a request names it, and whether it named one at all. */
export interface PageAsked extends Page {
  asked: boolean;
}

/** The page a request names (offset 0 and the default size when absent). */
export function pageOf(req: { offset?: number; limit?: number }): PageAsked {
  return {
    offset: req.offset ?? 0,
    limit: req.limit ?? DEFAULT_PAGE_ITEMS,
    asked: req.offset !== undefined || req.limit !== undefined,
  };
}

/** The leading `items` whose encodings fit in `budget` bytes (at least one). */
export function fitBytes<T>(items: T[], budget = MAX_PAGE_BYTES): T[] {
  let used = 0;
  for (let i = 0; i < items.length; i++) {
    // One byte for the comma between entries.
    used += utf8.encode(JSON.stringify(items[i])).length + 1;
    if (used > budget && i > 0) return items.slice(0, i);
  }
  return items;
}

/**
 * `total`, and `next_offset` when entries follow the `shown` ones; nothing
 * for a request that named no page and got the whole list.
 */
export function pageInfo(
  page: Page & { asked?: boolean },
  shown: number,
  total: number,
): { total?: number; next_offset?: number } {
  const next = page.offset + shown;
  if (next < total) return { total, next_offset: next };
  return page.asked === false && page.offset === 0 ? {} : { total };
}

/** One page of an in-memory list: its entries cut to fit, and the page info. */
export function pageList<T>(
  all: T[],
  page: Page & { asked?: boolean },
): { items: T[]; total?: number; next_offset?: number } {
  const items = fitBytes(all.slice(page.offset, page.offset + page.limit));
  return { items, ...pageInfo(page, items.length, all.length) };
}
