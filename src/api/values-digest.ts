import { createHash } from "node:crypto";
import { goResolvesToString, formatGoFloat } from "./values-yaml.js";

// helm-controller's lastAttemptedConfigDigest (fluxcd/pkg/chartutil DigestValues): the SHA-256 of
// the values as go-yaml v2 (v2.4.4) encodes them, keys sorted, after sigs.k8s.io/yaml's
// JSONObjectToYAMLObject (whole floats become integers, empty maps `{}`). The digest has to match
// Flux's byte for byte, so this is a port of the parts of go-yaml's emitter such a document uses:
// block maps and lists, empty flow collections, plain, quoted and literal scalars, with go-yaml's
// choice of style and its folding of long lines at 80 columns. The same emitter, with go-yaml's own
// key order, prints values and objects as flux prints them (marshalYaml: `--export`, `debug hr`).

/** go-yaml's best_width and best_indent. */
const WIDTH = 80;
const INDENT = 2;

type Style = "plain" | "single" | "double" | "literal";
type Node = { scalar: string; style: Style } | { list: Node[] } | { map: [Node, Node][] };

/** `sha256:<hex>` of the values, as Flux records lastAttemptedConfigDigest; empty values digest the empty string. */
export function configDigest(values: Record<string, unknown>): string {
  const yaml = Object.keys(values).length === 0 ? "" : encodeValues(values);
  return `sha256:${createHash("sha256").update(yaml).digest("hex")}`;
}

