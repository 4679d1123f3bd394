import type { Cluster } from "../cluster/cluster.js";
import type { ResourceInfo } from "../cluster/discovery.js";
import type { KubeClient } from "../cluster/kube-client.js";
import type { FieldPatchMeta, PatchSchema } from "./strategic-merge.js";

// How a kind is patched client-side, from the API server's own OpenAPI v3 (`/openapi/v3/apis/<group>/<version>`):
// whether its PATCH takes a strategic merge patch (built-in kinds; custom resources take JSON merge patches only),
// and each field's `x-kubernetes-patch-strategy` / `x-kubernetes-patch-merge-key` — the Go struct tags the server
// itself merges by. (`x-kubernetes-list-type` is server-side apply's; a strategic merge ignores it, so does this.)

export interface OpenApiSchema {
  type?: string;
  properties?: Record<string, OpenApiSchema>;
  additionalProperties?: boolean | OpenApiSchema;
  items?: OpenApiSchema;
  allOf?: OpenApiSchema[];
  $ref?: string;
  "x-kubernetes-patch-strategy"?: string;
  "x-kubernetes-patch-merge-key"?: string;
  "x-kubernetes-preserve-unknown-fields"?: boolean;
  "x-kubernetes-group-version-kind"?: { group: string; version: string; kind: string }[];
}

/** The parts of a group-version's OpenAPI v3 document used here. */
export interface OpenApiDocument {
  paths?: Record<string, { patch?: { requestBody?: { content?: Record<string, unknown> } } }>;
  components?: { schemas?: Record<string, OpenApiSchema> };
}

export type PatchKind = { type: "strategic"; schema: PatchSchema } | { type: "merge" };

const STRATEGIC = "application/strategic-merge-patch+json";

/**
 * How the server takes a patch of `info`'s kind, read from its group-version's document: a strategic merge patch with
 * the kind's schema, or a JSON merge patch when the object's PATCH does not accept a strategic one.
 */
export function patchKindIn(document: OpenApiDocument, info: ResourceInfo): PatchKind | undefined {
  const root = info.group ? `/apis/${info.group}/${info.version}` : `/api/${info.version}`;
  const path = `${root}${info.namespaced ? "/namespaces/{namespace}" : ""}/${info.resource}/{name}`;
  const content = document.paths?.[path]?.patch?.requestBody?.content;
  if (!content) return undefined;
  if (!(STRATEGIC in content)) return { type: "merge" };
  const schemas = document.components?.schemas ?? {};
  const kindSchema = Object.values(schemas).find((s) =>
    s["x-kubernetes-group-version-kind"]?.some(
      (g) => g.group === info.group && g.version === info.version && g.kind === info.kind,
    ),
  );
  return kindSchema && { type: "strategic", schema: new OpenApiPatchSchema(schemas, kindSchema) };
}

/** A field the schema leaves open (preserved unknown fields, raw extensions): anything, merged as plain maps. */
const OPEN: PatchSchema = { field: () => ({ strategies: [], schema: OPEN }) };

class OpenApiPatchSchema implements PatchSchema {
  constructor(
    private readonly schemas: Record<string, OpenApiSchema>,
    private readonly node: OpenApiSchema,
  ) {}

  field(name: string): FieldPatchMeta | undefined {
    const node = this.resolve(this.node);
    const additional = typeof node.additionalProperties === "object" ? node.additionalProperties : undefined;
    const property = node.properties?.[name] ?? additional;
    if (!property) return isOpen(node) ? { strategies: [], schema: OPEN } : undefined;
    const value = this.resolve(property);
    const strategy = property["x-kubernetes-patch-strategy"] ?? value["x-kubernetes-patch-strategy"];
    const mergeKey = property["x-kubernetes-patch-merge-key"] ?? value["x-kubernetes-patch-merge-key"];
    const element = value.type === "array" && value.items ? value.items : value;
    return {
      strategies: strategy ? strategy.split(",") : [],
      ...(mergeKey && { mergeKey }),
      schema: new OpenApiPatchSchema(this.schemas, element),
    };
  }

  /** The node a `$ref` (bare, or as the single `allOf` the v3 documents wrap references in) points to. */
  private resolve(node: OpenApiSchema): OpenApiSchema {
    for (let depth = 0; depth < 32; depth++) {
      const ref = node.$ref ?? (node.allOf?.length === 1 ? node.allOf[0]!.$ref : undefined);
      if (!ref) return node;
      const target = this.schemas[ref.replace("#/components/schemas/", "")];
      if (!target) return {};
      node = target;
    }
    return node;
  }
}

/** A node with no declared fields, or one that keeps unknown ones: its content is not described. */
function isOpen(node: OpenApiSchema): boolean {
  return !!node["x-kubernetes-preserve-unknown-fields"] || (!node.properties && node.additionalProperties !== false);
}

interface OpenApiIndex {
  paths?: Record<string, { serverRelativeURL?: string }>;
}

/** The index of group-version documents, re-read after this long (a new CRD version changes it). */
const INDEX_TTL_MS = 60_000;
/** Group-version documents kept parsed (core/v1 is ~1 MB of JSON); keyed by their content-hashed URL. */
const MAX_DOCUMENTS = 8;
const indexes = new WeakMap<KubeClient, { at: number; index: Promise<OpenApiIndex> }>();
const documents = new Map<string, Promise<OpenApiDocument>>();

/**
 * The patch kind for `info` on this cluster, its group-version's document fetched once (and again only when the
 * server's hash of it changes). Undefined when the server publishes no OpenAPI for it.
 */
export async function patchKindFor(cluster: Cluster, info: ResourceInfo): Promise<PatchKind | undefined> {
  const client = cluster.client;
  let cached = indexes.get(client);
  const now = cluster.clock.now();
  if (!cached || now - cached.at > INDEX_TTL_MS) {
    cached = { at: now, index: client.send<OpenApiIndex>({ method: "GET", path: "/openapi/v3" }) };
    cached.index.catch(() => indexes.delete(client));
    indexes.set(client, cached);
  }
  const groupVersion = info.group ? `apis/${info.group}/${info.version}` : `api/${info.version}`;
  const url = (await cached.index).paths?.[groupVersion]?.serverRelativeURL;
  if (!url) return undefined;
  return patchKindIn(await documentAt(client, url), info);
}

function documentAt(client: KubeClient, serverRelativeURL: string): Promise<OpenApiDocument> {
  const key = `${client.server}${serverRelativeURL}`;
  let document = documents.get(key);
  if (!document) {
    const url = new URL(serverRelativeURL, client.server);
    document = client.send<OpenApiDocument>({
      method: "GET",
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
    });
    document.catch(() => documents.delete(key));
    if (documents.size >= MAX_DOCUMENTS) documents.delete(documents.keys().next().value!);
  }
  documents.delete(key); // re-inserted last: the least recently used goes first
  documents.set(key, document);
  return document;
}
