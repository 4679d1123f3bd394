// The two glob dialects source-watcher's copy operations use: Go's path.Match per path segment (fs.Glob, where `**`
// is just `*`), and doublestar's, where a `**` segment spans any number of folders (Extract's globs and every
// exclude). Paths are `/`-separated and relative to a source's root.

/** A pattern Go (or doublestar) would refuse: an unclosed `[` or a trailing `\`. */
export class BadPatternError extends Error {
  override name = "BadPatternError";
}

/** One segment of a path.Match pattern as a regular expression (`*` and `?` never cross `/`). */
function segmentRegex(pattern: string): RegExp {
  let out = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "*") out += "[^/]*";
    else if (c === "?") out += "[^/]";
    else if (c === "\\") {
      if (i + 1 >= pattern.length) throw new BadPatternError(`syntax error in pattern '${pattern}'`);
      out += escape(pattern[++i]!);
    } else if (c === "[") {
      const end = pattern.indexOf("]", i + 2);
      if (end < 0) throw new BadPatternError(`syntax error in pattern '${pattern}'`);
      const body = pattern.slice(i + 1, end);
      const negated = body.startsWith("^");
      const set = (negated ? body.slice(1) : body).replace(/[\\\]]/g, "\\$&");
      out += `[${negated ? "^/" : ""}${set}]`;
      i = end;
    } else out += escape(c);
  }
  return new RegExp(`^${out}$`, "s");
}

const escape = (c: string) => c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");

/** A compiled pattern: whether a path matches it. */
export type PathMatcher = (path: string) => boolean;

/** Go's path.Match over whole paths: as many segments as the pattern, each matching its own. */
export function goGlob(pattern: string): PathMatcher {
  const segments = pattern.split("/").map(segmentRegex);
  return (path) => {
    const parts = path.split("/");
    return parts.length === segments.length && parts.every((part, i) => segments[i]!.test(part));
  };
}

/** doublestar's Match: a `**` segment matches zero or more whole segments. */
export function doublestarGlob(pattern: string): PathMatcher {
  const segments = pattern.split("/").map((s) => (s === "**" ? "**" : segmentRegex(s)));
  const match = (parts: string[], at: number, from: number): boolean => {
    if (from === segments.length) return at === parts.length;
    const segment = segments[from]!;
    if (segment === "**") {
      for (let skip = at; skip <= parts.length; skip++) if (match(parts, skip, from + 1)) return true;
      return false;
    }
    return at < parts.length && segment.test(parts[at]!) && match(parts, at + 1, from + 1);
  };
  return (path) => match(path === "" || path === "." ? [] : path.split("/"), 0, 0);
}

/** Whether a pattern has glob metacharacters (source-watcher's containsGlobChars). */
export function isGlob(pattern: string): boolean {
  return /[*?[\]]/.test(pattern);
}
