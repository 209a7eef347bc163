/**
 * Unit tests of peer/filenames.ts: whatever name a sender claims, the
 * receiver makes one plain, short, visible file name of it, and numbers
 * alternatives instead of overwriting. The same names travel through the
 * real protocol in files_test.ts.
 */
import {
  MAX_FILE_NAME_BYTES,
  numberedName,
  sanitizeFileName,
} from "../../../peer/core/transfers/filenames.ts";
import { assert, assertEquals } from "../../helpers/assert.ts";

const utf8 = (s: string) => new TextEncoder().encode(s).length;

/** True when `name` is one safe path component. */
function isPlainName(name: string): boolean {
  return name.length > 0 &&
    // deno-lint-ignore no-control-regex
    !/[/\\\u0000-\u001f\u007f-\u009f]/.test(name) &&
    name !== "." && name !== ".." && !name.startsWith(".") &&
    utf8(name) <= MAX_FILE_NAME_BYTES;
}

Deno.test("sanitizeFileName keeps ordinary names as they are", () => {
  for (
    const name of [
      "report.pdf",
      "photo 2024-05-01.jpg",
      "naïve café.txt",
      "日本語のファイル.txt",
      "archive.tar.gz",
      "no-extension",
      "😀.png",
    ]
  ) {
    assertEquals(sanitizeFileName(name), name);
  }
});

Deno.test("sanitizeFileName keeps only the last component of any path", async (t) => {
  const cases: [string, string][] = [
    ["../../etc/passwd", "passwd"],
    ["/etc/shadow", "shadow"],
    ["..\\..\\Windows\\System32\\drivers\\etc\\hosts", "hosts"],
    ["C:\\Users\\bob\\secret.txt", "secret.txt"],
    ["dir/sub\\mixed/name.txt", "name.txt"],
    ["a/b/../c", "c"],
  ];
  for (const [raw, want] of cases) {
    await t.step(JSON.stringify(raw), () => {
      assertEquals(sanitizeFileName(raw), want);
    });
  }
});

Deno.test("sanitizeFileName turns names that are empty or only dots into 'file'", () => {
  for (
    const raw of [
      "",
      ".",
      "..",
      "...",
      ".....",
      "../..",
      "/",
      "\\",
      "   ",
      " . . ",
      "\u0000",
      "\u0001\u0002\u001f",
      "../",
      '<>:"|?*',
    ]
  ) {
    assertEquals(sanitizeFileName(raw), "file", JSON.stringify(raw));
  }
});

Deno.test("sanitizeFileName never makes a hidden file and drops trailing dots and spaces", () => {
  assertEquals(sanitizeFileName(".bashrc"), "bashrc");
  assertEquals(sanitizeFileName("..hidden.txt"), "hidden.txt");
  assertEquals(sanitizeFileName("name.txt. . "), "name.txt");
  assertEquals(sanitizeFileName("  padded.txt  "), "padded.txt");
});

Deno.test("sanitizeFileName removes NUL, control characters and characters Windows forbids", () => {
  assertEquals(sanitizeFileName("evil\u0000.txt"), "evil.txt");
  assertEquals(
    sanitizeFileName("bell\u0007\u001b[31mred.txt"),
    "bell[31mred.txt",
  );
  assertEquals(sanitizeFileName("new\nline\r.txt"), "newline.txt");
  assertEquals(sanitizeFileName("del\u007f.txt"), "del.txt");
  assertEquals(sanitizeFileName("c1\u0085\u009b.txt"), "c1.txt");
  assertEquals(sanitizeFileName("sep\u2028\u2029.txt"), "sep.txt");
  assertEquals(sanitizeFileName('a<b>c:d"e|f?g*h.txt'), "abcdefgh.txt");
  assertEquals(sanitizeFileName("tab\there.txt"), "tabhere.txt");
});

Deno.test("sanitizeFileName removes bidirectional overrides that disguise an extension", () => {
  assertEquals(sanitizeFileName("invoice\u202etxt.exe"), "invoicetxt.exe");
  assertEquals(sanitizeFileName("\u2066a\u2069\u200e\u200f.pdf"), "a.pdf");
});

Deno.test("sanitizeFileName prefixes Windows reserved device names", () => {
  for (
    const raw of [
      "CON",
      "con",
      "PRN",
      "aux",
      "NUL",
      "nul.txt",
      "COM1",
      "com9.log",
      "LPT1",
      "lpt3.tar.gz",
      "con.",
      "aux ",
    ]
  ) {
    const got = sanitizeFileName(raw);
    assert(got.startsWith("_"), `${JSON.stringify(raw)} became ${got}`);
    assertEquals(got.slice(1), raw.replace(/[. ]+$/, ""));
  }
  // Names that merely start like a device are fine.
  assertEquals(sanitizeFileName("console.log"), "console.log");
  assertEquals(sanitizeFileName("auxiliary.txt"), "auxiliary.txt");
  assertEquals(sanitizeFileName("com10"), "com10");
});