/** The values as chartutil.Encode writes them: go-yaml v2, keys sorted by their bytes (SortMapSlice). */
export function encodeValues(values: Record<string, unknown>): string {
  return encode(values, (a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

/**
 * A JSON value as sigs.k8s.io/yaml's Marshal writes it (`flux … --export`, `flux debug hr --show-values`):
 * go-yaml v2 with its own key order, where runs of digits compare as numbers (`a2` before `a10`).
 */
export function marshalYaml(value: unknown): string {
  return encode(value, (a, b) => (goKeyLess(a, b) ? -1 : goKeyLess(b, a) ? 1 : 0));
}

function encode(value: unknown, order: (a: string, b: string) => number): string {
  const emitter = new Emitter();
  emitter.node(toNode(value, order), { root: true });
  emitter.writeIndent();
  return emitter.output.join("");
}

/** go-yaml v2's keyList.Less for two string keys. */
function goKeyLess(a: string, b: string): boolean {
  const ar = [...a];
  const br = [...b];
  const isLetter = (c: string) => /\p{L}/u.test(c);
  const isDigit = (c: string | undefined) => c !== undefined && /\p{Nd}/u.test(c);
  const code = (c: string) => BigInt(c.codePointAt(0)!);
  for (let i = 0; i < ar.length && i < br.length; i++) {
    const [ac, bc] = [ar[i]!, br[i]!];
    if (ac === bc) continue;
    const [al, bl] = [isLetter(ac), isLetter(bc)];
    if (al && bl) return code(ac) < code(bc);
    if (al || bl) return bl;
    let [an, bn] = [0n, 0n];
    if (ac === "0" || bc === "0")
      for (let j = i - 1; j >= 0 && isDigit(ar[j]); j--)
        if (ar[j] !== "0") {
          [an, bn] = [1n, 1n];
          break;
        }
    let ai = i;
    for (; ai < ar.length && isDigit(ar[ai]); ai++) an = BigInt.asIntN(64, an * 10n + code(ar[ai]!) - 48n);
    let bi = i;
    for (; bi < br.length && isDigit(br[bi]); bi++) bn = BigInt.asIntN(64, bn * 10n + code(br[bi]!) - 48n);
    if (an !== bn) return an < bn;
    if (ai !== bi) return ai < bi;
    return code(ac) < code(bc);
  }
  return ar.length < br.length;
}

function toNode(value: unknown, order: (a: string, b: string) => number): Node {
  if (Array.isArray(value)) return { list: value.map((item) => toNode(item, order)) };
  if (typeof value === "object" && value !== null) {
    const keys = Object.keys(value).sort(order);
    return { map: keys.map((k) => [stringNode(k), toNode((value as Record<string, unknown>)[k], order)]) };
  }
  if (typeof value === "string") return stringNode(value);
  if (typeof value === "number") return { scalar: numberText(value), style: "plain" };
  if (typeof value === "boolean") return { scalar: String(value), style: "plain" };
  return { scalar: "null", style: "plain" };
}

/** go-yaml's stringv: a literal block for text with a newline, plain when it reads back as a string, else quoted. */
function stringNode(text: string): Node {
  const value = text.toWellFormed();
  if (value.includes("\n")) return { scalar: value, style: "literal" };
  return { scalar: value, style: goResolvesToString(value) && !BASE60_FLOAT.test(value) ? "plain" : "double" };
}
const BASE60_FLOAT = /^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$/;

/** jsonToYAMLValue then go-yaml: a whole float64 within int64 or uint64 as an integer, else Go's shortest %g. */
function numberText(value: number): string {
  if (Number.isInteger(value) && value >= -(2 ** 63) && value < 2 ** 64) return BigInt(value).toString();
  const text = formatGoFloat(value, 64);
  return { "+Inf": ".inf", "-Inf": "-.inf", NaN: ".nan" }[text] ?? text;
}

const isSpace = (c: string | undefined) => c === " ";
const isBreak = (c: string | undefined) =>
  c === "\r" || c === "\n" || c === "\u0085" || c === "\u2028" || c === "\u2029";
const isBlank = (c: string | undefined) => c === " " || c === "\t";
const isBlankz = (c: string | undefined) => c === undefined || c === "\0" || isBlank(c) || isBreak(c);
function isPrintable(c: string): boolean {
  const cp = c.codePointAt(0)!;
  return (
    cp === 0x0a ||
    (cp >= 0x20 && cp <= 0x7e) ||
    (cp >= 0xa0 && cp <= 0xd7ff) ||
    (cp >= 0xe000 && cp <= 0xfffd && cp !== 0xfeff)
  );
}

interface Analysis {
  multiline: boolean;
  flowPlain: boolean;
  blockPlain: boolean;
  singleQuoted: boolean;
  block: boolean;
}

/** yaml_emitter_analyze_scalar: which styles can hold the value. */
function analyze(value: string): Analysis {
  const chars = [...value];
  if (chars.length === 0)
    return { multiline: false, flowPlain: false, blockPlain: true, singleQuoted: true, block: false };
  let blockIndicators = false;
  let flowIndicators = false;
  let lineBreaks = false;
  let special = false;
  let leadingSpace = false;
  let leadingBreak = false;
  let trailingSpace = false;
  let trailingBreak = false;
  let breakSpace = false;
  let spaceBreak = false;
  let previousSpace = false;
  let previousBreak = false;
  if (value.startsWith("---") || value.startsWith("...")) blockIndicators = flowIndicators = true;
  let precededByWhitespace = true;
  chars.forEach((c, i) => {
    const followedByWhitespace = i + 1 >= chars.length || isBlank(chars[i + 1]);
    if (i === 0) {
      if ("#,[]{}&*!|>'\"%@`".includes(c)) flowIndicators = blockIndicators = true;
      else if (c === "?" || c === ":") {
        flowIndicators = true;
        if (followedByWhitespace) blockIndicators = true;
      } else if (c === "-" && followedByWhitespace) flowIndicators = blockIndicators = true;
    } else if (",?[]{}".includes(c)) flowIndicators = true;
    else if (c === ":") {
      flowIndicators = true;
      if (followedByWhitespace) blockIndicators = true;
    } else if (c === "#" && precededByWhitespace) flowIndicators = blockIndicators = true;
    if (!isPrintable(c)) special = true;
    if (isSpace(c)) {
      if (i === 0) leadingSpace = true;
      if (i === chars.length - 1) trailingSpace = true;
      if (previousBreak) breakSpace = true;
      previousSpace = true;
      previousBreak = false;
    } else if (isBreak(c)) {
      lineBreaks = true;
      if (i === 0) leadingBreak = true;
      if (i === chars.length - 1) trailingBreak = true;
      if (previousSpace) spaceBreak = true;
      previousSpace = false;
      previousBreak = true;
    } else previousSpace = previousBreak = false;
    precededByWhitespace = isBlankz(c);
  });
  const result = { multiline: lineBreaks, flowPlain: true, blockPlain: true, singleQuoted: true, block: true };
  if (leadingSpace || leadingBreak || trailingSpace || trailingBreak) result.flowPlain = result.blockPlain = false;
  if (trailingSpace) result.block = false;
  if (breakSpace) result.flowPlain = result.blockPlain = result.singleQuoted = false;
  if (spaceBreak || special) result.flowPlain = result.blockPlain = result.singleQuoted = result.block = false;
  if (lineBreaks) result.flowPlain = result.blockPlain = false;
  if (flowIndicators) result.flowPlain = false;
  if (blockIndicators) result.blockPlain = false;
  return result;
}

/** The double-quoted escapes go-yaml writes. */
const ESCAPES: Record<number, string> = {
  0x00: "0",
  0x07: "a",
  0x08: "b",
  0x09: "t",
  0x0a: "n",
  0x0b: "v",
  0x0c: "f",
  0x0d: "r",
  0x1b: "e",
  0x22: '"',
  0x5c: "\\",
  0x85: "N",
  0xa0: "_",
  0x2028: "L",
  0x2029: "P",
};

interface Context {
  root?: boolean;
  sequence?: boolean;
  mapping?: boolean;
  simpleKey?: boolean;
}

class Emitter {
  readonly output: string[] = [];
  private column = 0;
  private indent = -1;
  private readonly indents: number[] = [];
  private whitespace = true;
  private indention = true;
  private flowLevel = 0;
  private context: Context = {};

  node(node: Node, context: Context): void {
    this.context = context;
    if ("scalar" in node) this.scalar(node.scalar, node.style);
    else if ("list" in node) this.list(node.list);
    else this.map(node.map);
  }

  private list(items: Node[]): void {
    if (this.flowLevel > 0 || items.length === 0) return this.emptyFlow("[", "]");
    this.increaseIndent(false, this.context.mapping === true && !this.indention);
    for (const item of items) {
      this.writeIndent();
      this.indicator("-", true, false, true);
      this.node(item, { sequence: true });
    }
    this.indent = this.indents.pop()!;
  }

  private map(pairs: [Node, Node][]): void {
    if (this.flowLevel > 0 || pairs.length === 0) return this.emptyFlow("{", "}");
    this.increaseIndent(false, false);
    for (const [key, value] of pairs) {
      this.writeIndent();
      if (isSimpleKey(key)) {
        this.node(key, { mapping: true, simpleKey: true });
        this.indicator(":", false, false, false);
      } else {
        this.indicator("?", true, false, true);
        this.node(key, { mapping: true });
        this.writeIndent();
        this.indicator(":", true, false, true);
      }
      this.node(value, { mapping: true });
    }
    this.indent = this.indents.pop()!;
  }

  private emptyFlow(open: string, close: string): void {
    this.indicator(open, true, true, false);
    this.increaseIndent(true, false);
    this.indent = this.indents.pop()!;
    this.indicator(close, false, false, false);
  }

  private scalar(value: string, requested: Style): void {
    const data = analyze(value);
    const simpleKey = this.context.simpleKey === true;
    let style = requested;
    if (simpleKey && data.multiline) style = "double";
    if (style === "plain") {
      if ((this.flowLevel > 0 && !data.flowPlain) || (this.flowLevel === 0 && !data.blockPlain)) style = "single";
      if (value.length === 0 && (this.flowLevel > 0 || simpleKey)) style = "single";
    }
    if (style === "single" && !data.singleQuoted) style = "double";
    if (style === "literal" && (!data.block || this.flowLevel > 0 || simpleKey)) style = "double";
    this.increaseIndent(true, false);
    const chars = [...value];
    if (style === "plain") this.plain(chars, !simpleKey);
    else if (style === "single") this.singleQuoted(chars, !simpleKey);
    else if (style === "double") this.doubleQuoted(chars, !simpleKey);
    else this.literal(chars);
    this.indent = this.indents.pop()!;
  }

  private plain(chars: string[], allowBreaks: boolean): void {
    if (!this.whitespace) this.put(" ");
    let spaces = false;
    let breaks = false;
    chars.forEach((c, i) => {
      if (isSpace(c)) {
        if (allowBreaks && !spaces && this.column > WIDTH && !isSpace(chars[i + 1])) this.writeIndent();
        else this.put(c);
        spaces = true;
      } else if (isBreak(c)) {
        if (!breaks && c === "\n") this.putBreak();
        this.writeBreak(c);
        this.indention = true;
        breaks = true;
      } else {
        if (breaks) this.writeIndent();
        this.put(c);
        this.indention = spaces = breaks = false;
      }
    });
    this.whitespace = this.indention = false;
  }

  private singleQuoted(chars: string[], allowBreaks: boolean): void {
    this.indicator("'", true, false, false);
    let spaces = false;
    let breaks = false;
    chars.forEach((c, i) => {
      if (isSpace(c)) {
        const fold = i > 0 && i < chars.length - 1 && !isSpace(chars[i + 1]);
        if (allowBreaks && !spaces && this.column > WIDTH && fold) this.writeIndent();
        else this.put(c);
        spaces = true;
      } else if (isBreak(c)) {
        if (!breaks && c === "\n") this.putBreak();
        this.writeBreak(c);
        this.indention = true;
        breaks = true;
      } else {
        if (breaks) this.writeIndent();
        if (c === "'") this.put("'");
        this.put(c);
        this.indention = spaces = breaks = false;
      }
    });
    this.indicator("'", false, false, false);
    this.whitespace = this.indention = false;
  }

  private doubleQuoted(chars: string[], allowBreaks: boolean): void {
    this.indicator('"', true, false, false);
    let spaces = false;
    // go-yaml's is_bom looks at the first character whatever the position: after a leading BOM, every character is escaped.
    const bom = chars[0] === "\ufeff";
    chars.forEach((c, i) => {
      if (bom || !isPrintable(c) || isBreak(c) || c === '"' || c === "\\") {
        const cp = c.codePointAt(0)!;
        const [prefix, digits] = cp <= 0xff ? ["x", 2] : cp <= 0xffff ? ["u", 4] : ["U", 8];
        this.put("\\");
        for (const out of ESCAPES[cp] ?? `${prefix}${cp.toString(16).toUpperCase().padStart(digits, "0")}`)
          this.put(out);
        spaces = false;
      } else if (isSpace(c)) {
        if (allowBreaks && !spaces && this.column > WIDTH && i > 0 && i < chars.length - 1) {
          this.writeIndent();
          if (isSpace(chars[i + 1])) this.put("\\");
        } else this.put(c);
        spaces = true;
      } else {
        this.put(c);
        spaces = false;
      }
    });
    this.indicator('"', false, false, false);
    this.whitespace = this.indention = false;
  }

  private literal(chars: string[]): void {
    this.indicator("|", true, false, false);
    if (isSpace(chars[0]) || isBreak(chars[0])) this.indicator(String(INDENT), false, false, false);
    const last = chars.length - 1;
    const chomp = chars.length === 0 || !isBreak(chars[last]) ? "-" : last === 0 || isBreak(chars[last - 1]) ? "+" : "";
    if (chomp) this.indicator(chomp, false, false, false);
    this.putBreak();
    this.indention = this.whitespace = true;
    let breaks = true;
    for (const c of chars) {
      if (isBreak(c)) {
        this.writeBreak(c);
        this.indention = breaks = true;
      } else {
        if (breaks) this.writeIndent();
        this.put(c);
        this.indention = breaks = false;
      }
    }
  }

  writeIndent(): void {
    const indent = Math.max(this.indent, 0);
    if (!this.indention || this.column > indent || (this.column === indent && !this.whitespace)) this.putBreak();
    while (this.column < indent) this.put(" ");
    this.whitespace = this.indention = true;
  }

  private indicator(text: string, needWhitespace: boolean, isWhitespace: boolean, isIndention: boolean): void {
    if (needWhitespace && !this.whitespace) this.put(" ");
    for (const c of text) this.put(c);
    this.whitespace = isWhitespace;
    this.indention = this.indention && isIndention;
  }

  private increaseIndent(flow: boolean, indentless: boolean): void {
    this.indents.push(this.indent);
    if (this.indent < 0) this.indent = flow ? INDENT : 0;
    else if (!indentless) this.indent += INDENT;
  }

  private put(c: string): void {
    this.output.push(c);
    this.column++;
  }

  private putBreak(): void {
    this.output.push("\n");
    this.column = 0;
  }

  private writeBreak(c: string): void {
    if (c === "\n") this.putBreak();
    else {
      this.put(c);
      this.column = 0;
    }
  }
}

/** yaml_emitter_check_simple_key for a scalar key: one line, at most 128 bytes. */
function isSimpleKey(key: Node): boolean {
  return "scalar" in key && !analyze(key.scalar).multiline && Buffer.byteLength(key.scalar) <= 128;
}
