import { isAlias, isMap, isPair, isScalar, isSeq, parseAllDocuments, type Alias, type Document, type Node } from "yaml";
import { newValuesMap, type ValuesMap } from "./strvals.js";

// A values document read as Helm reads it (common.ReadValues: sigs.k8s.io/yaml over go-yaml v2, then
// JSON): YAML 1.1 as go-yaml v2 resolves plain scalars (yes/no/on/off are booleans, 0x1F and 0o17
// are numbers, a timestamp stays a string), merge keys, the first document only, non-string keys
// as their text, and every number a float64. Hostile input — an alias bomb, deep nesting, a huge
// document — is refused, and no error quotes the document (it may come from a Secret).

/** Bounds on what one document may expand to. */
const MAX_NODES = 1_000_000;
const MAX_DEPTH = 500;
/** A values document larger than any Kubernetes object could hold. */
export const MAX_VALUES_BYTES = 3 * 1024 * 1024;

export class ValuesYamlError extends Error {
  override name = "ValuesYamlError";
}

const GO_TAG = "tag:yaml.org,2002:";
const BOOLEANS = new Map<string, boolean>([
  ...["y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"].map((s) => [s, true] as const),
  ...["n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"].map((s) => [s, false] as const),
]);
const NULLS = new Set(["", "~", "null", "Null", "NULL"]);
const SPECIAL_FLOATS = new Set([
  ...[".nan", ".NaN", ".NAN"],
  ...[".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF"],
]);
const YAML_STYLE_FLOAT = /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/;
const INT64_MIN = -(2n ** 63n);
const UINT64_MAX = 2n ** 64n - 1n;

/** Reads a values document: a map, or an empty one for an empty document; anything else is refused. */
export function readValues(text: string): ValuesMap {
  if (Buffer.byteLength(text) > MAX_VALUES_BYTES)
    throw new ValuesYamlError(`the values document is larger than ${MAX_VALUES_BYTES} bytes`);
  let documents;
  try {
    documents = parseAllDocuments(text, { version: "1.1", schema: "failsafe", uniqueKeys: false, prettyErrors: false });
  } catch (error) {
    throw new ValuesYamlError(`the values document cannot be parsed: ${(error as Error).name}`);
  }
  const first = (Array.isArray(documents) ? documents : [])[0];
  if (!first) return newValuesMap();
  const [error] = first.errors;
  if (error) {
    const at = error.linePos?.[0];
    throw new ValuesYamlError(`invalid YAML${at ? ` at line ${at.line}, column ${at.col}` : ""} (${error.code})`);
  }
  const reader = new Reader(first);
  if (reader.expandedSize(first.contents) > MAX_NODES)
    throw new ValuesYamlError(`the values document expands to more than ${MAX_NODES} values`);
  const value = reader.value(first.contents, 0);
  if (value === null) return newValuesMap();
  if (typeof value !== "object" || Array.isArray(value))
    throw new ValuesYamlError(
      `the values document must be a map of values, not ${Array.isArray(value) ? "a list" : `a ${typeof value}`}`,
    );
  if (hasNullKey(value, new Set())) throw new ValuesYamlError("the values document has a null map key");
  return value as ValuesMap;
}

/**
 * A null key, noted while reading: sigs.k8s.io/yaml refuses it only in a map that survives go-yaml's
 * decoding (a later duplicate key may replace the map that holds it).
 */
const NULL_KEY = Symbol("null key");

function hasNullKey(value: unknown, seen: Set<object>): boolean {
  if (typeof value !== "object" || value === null || seen.has(value)) return false;
  seen.add(value);
  if (NULL_KEY in value) return true;
  return Object.values(value).some((item) => hasNullKey(item, seen));
}

class Reader {
  /** Each alias resolved once: resolving searches the whole document. */
  private readonly aliases = new Map<Alias, Node | undefined>();

  constructor(private readonly document: Document) {}

  private resolve(alias: Alias): Node {
    if (!this.aliases.has(alias)) this.aliases.set(alias, alias.resolve(this.document) as Node | undefined);
    const node = this.aliases.get(alias);
    if (!node) throw new ValuesYamlError("the values document has an alias to an anchor it does not define");
    return node;
  }

  /** How many values the document expands to, aliases included, each node measured once (a bomb is cheap to measure). */
  expandedSize(node: unknown, sizes = new Map<unknown, number>(), depth = 0): number {
    if (depth > MAX_DEPTH) throw new ValuesYamlError(`the values document nests deeper than ${MAX_DEPTH} levels`);
    const known = sizes.get(node);
    if (known !== undefined) return known;
    sizes.set(node, Infinity); // an alias inside its own anchor would expand forever
    let size = 1;
    if (isAlias(node)) size += this.expandedSize(this.resolve(node), sizes, depth + 1);
    else if (isSeq(node) || isMap(node))
      for (const item of node.items as unknown[])
        for (const part of isPair(item) ? [item.key, item.value] : [item])
          size += this.expandedSize(part, sizes, depth + 1);
    sizes.set(node, size);
    return size;
  }

