import { groupOf, versionOf, type KubeObject } from "./object.js";

// Flux's `spec.ignore` (drift-ignore rules): JSON Pointer paths the apply leaves alone on objects
// that already exist, so another controller (an HPA scaling replicas, a webhook injecting a CA
// bundle) can own them without Sluice reverting its changes. Objects being created are applied whole.

/** Which objects a rule covers; `group`…`namespace` are regular expressions matching the whole value. */
export interface IgnoreTarget {
  group?: string;
  version?: string;
  kind?: string;
  name?: string;
  namespace?: string;
  labelSelector?: string;
  annotationSelector?: string;
}

export interface IgnoreRule {
  paths: string[];
  target?: IgnoreTarget;
}

/** The desired object without the fields the rules ignore for it (a copy; the input is untouched). */
export function withoutIgnoredFields(object: KubeObject, rules: IgnoreRule[] | undefined): KubeObject {
  const paths = (rules ?? []).filter((r) => !r.target || targets(r.target, object)).flatMap((r) => r.paths);
  if (paths.length === 0) return object;
  const copy = structuredClone(object);
  for (const path of paths) removePointer(copy, path);
  return copy;
}

function targets(target: IgnoreTarget, object: KubeObject): boolean {
  const whole = (pattern: string | undefined, value: string) =>
    pattern === undefined || new RegExp(`^(?:${pattern})$`).test(value);
  return (
    whole(target.group, groupOf(object.apiVersion)) &&
    whole(target.version, versionOf(object.apiVersion)) &&
    whole(target.kind, object.kind) &&
    whole(target.name, object.metadata.name) &&
    whole(target.namespace, object.metadata.namespace ?? "") &&
    (target.labelSelector === undefined || matchesSelector(target.labelSelector, object.metadata.labels ?? {})) &&
    (target.annotationSelector === undefined ||
      matchesSelector(target.annotationSelector, object.metadata.annotations ?? {}))
  );
}

/**
 * A Kubernetes label selector: `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`,
 * comma-separated, all of which must hold.
 */
export function matchesSelector(selector: string, labels: Record<string, string>): boolean {
  const requirements = selector.match(/[^,(]+(\([^)]*\))?/g) ?? [];
  return requirements.every((raw) => {
    const term = raw.trim();
    if (term === "") return true;
    const set = /^(\S+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(term);
    if (set) {
      const values = set[3]!.split(",").map((v) => v.trim());
      const has = set[1]! in labels && values.includes(labels[set[1]!]!);
      return set[2] === "in" ? has : !has;
    }
    const equality = /^([^!=\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(term);
    if (equality) {
      const [, key, op, value] = equality as unknown as [string, string, string, string];
      return op === "!=" ? labels[key] !== value : labels[key] === value;
    }
    if (term.startsWith("!")) return !(term.slice(1).trim() in labels);
    if (/^\S+$/.test(term)) return term in labels;
    throw new Error(`label selector '${selector}': cannot parse '${term}'`);
  });
}

/** Removes the value an RFC 6901 JSON Pointer names, if present (`~1` is `/`, `~0` is `~`). */
function removePointer(document: unknown, pointer: string): void {
  if (!pointer.startsWith("/")) return;
  const tokens = pointer
    .slice(1)
    .split("/")
    .map((t) => t.replaceAll("~1", "/").replaceAll("~0", "~"));
  let parent: unknown = document;
  for (const token of tokens.slice(0, -1)) {
    parent = parent && typeof parent === "object" ? (parent as Record<string, unknown>)[token] : undefined;
    if (parent === undefined) return;
  }
  const last = tokens.at(-1)!;
  if (Array.isArray(parent) && /^\d+$/.test(last)) parent.splice(Number(last), 1);
  else if (parent && typeof parent === "object") delete (parent as Record<string, unknown>)[last];
}
