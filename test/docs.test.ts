/**
 * The documentation's own checks that need no database: the consumer test finds the TypeScript blocks the way
 * these tests say (fragments marked, indentation removed, headings known), every page starts with what the
 * reader can do after reading it, and every relative link of README.md, CONTRIBUTING.md and docs/ leads to a
 * file that exists and, with a `#fragment`, to a heading of that page.
 */
import { existsSync, readFileSync } from "fs";
import { dirname, join, normalize } from "path";
import { blocksOfPage, docBlocks, documentationPages } from "./consumer/doc-blocks";

const ROOT = join(__dirname, "..");

describe("finding the TypeScript blocks of a page", () => {
  const page = [
    "# Title",
    "```ts",
    "const a = 1;",
    "```",
    "## First section",
    "<!-- fragment -->",
    "",
    "```typescript",
    "await thing();",
    "```",
    "```sh",
    "npm test",
    "```",
    "## Second section",
    "1. A list item:",
    "   ```ts",
    "   export const b = 2;",
    "     const c = 3;",
    "   ```",
    "<!-- fragment: needs NestJS -->",
    "````ts",
    "```ts",
    "## not a heading inside a block",
    "````",
  ].join("\n");
  const blocks = blocksOfPage("docs/example.md", page);

  it("finds ts and typescript blocks only, with the page line of their fence and the heading above", () => {
    expect(blocks.map((block) => [block.line, block.heading])).toEqual([
      [2, ""],
      [8, "First section"],
      [16, "Second section"],
      [21, "Second section"],
    ]);
  });

  it("marks a block after <!-- fragment --> (with or without a reason) as a fragment, and no other", () => {
    expect(blocks.map((block) => block.fragment)).toEqual([false, true, false, true]);
  });

  it("removes the fence's indentation and keeps the rest, and reads a longer fence to its own end", () => {
    expect(blocks[2].code).toBe("export const b = 2;\n  const c = 3;");
    expect(blocks[3].code).toBe("```ts\n## not a heading inside a block");
  });
});

describe("the documentation pages", () => {
  const pages = documentationPages(ROOT);

  it("are README.md and every guide under docs/, the generated API reference aside", () => {
    expect(pages[0]).toBe("README.md");
    for (const guide of ["models", "migrations", "datastore", "passwords", "checks-and-cli", "flask-security", "RELIABILITY", "benchmarks"])
      expect(pages).toContain(`docs/${guide}.md`);
    expect(pages.filter((page) => page.startsWith("docs/api/"))).toEqual([]);
  });

  it("have a quickstart block in the README, and few fragments", () => {
    const blocks = docBlocks(ROOT);
    expect(blocks.filter((block) => block.page === "README.md" && block.heading === "Quickstart" && !block.fragment)).toHaveLength(1);
    expect(blocks.filter((block) => block.fragment).length).toBeLessThanOrEqual(Math.ceil(blocks.length / 5));
  });

  it("each guide starts with what the reader can do after reading it", () => {
    for (const page of [...pages.filter((p) => p.startsWith("docs/")), "CONTRIBUTING.md"]) {
      const firstParagraph = readFileSync(join(ROOT, page), "utf8").split("\n\n")[1] ?? "";
      expect({ page, starts: firstParagraph.startsWith("After reading this page you") }).toEqual({ page, starts: true });
    }
  });
});

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens. */
function anchorOf(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .trim()
    .replace(/\s/g, "-");
}

function anchorsOf(text: string): Set<string> {
  const withoutCode = text.replace(/^```[\s\S]*?^```/gm, "");
  return new Set([...withoutCode.matchAll(/^#{1,6} +(.+)$/gm)].map((match) => anchorOf(match[1])));
}

describe("relative links", () => {
  const pages = [...documentationPages(ROOT), "CONTRIBUTING.md", "CHANGELOG.md"];

  it.each(pages)("of %s lead to files that exist and to headings they have", (page) => {
    const text = readFileSync(join(ROOT, page), "utf8").replace(/^```[\s\S]*?^```/gm, "");
    const broken: string[] = [];
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target)) continue; // https:, mailto:
      const [file, fragment] = target.split("#");
      const path = file === "" ? join(ROOT, page) : normalize(join(ROOT, dirname(page), file));
      if (!existsSync(path)) broken.push(`${target}: no such file`);
      else if (fragment !== undefined && path.endsWith(".md") && !anchorsOf(readFileSync(path, "utf8")).has(fragment))
        broken.push(`${target}: no heading with that anchor`);
    }
    expect(broken).toEqual([]);
  });
});
