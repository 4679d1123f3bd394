// Helm's `--set` parser (helm.sh/helm/v4 pkg/strvals, v4.2.2), which helm-controller uses to put a
// valuesFrom value at its targetPath. Ported rule for rule, quirks included, because a fleet written
// for Flux relies on them: `path=value` is a whole set line (a `,` in the value starts another
// assignment, `{a,b}` is a list), `\` escapes the next character, untyped values become booleans,
// null or integers, and existing maps and lists are changed in place (as Go's maps and slices are).

/** A values tree: maps without a prototype (so a `__proto__` key is just a key), lists, scalars. */
export type ValuesMap = Record<string, unknown>;

/** Helm's limits (strvals.MaxIndex, MaxNestedNameLevel). */
const MAX_INDEX = 65_536;
const MAX_NESTED_NAME_LEVEL = 30;

/** Thrown for a set line Helm refuses; the message quotes nothing of the line (its value may be a secret). */
export class StrvalsError extends Error {
  override name = "StrvalsError";
}

const END = Symbol("end of input");
type Stop = string | typeof END;

export function newValuesMap(): ValuesMap {
  return Object.create(null) as ValuesMap;
}

export function isValuesMap(value: unknown): value is ValuesMap {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Parses `line` into `dest` as strvals.ParseInto (typed values) or, with `asString`, ParseIntoString.
 * `budget` bounds the list slots a hostile line may allocate (`a[65536]=x` repeated).
 */
export function parseInto(line: string, dest: ValuesMap, asString: boolean, budget = { slots: 1_000_000 }): void {
  try {
    new Parser([...line], asString, budget).parse(dest);
  } catch (error) {
    // Nested lists recurse (`a[0][0]…`): a line deeper than the stack is refused, not a crash.
    if (error instanceof RangeError) throw new StrvalsError("the set line nests too deeply", { cause: error });
    throw error;
  }
}

class Parser {
  private at = 0;

  constructor(
    private readonly runes: string[],
    private readonly asString: boolean,
    private readonly budget: { slots: number },
  ) {}

  parse(data: ValuesMap): void {
    while (this.key(data, 0) !== END);
  }

  /** Reads up to a stop character, `\` escaping the next one; returns what was read and the stop (or END). */
  private until(stop: string): [string, Stop] {
    let read = "";
    for (;;) {
      const r = this.runes[this.at++];
      if (r === undefined) return [read, END];
      if (stop.includes(r)) return [read, r];
      if (r === "\\") {
        const next = this.runes[this.at++];
        if (next === undefined) return [read, END];
        read += next;
      } else read += r;
    }
  }

  /** One assignment into `data`; END once the line is consumed (io.EOF, which ends a set line without error). */
  private key(data: ValuesMap, level: number): typeof END | undefined {
    const [k, last] = this.until("=[,.");
    if (last === END) {
      if (k.length === 0) return END;
      throw new StrvalsError("a key has no value");
    }
    if (last === "[") {
      const index = this.index();
      if (index === END) return END;
      const { list, end } = this.listItem(Object.hasOwn(data, k) ? asList(data[k]) : [], index, level);
      set(data, k, list);
      return end ? END : undefined;
    }
    if (last === "=") {
      const list = this.valueList();
      if (list === END) {
        set(data, k, "");
        return END;
      }
      set(data, k, list ?? this.typed(this.until(",")[0]));
      return undefined;
    }
    if (last === ",") throw new StrvalsError("a key has no value (cannot end with ,)");
    // last === "."
    if (level + 1 > MAX_NESTED_NAME_LEVEL)
      throw new StrvalsError(
        `value name nested level is greater than maximum supported nested level of ${MAX_NESTED_NAME_LEVEL}`,
      );
    const inner = Object.hasOwn(data, k) ? asMap(data[k]) : newValuesMap();
    const end = this.key(inner, level + 1);
    const empty = Object.keys(inner).length === 0;
    if (end === undefined && empty) throw new StrvalsError("a key map has no value");
    if (!empty) set(data, k, inner);
    return end;
  }

  /** `[n]`: strconv.Atoi of what precedes `]`; END when the line ends first (Go wraps io.EOF, which ends the line). */
  private index(): number | typeof END {
    const [digits, last] = this.until("]");
    if (last === END) return END;
    if (!/^[+-]?[0-9]+$/.test(digits)) throw new StrvalsError("error parsing index: not a number");
    return Number(digits);
  }

  /** What follows `name[i]`: a value, a nested list or a map; `end` when the line ended before the item was set. */
  private listItem(list: unknown[], i: number, level: number): { list: unknown[]; end: boolean } {
    if (i < 0) throw new StrvalsError(`negative ${i} index not allowed`);
    const [k, last] = this.until("[.=");
    if (k.length > 0) throw new StrvalsError("unexpected data at end of array index");
    if (last === END) return { list, end: true };
    if (last === "=") {
      const values = this.valueList();
      const value = values === END ? "" : (values ?? this.typed(this.until(",")[0]));
      return { list: this.setIndex(list, i, value), end: false };
    }
    if (last === "[") {
      const next = this.index();
      if (next === END) return { list, end: true };
      const existing = list.length > i && list[i] !== null ? asList(list[i]) : [];
      const nested = this.listItem(existing, next, level);
      return nested.end ? { list, end: true } : { list: this.setIndex(list, i, nested.list), end: false };
    }
    // last === ".": an item that is not a map is replaced by one (Helm's "indices out of order")
    let inner = newValuesMap();
    if (list.length > i) {
      if (isValuesMap(list[i])) inner = list[i] as ValuesMap;
      else list[i] = inner;
    }
    if (this.key(inner, level) === END) return { list, end: true };
    return { list: this.setIndex(list, i, inner), end: false };
  }

  private setIndex(list: unknown[], index: number, value: unknown): unknown[] {
    if (index < 0) throw new StrvalsError(`negative ${index} index not allowed`);
    if (index > MAX_INDEX)
      throw new StrvalsError(`index of ${index} is greater than maximum supported index of ${MAX_INDEX}`);
    let target = list;
    if (list.length <= index) {
      this.budget.slots -= index + 1;
      if (this.budget.slots < 0) throw new StrvalsError("too many list items: the values would be too large");
      target = [...list, ...Array<unknown>(index + 1 - list.length).fill(null)];
    }
    target[index] = value;
    return target;
  }

  /** `{a,b}`: a list of values; undefined when the value is not a list, END at the end of input. */
  private valueList(): unknown[] | undefined | typeof END {
    const first = this.runes[this.at];
    if (first === undefined) return END;
    if (first !== "{") return undefined;
    this.at++;
    const list: unknown[] = [];
    for (;;) {
      const [value, last] = this.until(",}");
      if (last === END) throw new StrvalsError("list must terminate with '}'");
      list.push(this.typed(value));
      if (last === "}") {
        if (this.runes[this.at] === ",") this.at++;
        return list;
      }
    }
  }

  /**
   * strvals.typedVal: true/false/null (any case), integers not starting with 0 (Go's int64 range),
   * else the string. An integer past 2^53 becomes the nearest JavaScript number, so that the values
   * stay JSON (Go keeps all 64 bits: Helm would get the exact number).
   */
  private typed(value: string): unknown {
    if (this.asString) return value;
    // Go's strings.EqualFold: the long s folds to s.
    const lower = value.toLowerCase().replaceAll("ſ", "s");
    if (lower === "true") return true;
    if (lower === "false") return false;
    if (lower === "null") return null;
    if (value === "0") return 0;
    if (value.length > 0 && value[0] !== "0" && /^[+-]?[0-9]+$/.test(value)) {
      const big = BigInt(value);
      if (big >= -(2n ** 63n) && big < 2n ** 63n) return Number(big);
    }
    return value;
  }
}

function set(data: ValuesMap, key: string, value: unknown): void {
  if (key.length > 0) data[key] = value;
}

function asList(value: unknown): unknown[] {
  if (!Array.isArray(value)) throw new StrvalsError(`unable to parse key: ${kindOf(value)} where a list is set`);
  return value;
}

function asMap(value: unknown): ValuesMap {
  if (!isValuesMap(value)) throw new StrvalsError(`unable to parse key: ${kindOf(value)} where a map is set`);
  return value;
}

function kindOf(value: unknown): string {
  if (value === null || value === undefined) return "null";
  if (Array.isArray(value)) return "a list";
  return `a ${typeof value}`;
}
