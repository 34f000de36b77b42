/**
 * The TypeScript blocks of the documentation: every ```ts (or ```typescript) block of README.md and of the
 * Markdown pages under docs/ (the generated API reference in docs/api aside), found by reading the pages, so
 * a page added later is checked without being listed anywhere. A block right after the line
 * `<!-- fragment -->` (or `<!-- fragment: why -->`) is a fragment (a piece of a larger program, or code for a
 * framework the test apps do not install): it is found, but not compiled. CONTRIBUTING.md says how to write a
 * block.
 */
import { readdirSync, readFileSync } from "fs";
import { join } from "path";

/** The marker, alone on the line before a block's opening fence, that leaves the block out of the compile. */
const FRAGMENT_MARKER = /^<!-- fragment(:[^>]*)? -->$/;

/** One TypeScript block of a page. */
export interface DocBlock {
  /** The page, relative to the repository root, with `/` separators: `README.md`, `docs/models.md`. */
  page: string;
  /** The page's line number (1-based) of the opening fence: the block's first code line is `line + 1`. */
  line: number;
  /** The nearest `## ` heading above the block, without the hashes (`""` before the first). */
  heading: string;
  /** Whether `<!-- fragment -->` (or `<!-- fragment: why -->`) precedes the block. */
  fragment: boolean;
  /** The code, with the fence's own indentation removed (blocks inside list items are indented). */
  code: string;
}

/** The pages whose blocks are checked: README.md, then every `.md` under docs/ except docs/api, by path. */
export function documentationPages(root: string): string[] {
  const docs = readdirSync(join(root, "docs"), { recursive: true, encoding: "utf8" })
    .map((file) => file.split("\\").join("/"))
    .filter((file) => file.endsWith(".md") && !file.startsWith("api/"))
    .sort()
    .map((file) => `docs/${file}`);
  return ["README.md", ...docs];
}

/** Every TypeScript block of one page's text. */
export function blocksOfPage(page: string, text: string): DocBlock[] {
  const lines = text.split("\n");
  const blocks: DocBlock[] = [];
  let heading = "";
  for (let i = 0; i < lines.length; i++) {
    const headingMatch = /^## +(.*)$/.exec(lines[i]);
    if (headingMatch) heading = headingMatch[1].trim();
    const fence = /^( *)(`{3,}|~{3,}) *(\w*)/.exec(lines[i]);
    if (!fence) continue;
    const [, indent, marks, language] = fence;
    // The closing fence: the same characters, at least as many, nothing after them.
    const close = lines.findIndex((line, j) => j > i && line.trim().startsWith(marks) && /^[`~]+$/.test(line.trim()));
    const end = close === -1 ? lines.length : close;
    if (language === "ts" || language === "typescript") {
      let before = i - 1;
      while (before >= 0 && lines[before].trim() === "") before--;
      blocks.push({
        page,
        line: i + 1,
        heading,
        fragment: before >= 0 && FRAGMENT_MARKER.test(lines[before].trim()),
        code: lines
          .slice(i + 1, end)
          .map((line) => (line.startsWith(indent) ? line.slice(indent.length) : line))
          .join("\n"),
      });
    }
    i = end; // no heading or fence inside a block counts
  }
  return blocks;
}

/** Every TypeScript block of README.md and docs/, page by page, top to bottom. */
export function docBlocks(root: string): DocBlock[] {
  return documentationPages(root).flatMap((page) => blocksOfPage(page, readFileSync(join(root, page), "utf8")));
}
