import type { HelmRelease, ValuesReference } from "./helmrelease.js";
import { isValuesMap, newValuesMap, parseInto, StrvalsError, type ValuesMap } from "./strvals.js";
import { readValues, ValuesYamlError } from "./values-yaml.js";

// A HelmRelease's values as helm-controller composes them (fluxcd/pkg/chartutil v1.27.1
// ChartValuesFromReferences): each valuesFrom reference in order — its key's YAML merged in, or with
// a targetPath its text set there by Helm's --set rules — then spec.values merged last. Merges share
// maps and lists with what they merge, as Go's do, so a targetPath that changes a map spec.values
// also holds wins over spec.values there (Flux's "target path precedence over all").

export type { ValuesMap } from "./strvals.js";

/** The data of a ConfigMap or Secret (Secret data decoded), or undefined when it does not exist. */
export type ValuesSourceReader = (
  kind: ValuesReference["kind"],
  name: string,
) => Promise<Record<string, string> | undefined> | Record<string, string> | undefined;

/** helm-controller's default `valuesKey`. */
export const DEFAULT_VALUES_KEY = "values.yaml";

/**
 * A values reference that cannot be resolved. The message names the HelmRelease field and the
 * reference as Flux words it (`could not resolve Secret chart values reference 'ns/name' with key
 * 'values.yaml': resource not found`), never the values.
 */
export class ValuesReferenceError extends Error {
  override name = "ValuesReferenceError";
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${field}: ${reason}`);
  }
}

/**
 * The values a HelmRelease installs with. `read` is asked once per ConfigMap or Secret, however
 * many references name it. A missing optional reference (or key) is skipped; a missing required
 * one, a document that is not a map of values, or a targetPath Helm refuses is a ValuesReferenceError.
 */
export async function composeValues(
  hr: Pick<HelmRelease, "metadata" | "spec">,
  read: ValuesSourceReader,
): Promise<ValuesMap> {
  const namespace = hr.metadata.namespace ?? "default";
  const values = hr.spec.values ? copyValues(hr.spec.values) : undefined;
  const fetched = new Map<string, Promise<Record<string, string> | undefined>>();
  const budget = { slots: 1_000_000 };
  let result = newValuesMap();
  for (const [i, ref] of (hr.spec.valuesFrom ?? []).entries()) {
    const key = ref.valuesKey || DEFAULT_VALUES_KEY;
    const field = `spec.valuesFrom[${i}]`;
    const fail = (reason: string) =>
      new ValuesReferenceError(
        field,
        `could not resolve${ref.optional ? " optional" : ""} ${ref.kind} chart values reference '${namespace}/${ref.name}' with key '${key}': ${reason}`,
      );
    const cacheKey = `${ref.kind}/${ref.name}`;
    if (!fetched.has(cacheKey)) fetched.set(cacheKey, Promise.resolve(read(ref.kind, ref.name)));
    const data = await fetched.get(cacheKey)!;
    if (data === undefined) {
      if (ref.optional) continue;
      throw fail("resource not found");
    }
    if (!Object.hasOwn(data, key)) {
      if (ref.optional) continue;
      throw fail("key not found");
    }
    const text = data[key]!;
    try {
      if (ref.targetPath) {
        if (values) result = mergeMaps(result, values);
        setAtPath(result, ref.targetPath, text, ref.literal === true, budget);
      } else result = mergeMaps(result, readValues(text));
    } catch (error) {
      if (error instanceof ValuesYamlError) throw fail(error.message);
      if (error instanceof StrvalsError)
        throw fail(
          ref.literal
            ? error.message
            : `${error.message} (Helm's --set rules read the value; literal: true takes it as it is)`,
        );
      throw error;
    }
  }
  return values ? mergeMaps(result, values) : result;
}

/**
 * chartutil.MergeMaps: `b` over `a` into a new top-level map; maps present in both are merged the
 * same way, anything else from `b` replaces what `a` had (the very object, not a copy).
 */
export function mergeMaps(a: ValuesMap, b: ValuesMap): ValuesMap {
  const out = newValuesMap();
  for (const [k, v] of Object.entries(a)) out[k] = v;
  for (const [k, v] of Object.entries(b)) {
    const existing = out[k];
    out[k] = isValuesMap(v) && isValuesMap(existing) ? mergeMaps(existing, v) : v;
  }
  return out;
}

/**
 * chartutil.ReplacePathValue and ReplacePathLiteralValue: `path=value` through Helm's --set parser.
 * A value in single or double quotes loses them and stays a string; a literal value is escaped so
 * that only the path is parsed.
 */
function setAtPath(values: ValuesMap, path: string, value: string, literal: boolean, budget: { slots: number }): void {
  if (literal) {
    parseInto(`${path}=${value.replace(/[\\,[\]{}]/g, (c) => `\\${c}`)}`, values, true, budget);
    return;
  }
  const quoted = (q: string) => value.startsWith(q) && value.endsWith(q);
  if (quoted("'") || quoted('"')) parseInto(`${path}=${value.replace(/^['"]+|['"]+$/g, "")}`, values, true, budget);
  else parseInto(`${path}=${value}`, values, false, budget);
}

/** spec.values as a values tree of its own (maps without a prototype), so composing never changes the HelmRelease. */
function copyValues(value: unknown): ValuesMap {
  const copy = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(copy);
    if (isValuesMap(v)) {
      const out = newValuesMap();
      for (const [k, item] of Object.entries(v)) out[k] = copy(item);
      return out;
    }
    return v;
  };
  return copy(value) as ValuesMap;
}

export { configDigest } from "./values-digest.js";
