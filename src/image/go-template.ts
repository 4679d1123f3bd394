// A small evaluator of Go's text/template for commit message templates: the constructs Flux's docs and
// users' templates use — text, {{- -}} trimming, comments, fields and methods (`.A.B`, `$x.A`), variables
// (`:=`, `=`), pipelines, parentheses, if/else if/else, range (with `$i, $v :=`, else, break, continue),
// with/else, and the functions print, println, printf, index, len, eq, ne, lt, le, gt, ge, and, or, not.
// Anything else (define, template, block, other functions) is refused by name. Every run is bounded: output
// bytes and evaluation steps, so no template can print a gigabyte or spin.

/** Data a template reads. Go structs are plain objects whose zero-argument methods are functions; Go maps are Maps. */
export type GoValue = unknown;

/** Marks a Go struct whose `%v` form is its String() method (fmt's Stringer). */
export interface Stringer {
  String(): string;
}

/** A template that does not parse, uses what is not supported, or fails or overruns while running. */
export class TemplateError extends Error {
  override name = "TemplateError";
}

export interface TemplateLimits {
  maxOutputBytes: number;
  maxSteps: number;
}

export const defaultTemplateLimits: TemplateLimits = { maxOutputBytes: 64 * 1024, maxSteps: 100_000 };

/** Parses and runs `source` on `data`. */
export function renderGoTemplate(
  source: string,
  data: GoValue,
  limits: TemplateLimits = defaultTemplateLimits,
): string {
  const nodes = new Parser(lex(source)).parseList(new Set());
  const run = new Run(data, limits);
  run.list(nodes, [{ $: data }], data);
  return run.out;
}

// ---- lexing: text and actions ----

type Token =
  | { t: "text"; v: string }
  | { t: "str" | "num" | "ident" | "field" | "var"; v: string; adjacent: boolean }
  | { t: "(" | ")" | "|" | ":=" | "=" | ","; adjacent: boolean }
  | { t: "open" | "close" };

function lex(source: string): Token[] {
  const tokens: Token[] = [];
  let at = 0;
  let trimNext = false;
  while (at < source.length) {
    const open = source.indexOf("{{", at);
    let text = source.slice(at, open < 0 ? source.length : open);
    if (trimNext) text = text.replace(/^\s+/, "");
    trimNext = false;
    if (open < 0) {
      if (text) tokens.push({ t: "text", v: text });
      break;
    }
    let start = open + 2;
    if (/^-[ \t\r\n]/.test(source.slice(start, start + 2))) {
      text = text.replace(/\s+$/, "");
      start += 2;
    }
    if (text) tokens.push({ t: "text", v: text });
    if (source.startsWith("/*", start)) {
      const end = source.indexOf("*/", start);
      const close = end < 0 ? -1 : source.indexOf("}}", end);
      if (close < 0) throw new TemplateError("unclosed comment");
      trimNext = /[ \t\r\n]-$/.test(source.slice(close - 2, close));
      at = close + 2;
      continue;
    }
    tokens.push({ t: "open" });
    at = lexAction(source, start, tokens);
    tokens.push({ t: "close" });
    if (/[ \t\r\n]-$/.test(source.slice(at - 4, at - 2))) trimNext = true;
  }
  return tokens;
}

/** Lexes one action's insides from `at`; returns the offset just past its `}}`. */
function lexAction(source: string, at: number, tokens: Token[]): number {
  let i = at;
  let adjacent = false;
  for (;;) {
    if (i >= source.length) throw new TemplateError("unclosed action");
    const c = source[i]!;
    if (source.startsWith("}}", i)) return i + 2;
    if (/[ \t\r\n]/.test(c)) {
      if (source.startsWith("-}}", i + 1)) return i + 4;
      i++;
      adjacent = false;
      continue;
    }
    const rest = source.slice(i);
    let m: RegExpMatchArray | null;
    if (c === '"') {
      m = /^"(?:[^"\\\n]|\\.)*"/.exec(rest);
      if (!m) throw new TemplateError("unterminated quoted string");
      tokens.push({ t: "str", v: unquote(m[0]), adjacent });
    } else if (c === "`") {
      const end = source.indexOf("`", i + 1);
      if (end < 0) throw new TemplateError("unterminated raw quoted string");
      m = [source.slice(i, end + 1)] as RegExpMatchArray;
      tokens.push({ t: "str", v: m[0].slice(1, -1), adjacent });
    } else if ((m = /^(?:\.[A-Za-z_][A-Za-z0-9_]*)+/.exec(rest))) tokens.push({ t: "field", v: m[0], adjacent });
    else if ((m = /^\$[A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*/.exec(rest)))
      tokens.push({ t: "var", v: m[0], adjacent });
    else if ((m = /^-?[0-9][0-9._eExXa-fA-F]*/.exec(rest))) tokens.push({ t: "num", v: m[0], adjacent });
    else if ((m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(rest))) tokens.push({ t: "ident", v: m[0], adjacent });
    else if ((m = /^(:=|[()|=,.])/.exec(rest))) {
      const v = m[0];
      if (v === ".") tokens.push({ t: "field", v: ".", adjacent });
      else tokens.push({ t: v as "(" | ")" | "|" | ":=" | "=" | ",", adjacent });
    } else throw new TemplateError(`unexpected ${JSON.stringify(c)} in action`);
    i += m[0].length;
    adjacent = true;
  }
}

