import { RE2JS } from "re2js";

// Go's regexp package, which Flux compiles tag patterns with, through RE2's JavaScript port: the same
// syntax (RE2) and matching in linear time, so a pattern a tenant writes cannot make a scan backtrack
// for hours as a JavaScript RegExp could.

/** A pattern that does not compile; the message is RE2's. */
export class GoRegexpError extends Error {
  override name = "GoRegexpError";
}

/** A compiled Go regular expression. */
export class GoRegexp {
  private constructor(private readonly re: RE2JS) {}

  static compile(pattern: string): GoRegexp {
    try {
      return new GoRegexp(RE2JS.compile(pattern));
    } catch (error) {
      throw new GoRegexpError((error as Error).message);
    }
  }

  /** The names of the pattern's named groups (Go's SubexpNames, without the unnamed ones). */
  groupNames(): string[] {
    return Object.keys(this.re.namedGroups() as Record<string, number>);
  }

  /** Go's MatchString: somewhere in `text`. */
  test(text: string): boolean {
    return this.re.test(text);
  }

  /**
   * Go's FindStringSubmatch then Expand: `template` with `$1`, `${1}`, `$name`, `${name}` replaced by the
   * first match's groups (a group that does not exist or did not take part is empty; `$$` is `$`);
   * undefined when `text` does not match.
   */
  expand(text: string, template: string): string | undefined {
    const matcher = this.re.matcher(text);
    if (!matcher.find()) return undefined;
    const named = this.re.namedGroups() as Record<string, number>;
    const group = (name: string): string => {
      const index = /^[0-9]+$/.test(name) ? Number(name) : named[name];
      if (index === undefined || index > matcher.groupCount()) return "";
      return matcher.group(index) ?? "";
    };
    // Go's rule: `$name` takes the longest run of letters, digits and underscores; `${name}` is braced.
    return template.replace(/\$(\$|\{([A-Za-z0-9_]+)\}|[A-Za-z0-9_]+)/g, (whole, token: string, braced?: string) => {
      if (token === "$") return "$";
      return group(braced ?? token);
    });
  }
}
