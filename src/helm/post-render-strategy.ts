import { stringify } from "yaml";
import type { KubeObject } from "../apply/object.js";
import type { RenderLimits } from "../render/limits.js";
import { hasWork, postRender, type KustomizePostRenderer } from "./post-render.js";
import { parseObjects, splitOutput, templateSections, type RenderedRelease } from "./render.js";

// `spec.postRenderStrategy`, as Helm v4.2's renderResources sends a release to its post-renderer
// (pkg/action/action.go), which helm-controller v1.6.3 configures with the HelmRelease's strategy:
// - combined (the default): every template, hooks included, in one stream;
// - separate: the hooks in one stream and the other templates in another;
// - nohooks: the templates only; hooks are left as rendered (Helm 3).
// A stream carries each document's template path in an annotation; the post-rendered documents are
// grouped back by it (those without it get a generated name), then sorted into manifest and hooks again,
// the manifest in Helm's install order. helm-controller's own post-renderers (commonMetadata, then the origin
// labels) run after the HelmRelease's: Sluice puts that metadata on the release's objects when applying
// them, and here on the hooks that were sent through, which Helm stores and creates as post-rendered.

export type PostRenderStrategy = "nohooks" | "combined" | "separate";

/** Helm's annotation carrying a document's template path through the post-renderer. */
const FILENAME = "postrenderer.helm.sh/postrender-filename";

/** Helm's InstallOrder (pkg/release/v1/util/kind_sorter.go): the manifest's kinds in the order Helm stores them. */
const INSTALL_ORDER = [
  ...["PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy"],
  ...["PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList", "ConfigMap", "StorageClass"],
  ...["PersistentVolume", "PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole", "ClusterRoleList"],
  ...["ClusterRoleBinding", "ClusterRoleBindingList", "Role", "RoleList", "RoleBinding", "RoleBindingList"],
  ...["Service", "DaemonSet", "Pod", "ReplicationController", "ReplicaSet", "Deployment", "HorizontalPodAutoscaler"],
  ...["StatefulSet", "Job", "CronJob", "IngressClass", "Ingress", "APIService", "MutatingWebhookConfiguration"],
  "ValidatingWebhookConfiguration",
];
const RANK = new Map(INSTALL_ORDER.map((kind, i) => [kind, i]));

export interface PostRenderRequest {
  strategy: PostRenderStrategy;
  renderers: KustomizePostRenderer[];
  /** helm-controller's commonMetadata and origin labels, for the hooks sent to the post-renderer. */
  hookMetadata: { labels: Record<string, string>; annotations: Record<string, string> };
  kubectl: string;
  workDir: string;
  limits: RenderLimits;
}

interface Document {
  path: string;
  object: KubeObject;
}

/** The release after its post-renderers, as the strategy sends its templates and hooks through them. */
export async function postRenderRelease(
  rendered: RenderedRelease,
  request: PostRenderRequest,
): Promise<RenderedRelease> {
  const { strategy } = request;
  // Without a kustomize post-renderer at work, only helm-controller's metadata changes anything: on the hooks, each
  // record's one object written again with it, the rest of the record as it was.
  if (!request.renderers.some(hasWork)) {
    if (strategy === "nohooks") return rendered;
    const hooks = rendered.hooks.map((hook) => {
      const [object] = parseObjects(hook.manifest, hook.path);
      const labelled = withHookMetadata({ path: hook.path, object: object! }, request.hookMetadata).object;
      return { ...hook, manifest: yaml(labelled).replace(/\n$/, "") };
    });
    return { ...rendered, hooks };
  }
  const hooks = rendered.hooks.flatMap((h) =>
    parseObjects(h.manifest, h.path).map((object) => ({ path: h.path, object })),
  );
  const templates = templateSections(rendered.manifest).flatMap(({ path, content }) =>
    parseObjects(content, path).map((object) => ({ path, object })),
  );
  const groups =
    strategy === "combined"
      ? [{ name: "", documents: [...templates, ...hooks], sent: true }]
      : [
          { name: "hooks", documents: hooks, sent: strategy === "separate" },
          { name: "manifests", documents: templates, sent: true },
        ];
  const documents: Document[] = [];
  for (const { name, documents: group, sent } of groups) {
    if (!sent || group.length === 0) {
      documents.push(...group);
      continue;
    }
    const output = await postRender(request.kubectl, request.workDir, stream(group), request.renderers, request.limits);
    documents.push(...regrouped(output, name).map((d) => withHookMetadata(d, request.hookMetadata)));
  }
  return { ...splitOutput(assembled(documents)), crds: rendered.crds };
}

/** YAML that Go's YAML 1.1 readers (Helm's, kustomize's) read back with the same types: `"yes"` stays a string. */
const yaml = (object: KubeObject) => stringify(object, { version: "1.1" });

/** Helm's annotateAndMerge: the documents by template path, each annotated with its path, as one YAML stream. */
function stream(documents: Document[]): string {
  const sorted = [...documents].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return sorted
    .map(({ path, object }) => {
      const annotations = { ...object.metadata.annotations, [FILENAME]: path };
      return `---\n${yaml({ ...object, metadata: { ...object.metadata, annotations } })}`;
    })
    .join("");
}

/**
 * Helm's splitAndDeannotate: each post-rendered document back under its template path (a generated one for a
 * document without it), the annotation removed (its map left empty, as kyaml leaves it).
 */
function regrouped(output: string, group: string): Document[] {
  return parseObjects(output, "the post-rendered manifest").map((object, i) => {
    const { [FILENAME]: path, ...annotations } = object.metadata.annotations ?? {};
    const generated = `generated-by-postrender-${group ? `${group}-` : ""}${i}.yaml`;
    return {
      path: typeof path === "string" && path !== "" ? path : generated,
      object: object.metadata.annotations ? { ...object, metadata: { ...object.metadata, annotations } } : object,
    };
  });
}

/**
 * helm-controller's CommonRenderer then OriginLabels, on a hook (the manifest's objects get them when applied): labels
 * and annotations set over the chart's.
 */
function withHookMetadata({ path, object }: Document, metadata: PostRenderRequest["hookMetadata"]): Document {
  if (!object.metadata.annotations?.["helm.sh/hook"]) return { path, object };
  const labels = { ...object.metadata.labels, ...metadata.labels };
  const annotations = { ...object.metadata.annotations, ...metadata.annotations };
  return { path, object: { ...object, metadata: { ...object.metadata, labels, annotations } } };
}

/**
 * The documents as Helm's output lays them out again (a `# Source:` section each), the manifest sorted by kind in
 * Helm's install order (stable, unknown kinds last by name): splitOutput then tells hooks from the manifest.
 */
function assembled(documents: Document[]): string {
  const rank = (d: Document) => RANK.get(d.object.kind) ?? INSTALL_ORDER.length;
  const sorted = documents
    .map((d, i) => ({ d, i }))
    .sort(
      (a, b) =>
        rank(a.d) - rank(b.d) ||
        (rank(a.d) === INSTALL_ORDER.length && a.d.object.kind !== b.d.object.kind
          ? a.d.object.kind < b.d.object.kind
            ? -1
            : 1
          : a.i - b.i),
    );
  return sorted.map(({ d }) => `---\n# Source: ${d.path}\n${yaml(d.object)}`).join("");
}