function unquote(quoted: string): string {
  try {
    return JSON.parse(quoted) as string;
  } catch {
    throw new TemplateError(`unsupported escape in ${quoted}`);
  }
}

// ---- parsing ----

type Arg =
  | { k: "lit"; v: GoValue }
  | { k: "func"; name: string }
  | { k: "field"; base: "." | string; path: string[] }
  | { k: "pipe"; pipe: Pipe; path: string[] };
interface Pipe {
  decl?: { vars: string[]; assign: boolean };
  cmds: Arg[][];
}
type Node =
  | { n: "text"; v: string }
  | { n: "out"; pipe: Pipe }
  | { n: "if" | "with"; pipe: Pipe; body: Node[]; other: Node[] }
  | { n: "range"; pipe: Pipe; body: Node[]; other: Node[] }
  | { n: "break" | "continue" };

const FUNCTIONS = new Set([
  "print",
  "println",
  "printf",
  "index",
  "len",
  "eq",
  "ne",
  "lt",
  "le",
  "gt",
  "ge",
  "and",
  "or",
  "not",
]);
const REFUSED = new Set(["define", "template", "block", "call", "slice", "html", "js", "urlquery"]);

class Parser {
  private i = 0;
  constructor(private readonly tokens: Token[]) {}

  /** Nodes up to one of `ends` (`end`, `else`), left unconsumed; the whole input at top level. */
  parseList(ends: Set<string>, inRange = false): Node[] {
    const nodes: Node[] = [];
    while (this.i < this.tokens.length) {
      const token = this.tokens[this.i]!;
      if (token.t === "text") {
        nodes.push({ n: "text", v: token.v });
        this.i++;
        continue;
      }
      const keyword = this.peekKeyword();
      if (keyword && ends.has(keyword)) return nodes;
      if (keyword === "end" || keyword === "else") throw new TemplateError(`unexpected {{${keyword}}}`);
      this.expect("open");
      nodes.push(this.action(keyword, inRange));
    }
    if (ends.size > 0) throw new TemplateError("unexpected end of template: missing {{end}}");
    return nodes;
  }

  private peekKeyword(): string | undefined {
    const next = this.tokens[this.i + 1];
    return this.tokens[this.i]?.t === "open" && next?.t === "ident" ? next.v : undefined;
  }

  private action(keyword: string | undefined, inRange: boolean): Node {
    if (keyword && REFUSED.has(keyword))
      throw new TemplateError(`{{${keyword}}} is not supported in commit message templates`);
    if (keyword === "if" || keyword === "with" || keyword === "range") {
      this.i++;
      const pipe = this.pipe(true);
      const body = this.parseList(new Set(["end", "else"]), keyword === "range" || inRange);
      const other = this.elseBranch(keyword, inRange);
      return { n: keyword, pipe, body, other };
    }
    if (keyword === "break" || keyword === "continue") {
      if (!inRange) throw new TemplateError(`{{${keyword}}} outside {{range}}`);
      this.i++;
      this.expect("close");
      return { n: keyword };
    }
    return { n: "out", pipe: this.pipe(true) };
  }

  /** After a body: `{{end}}`, `{{else}} … {{end}}`, or `{{else if|with …}}` (a nested if/with). */
  private elseBranch(keyword: string, inRange: boolean): Node[] {
    const which = this.peekKeyword();
    this.i += 2;
    if (which === "end") {
      this.expect("close");
      return [];
    }
    const chained = this.tokens[this.i];
    if (chained?.t === "ident" && (chained.v === "if" || chained.v === "with") && keyword !== "range") {
      this.i++;
      const pipe = this.pipe(false);
      const body = this.parseList(new Set(["end", "else"]), inRange);
      return [{ n: chained.v, pipe, body, other: this.elseBranch(chained.v, inRange) }];
    }
    this.expect("close");
    const other = this.parseList(new Set(["end"]), inRange);
    this.i += 2;
    this.expect("close");
    return other;
  }