Deno.test("sanitizeFileName prefixes device names Windows matches loosely", () => {
  // Superscript digits count as digits, blanks before the extension are
  // ignored, and the console devices have names of their own.
  for (
    const [raw, want] of <[string, string][]> [
      ["COM\u00b9", "_COM\u00b9"],
      ["lpt\u00b2.txt", "_lpt\u00b2.txt"],
      ["com\u00b3", "_com\u00b3"],
      ["NUL   .txt", "_NUL   .txt"],
      ["aux\t.tar.gz", "_aux.tar.gz"],
      ["CONIN$", "_CONIN$"],
      ["conout$.log", "_conout$.log"],
      ["con\u200b.txt", "_con.txt"],
      ["\u3164nul.txt", "_nul.txt"],
    ]
  ) {
    assertEquals(sanitizeFileName(raw), want, JSON.stringify(raw));
  }
  assertEquals(sanitizeFileName("COM\u00b9\u00b9"), "COM\u00b9\u00b9");
  assertEquals(sanitizeFileName("nulls .txt"), "nulls .txt");
});

Deno.test("sanitizeFileName removes characters that show nothing", async (t) => {
  for (
    const [raw, want] of <[string, string][]> [
      ["a\u061cb.txt", "ab.txt"],
      ["\u200breport.pdf", "report.pdf"],
      ["re\u200bport.pdf", "report.pdf"],
      ["\u3164", "file"],
      ["\u3164\u3164.txt", "txt"],
      ["\ufeffnotes.md", "notes.md"],
      ["soft\u00adhyphen", "softhyphen"],
      ["\u2060\u2061\u2062\u2063\u2064x", "x"],
      ["fill\u115f\u1160\uffa0er", "filler"],
      ["tag\udb40\udc41\udb40\udc7f.txt", "tag.txt"],
      ["\u200d.bashrc", "bashrc"],
      ["name\u200c.txt\u200d", "name.txt"],
    ]
  ) {
    await t.step(JSON.stringify(raw), () => {
      assertEquals(sanitizeFileName(raw), want);
    });
  }
  // Joiners inside a word or an emoji sequence are kept.
  const family = "\u{1f468}\u200d\u{1f469}\u200d\u{1f467}.png";
  assertEquals(sanitizeFileName(family), family);
  assertEquals(
    sanitizeFileName("\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645.txt"),
    "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645.txt",
  );
});

Deno.test("sanitizeFileName caps a 10,000-character name and keeps its extension", () => {
  const got = sanitizeFileName("a".repeat(10_000) + ".txt");
  assertEquals(utf8(got), MAX_FILE_NAME_BYTES);
  assert(got.endsWith(".txt"));
  assert(isPlainName(got));
  const noExt = sanitizeFileName("b".repeat(10_000));
  assertEquals(noExt, "b".repeat(MAX_FILE_NAME_BYTES));
});

Deno.test("sanitizeFileName caps multi-byte names in bytes without splitting a character", () => {
  for (const unit of ["é", "€", "😀", "日"]) {
    const got = sanitizeFileName(unit.repeat(16_384) + ".bin");
    assert(utf8(got) <= MAX_FILE_NAME_BYTES, `${unit}: ${utf8(got)} bytes`);
    assert(utf8(got) > MAX_FILE_NAME_BYTES - 8, `${unit}: cut too much`);
    assert(got.endsWith(".bin"));
    // No lone surrogate: encoding round-trips.
    assertEquals(
      new TextDecoder().decode(new TextEncoder().encode(got)),
      got,
    );
    assert(got.slice(0, -4).split("").length % unit.length === 0);
  }
});

Deno.test("sanitizeFileName always yields one plain name for random hostile input", () => {
  let seed = 7;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed / 2 ** 32;
  };
  const alphabet = [
    ".",
    "/",
    "\\",
    "\u0000",
    "\n",
    " ",
    "a",
    "é",
    "😀",
    "\u202e",
    ":",
    "con",
  ];
  for (let i = 0; i < 2000; i++) {
    let raw = "";
    const len = Math.floor(rand() * 40);
    for (let j = 0; j < len; j++) {
      raw += alphabet[Math.floor(rand() * alphabet.length)]!;
    }
    const got = sanitizeFileName(raw);
    assert(isPlainName(got), `${JSON.stringify(raw)} → ${JSON.stringify(got)}`);
    assertEquals(sanitizeFileName(got), got, "sanitising is idempotent");
  }
});

Deno.test("numberedName puts the number before a short extension", () => {
  assertEquals(numberedName("report.pdf", 0), "report.pdf");
  assertEquals(numberedName("report.pdf", 1), "report (1).pdf");
  assertEquals(numberedName("report.pdf", 12), "report (12).pdf");
  assertEquals(numberedName("README", 2), "README (2)");
  assertEquals(numberedName("archive.tar.gz", 1), "archive (1).tar.gz");
  assertEquals(numberedName("x.TAR.XZ", 3), "x (3).TAR.XZ");
  assertEquals(numberedName(".tar.gz", 1), ".tar (1).gz");
  // A long "extension" is not one.
  assertEquals(
    numberedName("a.this-is-not-an-extension", 1),
    "a.this-is-not-an-extension (1)",
  );
});

Deno.test("numberedName stays a plain name for the longest sanitised names", () => {
  const long = sanitizeFileName("x".repeat(10_000) + ".txt");
  const n = numberedName(long, 9999);
  assert(n.endsWith(" (9999).txt"));
  assert(utf8(n) <= 255, `${utf8(n)} bytes is too long for most file systems`);
});