  value(node: Node | null | undefined, depth: number): unknown {
    if (depth > MAX_DEPTH) throw new ValuesYamlError(`the values document nests deeper than ${MAX_DEPTH} levels`);
    if (node === null || node === undefined) return null;
    if (isAlias(node)) return this.value(this.resolve(node), depth + 1);
    if (isScalar(node)) return this.scalar(node.value, node.type === "PLAIN", node.tag);
    if (isSeq(node)) return node.items.map((item) => this.value(item as Node, depth + 1));
    if (isMap(node)) return this.map(node.items, newValuesMap(), depth);
    throw new ValuesYamlError("the values document holds a node YAML does not define");
  }

  /** go-yaml v2's mapping: pairs in order, a `<<` merge setting the merged map's keys where it stands. */
  private map(items: { key: unknown; value: unknown }[], into: ValuesMap, depth: number): ValuesMap {
    for (const { key, value } of items) {
      if (isScalar(key) && key.type === "PLAIN" && key.value === "<<" && !key.tag) {
        this.merge(value as Node | null, into, depth);
        continue;
      }
      (into as Record<string | symbol, unknown>)[this.key(key as Node | null, depth)] = this.value(
        value as Node | null,
        depth + 1,
      );
    }
    return into;
  }

  private merge(node: Node | null, into: ValuesMap, depth: number): void {
    const target = isAlias(node) ? this.resolve(node) : node;
    if (isMap(target)) {
      this.map(target.items, into, depth + 1);
      return;
    }
    if (isSeq(target) && !isAlias(node)) {
      // Earlier maps take precedence: go-yaml merges them last.
      for (const item of [...target.items].reverse()) this.merge(item as Node, into, depth + 1);
      return;
    }
    throw new ValuesYamlError("map merge requires map or sequence of maps as the value");
  }

  /** A key as sigs.k8s.io/yaml writes it into JSON: strings as they are, numbers and booleans as text. */
  private key(node: Node | null, depth: number): string | typeof NULL_KEY {
    if (isScalar(node) && node.type === "PLAIN" && !node.tag) {
      // An integer key keeps all its digits (strconv.Itoa), a float key is written as a float32 ('g', 32).
      const text = String(node.value ?? "");
      const { tag, value } = goResolve(text);
      if (tag === "int") return String(value);
      if (tag === "float")
        return formatGoFloat(value as number, 32)
          .replace(/^\+Inf$/, ".inf")
          .replace(/^-Inf$/, "-.inf")
          .replace(/^NaN$/, ".nan");
    }
    const key = this.value(node, depth + 1);
    if (key === null) return NULL_KEY;
    if (typeof key === "string") return key;
    if (typeof key === "boolean") return String(key);
    if (typeof key === "number") return Number.isInteger(key) ? String(key) : formatGoFloat(key, 32);
    throw new ValuesYamlError("the values document has a map or list as a map key");
  }

  private scalar(value: unknown, plain: boolean, tag: string | undefined): unknown {
    const text = value === null || value === undefined ? "" : String(value);
    const short = tag?.startsWith(GO_TAG) ? tag.slice(GO_TAG.length) : tag?.startsWith("!!") ? tag.slice(2) : tag;
    if (short === "str" || (tag !== undefined && !["int", "float", "bool", "null", "timestamp"].includes(short!)))
      return text;
    if (!plain && tag === undefined) return text;
    const resolved = resolvePlain(text);
    if (short === undefined || short === "timestamp") return resolved;
    const kind = resolved === null ? "null" : typeof resolved === "boolean" ? "bool" : typeof resolved;
    const fits = { int: "number", float: "number", bool: "bool", null: "null" }[short] === kind;
    if (!fits) throw new ValuesYamlError(`a value tagged !!${short} is not one`);
    return resolved;
  }
}

/** go-yaml v2's resolve for an untagged plain scalar, then JSON's float64 for every number. */
export function resolvePlain(text: string): unknown {
  const { tag, value } = goResolve(text);
  if (tag === "float" && !Number.isFinite(value))
    throw new ValuesYamlError("the values document holds .inf or .nan, which JSON cannot");
  if (tag === "str" || tag === "timestamp") return text;
  return typeof value === "bigint" ? Number(value) : value;
}

/** Whether go-yaml v2 reads the text, unquoted, as a string (its encoder quotes it otherwise). */
export function goResolvesToString(text: string): boolean {
  return goResolve(text).tag === "str";
}