  private pipe(declare: boolean): Pipe {
    const pipe: Pipe = { cmds: [] };
    if (declare) pipe.decl = this.declaration();
    let cmd: Arg[] = [];
    for (;;) {
      const token = this.tokens[this.i++];
      if (!token) throw new TemplateError("unclosed action");
      if (token.t === "close" || token.t === ")") {
        if (token.t === ")") this.i--;
        break;
      }
      if (token.t === "|") {
        if (cmd.length === 0) throw new TemplateError("missing command before |");
        pipe.cmds.push(cmd);
        cmd = [];
        continue;
      }
      cmd.push(this.operand(token));
    }
    if (cmd.length === 0) throw new TemplateError("missing value in action");
    pipe.cmds.push(cmd);
    return pipe;
  }

  /** `$x :=`, `$x =`, `$i, $v :=` at the start of a pipeline, if there. */
  private declaration(): Pipe["decl"] {
    const vars: string[] = [];
    let j = this.i;
    while (this.tokens[j]?.t === "var") {
      vars.push((this.tokens[j] as { v: string }).v);
      j++;
      const op = this.tokens[j]?.t;
      if (op === ":=" || op === "=") {
        if (vars.length > 2) throw new TemplateError("too many declarations");
        this.i = j + 1;
        return { vars, assign: op === "=" };
      }
      if (op !== ",") return undefined;
      j++;
    }
    return undefined;
  }

  private operand(token: Token): Arg {
    switch (token.t) {
      case "str":
        return { k: "lit", v: token.v };
      case "num": {
        const value = Number(token.v);
        if (!Number.isFinite(value)) throw new TemplateError(`bad number syntax: ${token.v}`);
        return { k: "lit", v: value };
      }
      case "field":
        return { k: "field", base: ".", path: token.v === "." ? [] : token.v.slice(1).split(".") };
      case "var": {
        const [name, ...path] = token.v.split(".");
        return { k: "field", base: name!, path };
      }
      case "ident":
        if (token.v === "true" || token.v === "false") return { k: "lit", v: token.v === "true" };
        if (token.v === "nil") return { k: "lit", v: undefined };
        if (FUNCTIONS.has(token.v)) return { k: "func", name: token.v };
        throw new TemplateError(`function "${token.v}" is not supported in commit message templates`);
      case "(": {
        const pipe = this.pipe(false);
        this.expect(")");
        const next = this.tokens[this.i];
        const path: string[] = [];
        if (next?.t === "field" && next.adjacent && next.v !== ".") {
          path.push(...next.v.slice(1).split("."));
          this.i++;
        }
        return { k: "pipe", pipe, path };
      }
      default:
        throw new TemplateError(`unexpected ${token.t} in action`);
    }
  }

  private expect(t: Token["t"]): void {
    if (this.tokens[this.i]?.t !== t) throw new TemplateError(`expected ${t === "close" ? "}}" : t} in action`);
    this.i++;
  }
}

// ---- evaluation ----

type Scope = Record<string, GoValue>[];
class BreakSignal {}
class ContinueSignal {}

class Run {
  out = "";
  private bytes = 0;
  private steps = 0;
  constructor(
    private readonly root: GoValue,
    private readonly limits: TemplateLimits,
  ) {}

  list(nodes: Node[], scope: Scope, dot: GoValue): void {
    for (const node of nodes) this.node(node, scope, dot);
  }

  private node(node: Node, scope: Scope, dot: GoValue): void {
    this.step();
    switch (node.n) {
      case "text":
        return this.write(node.v);
      case "out": {
        const value = this.pipe(node.pipe, scope, dot);
        if (!node.pipe.decl) this.write(format(value));
        return;
      }
      case "if":
      case "with": {
        const inner: Scope = [...scope, {}];
        const value = this.pipe(node.pipe, inner, dot);
        if (truthy(value)) this.list(node.body, inner, node.n === "with" ? value : dot);
        else this.list(node.other, [...scope, {}], dot);
        return;
      }
      case "range":
        return this.range(node, scope, dot);
      case "break":
        throw new BreakSignal();
      case "continue":
        throw new ContinueSignal();
    }
  }

