/** Byte searches in files a test inspects (a database, its WAL). */

const enc = new TextEncoder();

/** Whether `needle` occurs in the file at `path` (absent file: false). */
export async function fileHas(path: string, needle: string): Promise<boolean> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
  const n = enc.encode(needle);
  outer: for (let i = 0; i + n.length <= bytes.length; i++) {
    for (let j = 0; j < n.length; j++) {
      if (bytes[i + j] !== n[j]) continue outer;
    }
    return true;
  }
  return false;
}
