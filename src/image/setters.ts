import { parse, parseAllDocuments, visit, type Document, type Scalar } from "yaml";

// image-automation-controller's Setters strategy on one file's text: a scalar whose line comment (or,
// failing that, head comment) is `# {"$imagepolicy": "<namespace>:<policy>[:tag|:name|:digest]"}` gets the
// value of that setter. Unlike kyaml, which re-serialises the whole file, only the scalar's own source
// range is replaced: comments, anchors, order, indentation and quoting elsewhere stay byte for byte.

/** The marker Flux screens files for (quotes included): a file without it is never parsed. */
export const SETTER_TOKEN = '"$imagepolicy"';

/** An image an ImagePolicy chose (its `status.latestRef`), with the policy's name. */
export interface PolicyImage {
  namespace: string;
  name: string;
  latestRef: { name: string; tag: string; digest?: string };
}

/** The object a change was made in, as kyaml identifies it (empty strings for what it lacks). */
export interface ObjectId {
  apiVersion: string;
  kind: string;
  name: string;
  namespace: string;
}

/** One field changed: Flux's update.Change, plus the policy and image behind it (for the older `.Updated`). */
export interface Change {
  oldValue: string;
  newValue: string;
  /** The setter's name, e.g. `flux-system:podinfo:tag`. */
  setter: string;
  policy: { namespace: string; name: string };
  /** The policy's whole image reference (`name:tag[@digest]`). */
  image: string;
}

export interface ObjectChanges {
  object: ObjectId;
  changes: Change[];
}

/** A file's new text and what changed in it, object by object (in the order they appear). */
export interface FileUpdate {
  text: string;
  objects: ObjectChanges[];
}

/** `name:tag[@digest]`, as Flux's ImageRef.String(). */
export function imageRefString(ref: PolicyImage["latestRef"]): string {
  return `${ref.name}:${ref.tag}${ref.digest ? `@${ref.digest}` : ""}`;
}

/** The setters the policies define, by name: the whole image, `:tag`, `:name` and `:digest` of each. */
export function settersOf(policies: PolicyImage[]): Map<string, { value: string; policy: PolicyImage }> {
  const setters = new Map<string, { value: string; policy: PolicyImage }>();
  for (const policy of policies) {
    const base = `${policy.namespace}:${policy.name}`;
    const { latestRef } = policy;
    setters.set(base, { value: imageRefString(latestRef), policy });
    setters.set(`${base}:tag`, { value: latestRef.tag, policy });
    setters.set(`${base}:name`, { value: latestRef.name, policy });
    setters.set(`${base}:digest`, { value: latestRef.digest ?? "", policy });
  }
  return setters;
}

/**
 * Applies the setters to one file's text. undefined when nothing changes: no marker, a marker naming no
 * setter (a policy of another namespace, a missing one), values already current, or text that is not YAML
 * (Flux skips such a file and goes on).
 */
export function applySetters(text: string, setters: ReturnType<typeof settersOf>): FileUpdate | undefined {
  if (!text.includes(SETTER_TOKEN)) return undefined;
  const documents = parseAllDocuments(text);
  if (!Array.isArray(documents) || documents.some((d) => d.errors.length > 0)) return undefined;
  const edits: { start: number; end: number; replacement: string }[] = [];
  const objects: ObjectChanges[] = [];
  for (const document of documents) {
    const object = objectIdOf(document);
    const changes: Change[] = [];
    visit(document, {
      Scalar(key, node) {
        if (key === "key" || !node.range) return;
        const setter = setterNameOf(node);
        const found = setter === undefined ? undefined : setters.get(setter);
        if (!found) return;
        const [start, end] = node.range;
        const oldValue = typeof node.value === "string" ? node.value : text.slice(start, end);
        if (oldValue === found.value) return;
        edits.push({ start, end, replacement: formatScalar(found.value, node) });
        changes.push({
          oldValue,
          newValue: found.value,
          setter: setter!,
          policy: { namespace: found.policy.namespace, name: found.policy.name },
          image: imageRefString(found.policy.latestRef),
        });
      },
    });
    if (changes.length > 0) objects.push({ object, changes });
  }
  if (edits.length === 0) return undefined;
  let updated = text;
  for (const edit of edits.sort((a, b) => b.start - a.start))
    updated = updated.slice(0, edit.start) + edit.replacement + updated.slice(edit.end);
  return { text: updated, objects };
}

/**
 * The setter a scalar's comment names. As kyaml's fieldmeta: the line comment, else the head comment; the
 * first non-empty one decides, and it must be a JSON object of strings with a non-empty `$imagepolicy`.
 */
function setterNameOf(node: Scalar): string | undefined {
  const comment = node.comment?.trim() || node.commentBefore?.trim();
  if (!comment) return undefined;
  try {
    const marker = JSON.parse(comment.replace(/^#+/, "")) as unknown;
    if (typeof marker !== "object" || marker === null || Array.isArray(marker)) return undefined;
    if (Object.values(marker).some((v) => typeof v !== "string")) return undefined;
    const name = (marker as Record<string, string>)["$imagepolicy"];
    return name || undefined;
  } catch {
    return undefined;
  }
}

/**
 * The new value in the scalar's own style. A plain scalar stays plain unless the value would read as
 * something else — a number, a boolean or null under YAML 1.1 (kyaml quotes those too) or 1.2, or text
 * YAML reads differently — and then it is double-quoted. Block scalars become double-quoted ones.
 */
function formatScalar(value: string, node: Scalar): string {
  if (node.type === "QUOTE_SINGLE") return `'${value.replaceAll("'", "''")}'`;
  if (node.type === "PLAIN" && plainIsSafe(value)) return value;
  return JSON.stringify(value);
}

function plainIsSafe(value: string): boolean {
  if (value === "" || value !== value.trim() || /[\n\r\t,[\]{}]/.test(value)) return false;
  try {
    return parse(value, { version: "1.1" }) === value && parse(value) === value;
  } catch {
    return false;
  }
}

/** apiVersion, kind and metadata's name and namespace, read without resolving the rest (aliases stay unexpanded). */
function objectIdOf(document: Document.Parsed): ObjectId {
  const text = (path: string[]) => {
    const value = document.getIn(path);
    return typeof value === "string" ? value : "";
  };
  return {
    apiVersion: text(["apiVersion"]),
    kind: text(["kind"]),
    name: text(["metadata", "name"]),
    namespace: text(["metadata", "namespace"]),
  };
}