  private range(node: Extract<Node, { n: "range" }>, scope: Scope, dot: GoValue): void {
    const { decl, ...pipe } = node.pipe;
    const value = this.pipe(pipe, scope, dot);
    const entries: [GoValue, GoValue][] =
      value instanceof Map
        ? sortedKeys(value).map((k) => [k, value.get(k)])
        : Array.isArray(value)
          ? value.map((v, i) => [i, v])
          : value === undefined || value === null
            ? []
            : fail(`range can't iterate over ${format(value)}`);
    if (entries.length === 0) return this.list(node.other, [...scope, {}], dot);
    for (const [key, element] of entries) {
      const frame: Record<string, GoValue> = {};
      if (decl?.vars.length === 1) frame[decl.vars[0]!] = element;
      if (decl?.vars.length === 2) Object.assign(frame, { [decl.vars[0]!]: key, [decl.vars[1]!]: element });
      try {
        this.list(node.body, [...scope, frame], element);
      } catch (signal) {
        if (signal instanceof BreakSignal) break;
        if (!(signal instanceof ContinueSignal)) throw signal;
      }
    }
  }

  private pipe(pipe: Pipe, scope: Scope, dot: GoValue): GoValue {
    let value: GoValue;
    let piped = false;
    for (const cmd of pipe.cmds) {
      value = this.command(cmd, scope, dot, piped ? [value] : []);
      piped = true;
    }
    if (pipe.decl) {
      const [name] = pipe.decl.vars;
      if (pipe.decl.assign) {
        const frame = [...scope].reverse().find((f) => name! in f);
        if (!frame) throw new TemplateError(`undefined variable: ${name}`);
        frame[name!] = value;
      } else scope[scope.length - 1]![name!] = value;
    }
    return value;
  }

  private command(cmd: Arg[], scope: Scope, dot: GoValue, piped: GoValue[]): GoValue {
    this.step();
    const [first, ...rest] = cmd as [Arg, ...Arg[]];
    if (first.k === "func") {
      const args = [...rest.map((a) => this.arg(a, scope, dot)), ...piped];
      return this.call(first.name, args);
    }
    if (rest.length > 0 || piped.length > 0)
      throw new TemplateError("calling a method with arguments is not supported in commit message templates");
    return this.arg(first, scope, dot);
  }

  private arg(arg: Arg, scope: Scope, dot: GoValue): GoValue {
    switch (arg.k) {
      case "lit":
        return arg.v;
      case "func":
        return this.call(arg.name, []);
      case "pipe":
        return fields(this.pipe(arg.pipe, [...scope, {}], dot), arg.path);
      case "field": {
        let base = dot;
        if (arg.base === "$") base = this.root;
        else if (arg.base !== ".") {
          const frame = [...scope].reverse().find((f) => arg.base in f);
          if (!frame) throw new TemplateError(`undefined variable: ${arg.base}`);
          base = frame[arg.base];
        }
        return fields(base, arg.path);
      }
    }
  }

  private call(name: string, args: GoValue[]): GoValue {
    const compare = (test: (a: number | string, b: number | string) => boolean) => {
      const [a, b] = args as [number | string, number | string];
      if (typeof a !== typeof b || (typeof a !== "number" && typeof a !== "string"))
        throw new TemplateError(`${name}: incompatible types for comparison`);
      return test(a, b);
    };
    switch (name) {
      case "print":
        return args
          .map((a, i) => (i > 0 && typeof a !== "string" && typeof args[i - 1] !== "string" ? " " : "") + format(a))
          .join("");
      case "println":
        return `${args.map(format).join(" ")}\n`;
      case "printf":
        return this.printf(args);
      case "len": {
        const [v] = args;
        if (typeof v === "string") return Buffer.byteLength(v);
        if (Array.isArray(v)) return v.length;
        if (v instanceof Map) return v.size;
        throw new TemplateError(`len of ${format(v)}`);
      }
      case "index": {
        const [indexed, ...keys] = args;
        let v = indexed;
        for (const key of keys) {
          if (v instanceof Map) v = v.get(key);
          else if (Array.isArray(v) && typeof key === "number") {
            if (key < 0 || key >= v.length) throw new TemplateError(`index out of range: ${key}`);
            v = v[key];
          } else throw new TemplateError(`can't index item of type ${typeOf(v)}`);
        }
        return v;
      }
      case "eq":
        return args.slice(1).some((b) => equal(args[0], b));
      case "ne":
        return !equal(args[0], args[1]);
      case "lt":
        return compare((a, b) => a < b);
      case "le":
        return compare((a, b) => a <= b);
      case "gt":
        return compare((a, b) => a > b);
      case "ge":
        return compare((a, b) => a >= b);
      case "and":
        return args.find((a) => !truthy(a)) ?? args.at(-1);
      case "or":
        return args.find(truthy) ?? args.at(-1);
      case "not":
        return !truthy(args[0]);
    }
    throw new TemplateError(`function "${name}" is not supported`);
  }

