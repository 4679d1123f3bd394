import { renderGoTemplate, type TemplateLimits, defaultTemplateLimits } from "./go-template.js";
import type { Change, ObjectId } from "./setters.js";
import type { FileChanges } from "./update-files.js";

// The data Flux gives a commit message template (image-automation-controller's source.TemplateData):
// `.AutomationObject`, `.Changed` (update.Result: FileChanges, Objects, Changes) and `.Values` — plus
// `.Updated`, which Flux removed (its automations then stall with RemovedTemplateField) and which guides
// still copy: rendered as image-automation-controller v0.x did (`.Updated.Images`, `.Updated.Files`,
// `.Updated.Objects`), so those templates keep working.

/** Flux's default message when `messageTemplate` is empty. */
export const DEFAULT_MESSAGE_TEMPLATE = "Update from image update automation";

/** types.NamespacedName: prints as `namespace/name`. */
class NamespacedName {
  constructor(
    readonly Namespace: string,
    readonly Name: string,
  ) {}
  String(): string {
    return `${this.Namespace}/${this.Name}`;
  }
}

/** update.ObjectIdentifier (kyaml's ResourceIdentifier): APIVersion, Kind, Name, Namespace. */
class ObjectIdentifier {
  constructor(
    readonly APIVersion: string,
    readonly Kind: string,
    readonly Name: string,
    readonly Namespace: string,
  ) {}
  String(): string {
    return `{{${this.APIVersion} ${this.Kind}} {${this.Name} ${this.Namespace}}}`;
  }
}

/** update.Change. */
interface GoChange {
  OldValue: string;
  NewValue: string;
  Setter: string;
}

/** The older update.ImageRef: a parsed image reference and the policy that chose it. */
class ImageRef {
  constructor(
    private readonly ref: string,
    private readonly policy: NamespacedName,
  ) {}
  String(): string {
    return this.ref;
  }
  /** The digest when there is one, else the tag. */
  Identifier(): string {
    const at = this.ref.indexOf("@");
    if (at >= 0) return this.ref.slice(at + 1);
    return this.ref.slice(this.ref.lastIndexOf(":") + 1);
  }
  Registry(): string {
    const first = this.repositoryPath().split("/")[0]!;
    return /[.:]/.test(first) || first === "localhost" ? first : "index.docker.io";
  }
  Repository(): string {
    const path = this.repositoryPath();
    const [first, ...rest] = path.split("/");
    const hasRegistry = /[.:]/.test(first!) || first === "localhost";
    const repository = hasRegistry ? rest.join("/") : path;
    return !hasRegistry && !repository.includes("/") ? `library/${repository}` : repository;
  }
  /** The fully qualified reference, registry included. */
  Name(): string {
    const at = this.ref.indexOf("@");
    const suffix = at >= 0 ? this.ref.slice(at) : `:${this.Identifier()}`;
    return `${this.Registry()}/${this.Repository()}${suffix}`;
  }
  Policy(): NamespacedName {
    return this.policy;
  }
  private repositoryPath(): string {
    const withoutDigest = this.ref.split("@")[0]!;
    const colon = withoutDigest.lastIndexOf(":");
    return colon > withoutDigest.lastIndexOf("/") ? withoutDigest.slice(0, colon) : withoutDigest;
  }
}

/** Renders the commit message for these changes; a TemplateError when the template fails or overruns. */
export function commitMessage(
  template: string | undefined,
  automation: { namespace: string; name: string },
  changes: FileChanges[],
  values: Record<string, string> = {},
  limits: TemplateLimits = defaultTemplateLimits,
): string {
  const data = templateData(automation, changes, values);
  return renderGoTemplate(template || DEFAULT_MESSAGE_TEMPLATE, data, limits);
}

function templateData(
  automation: { namespace: string; name: string },
  files: FileChanges[],
  values: Record<string, string>,
) {
  // Map keys must be one instance per object for Go's map semantics: identifiers are interned.
  const ids = new Map<string, ObjectIdentifier>();
  const idOf = (o: ObjectId) => {
    const key = JSON.stringify([o.apiVersion, o.kind, o.name, o.namespace]);
    let id = ids.get(key);
    if (!id) ids.set(key, (id = new ObjectIdentifier(o.apiVersion, o.kind, o.name, o.namespace)));
    return id;
  };
  const goChange = (c: Change): GoChange => ({ OldValue: c.oldValue, NewValue: c.newValue, Setter: c.setter });
  const imageOf = (c: Change) => new ImageRef(c.image, new NamespacedName(c.policy.namespace, c.policy.name));

  const fileChanges = new Map<string, Map<ObjectIdentifier, GoChange[]>>();
  for (const { file, objects } of files) {
    const perObject = new Map<ObjectIdentifier, GoChange[]>();
    for (const { object, changes } of objects) {
      const id = idOf(object);
      perObject.set(id, [...(perObject.get(id) ?? []), ...changes.map(goChange)]);
    }
    fileChanges.set(file, perObject);
  }
  const changed = {
    FileChanges: fileChanges,
    /** All changes per object, whichever file they are in. */
    Objects(): Map<ObjectIdentifier, GoChange[]> {
      const all = new Map<ObjectIdentifier, GoChange[]>();
      for (const perObject of fileChanges.values())
        for (const [id, list] of perObject) all.set(id, [...(all.get(id) ?? []), ...list]);
      return all;
    },
    /** Every distinct change. */
    Changes(): GoChange[] {
      const seen = new Set<string>();
      const unique: GoChange[] = [];
      for (const perObject of fileChanges.values())
        for (const list of perObject.values())
          for (const change of list) {
            const key = JSON.stringify(change);
            if (seen.has(key)) continue;
            seen.add(key);
            unique.push(change);
          }
      return unique;
    },
  };
  return {
    AutomationObject: new NamespacedName(automation.namespace, automation.name),
    Changed: changed,
    Values: new Map(Object.entries(values)),
    Updated: legacyResult(files, idOf, imageOf),
  };
}

/** v0.x's update.Result: Files → Objects → images, Objects → images, and the distinct Images. */
function legacyResult(files: FileChanges[], idOf: (o: ObjectId) => ObjectIdentifier, imageOf: (c: Change) => ImageRef) {
  const distinct = new Map<string, ImageRef>();
  const imagesOf = (changes: Change[]) => {
    const refs = new Map<string, ImageRef>();
    for (const change of changes) {
      const ref = distinct.get(change.image) ?? imageOf(change);
      distinct.set(change.image, ref);
      refs.set(change.image, ref);
    }
    return [...refs.values()];
  };
  const byFile = new Map<string, { Objects: Map<ObjectIdentifier, ImageRef[]> }>();
  const byObject = new Map<ObjectIdentifier, ImageRef[]>();
  for (const { file, objects } of files) {
    const perObject = new Map<ObjectIdentifier, ImageRef[]>();
    for (const { object, changes } of objects) {
      const id = idOf(object);
      const images = imagesOf(changes);
      perObject.set(id, images);
      byObject.set(id, [...new Set([...(byObject.get(id) ?? []), ...images])]);
    }
    byFile.set(file, { Objects: perObject });
  }
  return { Files: byFile, Objects: byObject, Images: () => [...distinct.values()] };
}