/** go-yaml v2's resolve: the tag a plain scalar takes, and its value (a number for ints and floats). */
function goResolve(text: string): { tag: "str" | "null" | "bool" | "int" | "float" | "timestamp"; value?: unknown } {
  if (NULLS.has(text)) return { tag: "null", value: null };
  const boolean = BOOLEANS.get(text);
  if (boolean !== undefined) return { tag: "bool", value: boolean };
  if (SPECIAL_FLOATS.has(text))
    return {
      tag: "float",
      value:
        text.includes("nan") || text.includes("NaN") || text.includes("NAN")
          ? NaN
          : text.startsWith("-")
            ? -Infinity
            : Infinity,
    };
  const hint = text[0] ?? "";
  if (hint === ".") {
    const value = Number(text);
    return /^\.[0-9]+([eE][-+]?[0-9]+)?$/.test(text) && Number.isFinite(value)
      ? { tag: "float", value }
      : { tag: "str" };
  }
  if (!/^[-+0-9]$/.test(hint)) return { tag: "str" };
  if (isGoTimestamp(text)) return { tag: "timestamp" };
  const plain = text.replaceAll("_", "");
  const int = goParseInt(plain);
  if (int !== undefined) return { tag: "int", value: int };
  const value = Number(plain);
  if (YAML_STYLE_FLOAT.test(plain) && Number.isFinite(value)) return { tag: "float", value };
  return { tag: "str" };
}

/** go-yaml v2's parseTimestamp: a date, or a date and time (RFC 3339 with short fields, or space separated). */
function isGoTimestamp(text: string): boolean {
  const match =
    /^([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})(?:(?:[Tt]([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})(?:[.,][0-9]+)?(?:Z|[+-][0-9]{2}:[0-9]{2}))|(?: ([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})(?:[.,][0-9]+)?))?$/.exec(
      text,
    );
  if (!match) return false;
  const [year, month, day] = match.slice(1, 4).map(Number) as [number, number, number];
  const [hour = 0, minute = 0, second = 0] = (match[4] ? match.slice(4, 7) : match.slice(7, 10)).map((v) =>
    Number(v ?? 0),
  );
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const daysInMonth = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1] ?? 0;
  return month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth && hour < 24 && minute < 60 && second < 60;
}

/** strconv.ParseInt(s, 0, 64), else ParseUint(s, 0, 64): base prefixes 0x, 0b, 0o and a leading 0 (octal). */
function goParseInt(text: string): bigint | undefined {
  const match = /^([+-]?)(?:0[xX]([0-9a-fA-F]+)|0[bB]([01]+)|0[oO]([0-7]+)|(0[0-7]*)|([1-9][0-9]*))$/.exec(text);
  if (!match) return undefined;
  const [, sign, hex, bin, oct, legacyOct, dec] = match;
  const magnitude = hex
    ? BigInt(`0x${hex}`)
    : bin
      ? BigInt(`0b${bin}`)
      : oct
        ? BigInt(`0o${oct}`)
        : legacyOct
          ? BigInt(`0o${legacyOct.slice(1) || "0"}`)
          : BigInt(dec!);
  const value = sign === "-" ? -magnitude : magnitude;
  const fitsInt64 = value >= INT64_MIN && value < 2n ** 63n;
  const fitsUint64 = sign === "" && value <= UINT64_MAX;
  return fitsInt64 || fitsUint64 ? value : undefined;
}

/**
 * strconv.FormatFloat(f, 'g', -1, bits): the shortest digits that read back as the same float32 or
 * float64, in %e form when the exponent is below -4 or at least 6 (Go's precision for the shortest 'g').
 */
export function formatGoFloat(value: number, bits: 32 | 64): string {
  if (Number.isNaN(value)) return "NaN";
  if (!Number.isFinite(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value === 0) return Object.is(value, -0) ? "-0" : "0";
  const target = bits === 32 ? Math.fround(value) : value;
  let exponential = target.toExponential();
  if (bits === 32)
    for (let digits = 0; digits < 9; digits++) {
      const candidate = target.toExponential(digits);
      if (Math.fround(Number(candidate)) === target) {
        exponential = candidate;
        break;
      }
    }
  const [mantissa, exp] = exponential.split("e") as [string, string];
  const exponent = Number(exp);
  const digits = mantissa.replace("-", "").replace(".", "");
  const sign = target < 0 ? "-" : "";
  if (exponent < -4 || exponent >= 6) {
    const e = Math.abs(exponent).toString().padStart(2, "0");
    return `${sign}${digits[0]}${digits.length > 1 ? `.${digits.slice(1)}` : ""}e${exponent < 0 ? "-" : "+"}${e}`;
  }
  if (exponent < 0) return `${sign}0.${"0".repeat(-exponent - 1)}${digits}`;
  const whole = digits.slice(0, exponent + 1).padEnd(exponent + 1, "0");
  const fraction = digits.slice(exponent + 1);
  return `${sign}${whole}${fraction ? `.${fraction}` : ""}`;
}
