import { parse, stringify } from "yaml";
import { formatId, type KubeObject } from "../apply/object.js";

// Flux's post-build substitution (kustomize-controller, drone/envsubst semantics) on each rendered
// object's YAML text: `${var}`, `${var:=default}`, `${var:position:length}`, `${var/from/to}` and
// friends, `$${var}` as an escape. Only the braced form is substituted, as in Flux.

/** Objects with this label or annotation are left alone (Flux's opt-out). */
export const SUBSTITUTE_DISABLED = { key: "kustomize.toolkit.fluxcd.io/substitute", value: "disabled" };

const NAME = /^[_a-zA-Z][_a-zA-Z0-9]*$/;

export interface SubstituteOptions {
  /** An undefined variable without a default is an error (else it becomes empty). @default true */
  strict?: boolean;
}

/** One or more objects could not be substituted; `problems` names each object and variable. */
export class SubstitutionError extends Error {
  override name = "SubstitutionError";
  constructor(readonly problems: string[]) {
    super(`post-build substitution failed: ${problems.join("; ")}`);
  }
}

/** Substitutes every object, reporting all problems at once. */
export function substituteAll(
  objects: KubeObject[],
  vars: Record<string, string>,
  options: SubstituteOptions = {},
): KubeObject[] {
  const invalid = Object.keys(vars).filter((k) => !NAME.test(k));
  if (invalid.length > 0)
    throw new SubstitutionError(invalid.map((k) => `variable name '${k}' is invalid: it must match ${NAME.source}`));
  const problems: string[] = [];
  const result = objects.map((object) => {
    try {
      return substituteObject(object, vars, options);
    } catch (error) {
      problems.push(
        `${formatId({ kind: object.kind, namespace: object.metadata.namespace ?? "", name: object.metadata.name })}: ${(error as Error).message}`,
      );
      return object;
    }
  });
  if (problems.length > 0) throw new SubstitutionError(problems);
  return result;
}

/** Substitutes one object through its YAML text, so `replicas: ${N}` becomes a number as in Flux. */
export function substituteObject(
  object: KubeObject,
  vars: Record<string, string>,
  options: SubstituteOptions = {},
): KubeObject {
  const { key, value } = SUBSTITUTE_DISABLED;
  if (object.metadata.labels?.[key] === value || object.metadata.annotations?.[key] === value) return object;
  const text = stringify(object, { lineWidth: 0 });
  const replaced = substituteText(text, vars, options.strict ?? true);
  return replaced === text ? object : (parse(replaced) as KubeObject);
}

/** Expands `${…}` expressions in text; `$${…}` yields the literal `${…}`. */
export function substituteText(text: string, vars: Record<string, string>, strict: boolean): string {
  let out = "";
  let i = 0;
  while (i < text.length) {
    const start = text.indexOf("$", i);
    if (start < 0) break;
    out += text.slice(i, start);
    if (text.startsWith("$${", start)) {
      const end = closingBrace(text, start + 2);
      out += end < 0 ? "$$" : text.slice(start + 1, end + 1);
      i = end < 0 ? start + 2 : end + 1;
      continue;
    }
    if (text[start + 1] !== "{") {
      out += "$";
      i = start + 1;
      continue;
    }
    const end = closingBrace(text, start + 1);
    if (end < 0) throw new Error(`unterminated expression '${text.slice(start, start + 40)}'`);
    out += evaluate(text.slice(start + 2, end), vars, strict);
    i = end + 1;
  }
  return out + text.slice(i);
}

/** Index of the `}` closing the `{` at `open`, allowing nested `${…}` in defaults. */
function closingBrace(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === "{") depth++;
    else if (text[i] === "}" && --depth === 0) return i;
  }
  return -1;
}

function evaluate(expression: string, vars: Record<string, string>, strict: boolean): string {
  if (expression.startsWith("#")) return String(lookup(expression.slice(1), vars, strict).length);
  const match = /^([_a-zA-Z][_a-zA-Z0-9]*)(.*)$/s.exec(expression);
  if (!match) throw new Error(`bad substitution '\${${expression}}'`);
  const [, name, op] = match as unknown as [string, string, string];
  const value = vars[name];
  const set = value !== undefined;
  const nested = (s: string) => substituteText(s, vars, strict);
  // Operators in drone/envsubst's order of recognition.
  const rules: [RegExp, (m: RegExpExecArray) => string][] = [
    [/^$/, () => lookup(name, vars, strict)],
    [/^:?[=-](.*)$/s, (m) => (set && (value !== "" || !op.startsWith(":")) ? value : nested(m[1]!))],
    [/^:(-?\d+)(?::(\d+))?$/, (m) => substring(lookup(name, vars, strict), Number(m[1]), m[2])],
    [/^\/\/([^/]*)\/(.*)$/s, (m) => lookup(name, vars, strict).replaceAll(m[1]!, m[2]!)],
    [/^\/([^/]*)\/(.*)$/s, (m) => lookup(name, vars, strict).replace(m[1]!, m[2]!)],
    [/^##(.*)$/s, (m) => trimPrefix(lookup(name, vars, strict), m[1]!, true)],
    [/^#(.*)$/s, (m) => trimPrefix(lookup(name, vars, strict), m[1]!, false)],
    [/^%%(.*)$/s, (m) => trimSuffix(lookup(name, vars, strict), m[1]!, true)],
    [/^%(.*)$/s, (m) => trimSuffix(lookup(name, vars, strict), m[1]!, false)],
    [/^\^\^$/, () => lookup(name, vars, strict).toUpperCase()],
    [/^\^$/, () => firstCase(lookup(name, vars, strict), "upper")],
    [/^,,$/, () => lookup(name, vars, strict).toLowerCase()],
    [/^,$/, () => firstCase(lookup(name, vars, strict), "lower")],
  ];
  for (const [pattern, apply] of rules) {
    const m = pattern.exec(op);
    if (m) return apply(m);
  }
  throw new Error(`bad substitution '\${${expression}}'`);
}

function lookup(name: string, vars: Record<string, string>, strict: boolean): string {
  const value = vars[name];
  if (value !== undefined) return value;
  if (strict) throw new Error(`variable not set (strict mode): "${name}"`);
  return "";
}

function substring(value: string, position: number, length: string | undefined): string {
  const start = position < 0 ? Math.max(value.length + position, 0) : Math.min(position, value.length);
  return length === undefined ? value.slice(start) : value.slice(start, start + Number(length));
}

/** Shell-style prefix removal with `*` and `?` globs; `greedy` takes the longest match. */
function trimPrefix(value: string, pattern: string, greedy: boolean): string {
  const re = globRegExp(pattern);
  const lengths = Array.from({ length: value.length + 1 }, (_, n) => n).filter((n) => re.test(value.slice(0, n)));
  const n = greedy ? lengths.at(-1) : lengths[0];
  return n === undefined ? value : value.slice(n);
}

function trimSuffix(value: string, pattern: string, greedy: boolean): string {
  const re = globRegExp(pattern);
  const starts = Array.from({ length: value.length + 1 }, (_, n) => n).filter((n) => re.test(value.slice(n)));
  const n = greedy ? starts[0] : starts.at(-1);
  return n === undefined ? value : value.slice(0, n);
}

function globRegExp(pattern: string): RegExp {
  const source = pattern
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replaceAll("*", ".*")
    .replaceAll("?", ".");
  return new RegExp(`^${source}$`, "s");
}

function firstCase(value: string, to: "upper" | "lower"): string {
  const first = value.charAt(0);
  return (to === "upper" ? first.toUpperCase() : first.toLowerCase()) + value.slice(1);
}