  /** fmt.Sprintf's common verbs: %s %v %d %q %%, with an optional `-` flag and width. */
  private printf(args: GoValue[]): string {
    const [pattern, ...values] = args;
    if (typeof pattern !== "string") throw new TemplateError("printf: the format must be a string");
    let next = 0;
    return pattern.replace(/%(-?)(\d*)([svdq%])/g, (_all, left: string, width: string, verb: string) => {
      if (verb === "%") return "%";
      const w = Number(width || 0);
      if (w > this.limits.maxOutputBytes) throw new TemplateError(`printf width ${w} exceeds the output limit`);
      if (next >= values.length) return `%!${verb}(MISSING)`;
      const value = values[next++];
      const text = verb === "q" ? JSON.stringify(format(value)) : format(value);
      return left ? text.padEnd(w) : text.padStart(w);
    });
  }

  private write(text: string): void {
    this.out += text;
    this.bytes += Buffer.byteLength(text);
    if (this.bytes > this.limits.maxOutputBytes)
      throw new TemplateError(`the message exceeds ${this.limits.maxOutputBytes} bytes`);
  }

  private step(): void {
    if (++this.steps > this.limits.maxSteps)
      throw new TemplateError(`the template takes more than ${this.limits.maxSteps} steps`);
  }
}

function fail(message: string): never {
  throw new TemplateError(message);
}

/** `.A.B` on a value: struct fields, zero-argument methods (called) and Go map keys; nil stays nil. */
function fields(value: GoValue, path: string[]): GoValue {
  let at = value;
  for (const name of path) {
    if (at instanceof Map) {
      at = at.get(name);
      continue;
    }
    if (typeof at !== "object" || at === null || !(name in at))
      throw new TemplateError(`can't evaluate field ${name} in type ${typeOf(at)}`);
    const field = (at as Record<string, unknown>)[name];
    at = typeof field === "function" ? (field as () => unknown).call(at) : field;
  }
  return at;
}

function typeOf(value: GoValue): string {
  if (value === undefined || value === null) return "<nil>";
  if (value instanceof Map) return "map";
  if (Array.isArray(value)) return "slice";
  if (typeof value === "object") return (value as { constructor?: { name?: string } }).constructor?.name ?? "struct";
  return typeof value;
}

function truthy(value: GoValue): boolean {
  if (value === undefined || value === null || value === false || value === 0 || value === "") return false;
  if (Array.isArray(value)) return value.length > 0;
  if (value instanceof Map) return value.size > 0;
  return true;
}

function equal(a: GoValue, b: GoValue): boolean {
  if (typeof a === "object" && a !== null && typeof b === "object" && b !== null) return format(a) === format(b);
  return a === b;
}

/** fmt's `%v`: Stringers by String(), slices `[a b]`, maps `map[k:v]` (keys sorted), structs `{a b}`. */
export function format(value: GoValue): string {
  if (value === undefined || value === null) return "<no value>";
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (Array.isArray(value)) return `[${value.map(format).join(" ")}]`;
  if (value instanceof Map)
    return `map[${sortedKeys(value)
      .map((k) => `${format(k)}:${format(value.get(k))}`)
      .join(" ")}]`;
  if (typeof value === "object") {
    const stringer = (value as Partial<Stringer>).String;
    if (typeof stringer === "function") return stringer.call(value);
    const parts = Object.values(value).filter((v) => typeof v !== "function");
    return `{${parts.map(format).join(" ")}}`;
  }
  return String(value);
}

/** Go's map iteration order in templates: keys sorted; struct keys field by field. */
function sortedKeys(map: Map<GoValue, GoValue>): GoValue[] {
  return [...map.keys()].sort(compareKeys);
}

function compareKeys(a: GoValue, b: GoValue): number {
  if (typeof a === "number" && typeof b === "number") return a - b;
  if (typeof a === "string" && typeof b === "string") return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === "object" && a !== null && typeof b === "object" && b !== null) {
    const left = Object.values(a).filter((v) => typeof v !== "function");
    const right = Object.values(b).filter((v) => typeof v !== "function");
    for (let i = 0; i < Math.min(left.length, right.length); i++) {
      const c = compareKeys(left[i], right[i]);
      if (c !== 0) return c;
    }
    return left.length - right.length;
  }
  return 0;
}
