import type { KubeClient } from "./kube-client.js";

/** How a kind is served: its REST resource name and whether it lives in namespaces. */
export interface ResourceInfo {
  group: string;
  version: string;
  kind: string;
  resource: string;
  namespaced: boolean;
}

interface DiscoveryList {
  items?: {
    metadata?: { name?: string };
    versions?: {
      version: string;
      resources?: { resource: string; responseKind?: { kind?: string }; scope: "Namespaced" | "Cluster" }[];
    }[];
  }[];
}

// Aggregated discovery (GA in 1.30): every group, version and resource in one answer per root.
const AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/** Kind → resource mapping for one cluster, from aggregated discovery; refreshed on demand. */
export class Discovery {
  private byKey = new Map<string, ResourceInfo>();
  private loaded?: Promise<void>;

  constructor(private readonly client: KubeClient) {}

  /** Re-reads discovery (after CRDs were applied, say). A failed read is forgotten, so the next lookup tries again. */
  refresh(): Promise<void> {
    const loading = this.load();
    this.loaded = loading;
    loading.catch(() => {
      if (this.loaded === loading) this.loaded = undefined;
    });
    return loading;
  }

  /** The resource serving `kind` in `apiVersion`, or undefined if the cluster does not serve it. */
  async find(apiVersion: string, kind: string): Promise<ResourceInfo | undefined> {
    await (this.loaded ?? this.refresh());
    return this.byKey.get(key(apiVersion, kind));
  }

  /**
   * What the cluster serves as Helm's `.Capabilities.APIVersions` lists it: each `group/version` and
   * each `group/version/Kind`, sorted.
   */
  async apiVersions(): Promise<string[]> {
    await (this.loaded ?? this.refresh());
    const versions = new Set<string>();
    for (const info of this.byKey.values()) {
      const groupVersion = info.group ? `${info.group}/${info.version}` : info.version;
      versions.add(groupVersion).add(`${groupVersion}/${info.kind}`);
    }
    return [...versions].sort();
  }

  private async load(): Promise<void> {
    const [core, groups] = await Promise.all([
      this.client.send<DiscoveryList>({ method: "GET", path: "/api", accept: AGGREGATED }),
      this.client.send<DiscoveryList>({ method: "GET", path: "/apis", accept: AGGREGATED }),
    ]);
    const next = new Map<string, ResourceInfo>();
    for (const item of [...(core.items ?? []), ...(groups.items ?? [])]) {
      const group = item.metadata?.name ?? "";
      for (const { version, resources } of item.versions ?? []) {
        for (const r of resources ?? []) {
          const kind = r.responseKind?.kind;
          if (!kind) continue;
          const info = { group, version, kind, resource: r.resource, namespaced: r.scope === "Namespaced" };
          next.set(key(group ? `${group}/${version}` : version, kind), info);
        }
      }
    }
    this.byKey = next;
  }
}

function key(apiVersion: string, kind: string): string {
  return `${apiVersion}|${kind}`;
}

/** The REST path of a resource collection or object. */
export function resourcePath(info: ResourceInfo, namespace?: string, name?: string): string {
  const root = info.group ? `/apis/${info.group}/${info.version}` : `/api/${info.version}`;
  const ns = info.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : "";
  return `${root}${ns}/${info.resource}${name ? `/${encodeURIComponent(name)}` : ""}`;
}
