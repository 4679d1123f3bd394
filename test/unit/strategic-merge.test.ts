import { describe, expect, it } from "vitest";
import { threeWayMergePatch, twoWayMergePatch } from "../../src/apply/merge-patch.js";
import { patchKindIn, type OpenApiDocument, type OpenApiSchema } from "../../src/apply/openapi-patch-schema.js";
import { threeWayStrategicMergePatch, type JsonMap, type PatchSchema } from "../../src/apply/strategic-merge.js";

// The three-way strategic merge patch against Kubernetes' own: every expected patch below is what
// k8s.io/apimachinery v0.36.4 strategicpatch.CreateThreeWayMergePatch(original, modified, current, <apps/v1
// Deployment>, true) returned for the same documents (the call Helm's client-side apply makes). The schema is read the
// way the API server publishes it in /openapi/v3/apis/apps/v1: `allOf` references, the patch extensions on the field.

const ref = (name: string): OpenApiSchema => ({ allOf: [{ $ref: `#/components/schemas/${name}` }] });
const list = (item: OpenApiSchema, strategy?: string, mergeKey?: string): OpenApiSchema => ({
  type: "array",
  items: item,
  ...(strategy && { "x-kubernetes-patch-strategy": strategy }),
  ...(mergeKey && { "x-kubernetes-patch-merge-key": mergeKey, "x-kubernetes-list-type": "map" }),
});
const string: OpenApiSchema = { type: "string" };
const object = (properties: Record<string, OpenApiSchema>): OpenApiSchema => ({ type: "object", properties });

const schemas: Record<string, OpenApiSchema> = {
  "io.k8s.api.apps.v1.Deployment": {
    ...object({
      apiVersion: string,
      kind: string,
      metadata: ref("meta.ObjectMeta"),
      spec: ref("apps.DeploymentSpec"),
      status: { type: "object", properties: { replicas: { type: "integer" } } },
    }),
    "x-kubernetes-group-version-kind": [{ group: "apps", version: "v1", kind: "Deployment" }],
  },
  "meta.ObjectMeta": object({
    name: string,
    labels: { type: "object", additionalProperties: string },
    annotations: { type: "object", additionalProperties: string },
    finalizers: list(string, "merge"),
  }),
  "apps.DeploymentSpec": object({
    replicas: { type: "integer" },
    progressDeadlineSeconds: { type: "integer" },
    strategy: { ...ref("apps.DeploymentStrategy"), "x-kubernetes-patch-strategy": "retainKeys" },
    template: ref("core.PodTemplateSpec"),
  }),
  "apps.DeploymentStrategy": object({
    type: string,
    rollingUpdate: {
      type: "object",
      properties: {
        maxSurge: string,
        maxUnavailable: string,
      },
    },
  }),
  "core.PodTemplateSpec": object({ metadata: ref("meta.ObjectMeta"), spec: ref("core.PodSpec") }),
  "core.PodSpec": object({
    containers: list(ref("core.Container"), "merge", "name"),
    volumes: list(ref("core.Volume"), "merge,retainKeys", "name"),
  }),
  "core.Container": object({
    name: string,
    image: string,
    command: list(string),
    args: list(string),
    workingDir: string,
    env: list(object({ name: string, value: string }), "merge", "name"),
    ports: list(
      object({ containerPort: { type: "integer" }, name: string, protocol: string }),
      "merge",
      "containerPort",
    ),
  }),
  "core.Volume": object({
    name: string,
    emptyDir: object({ medium: string }),
    configMap: object({ name: string }),
  }),
};

const content = (...types: string[]) => Object.fromEntries(types.map((t) => [t, {}]));
const appsV1: OpenApiDocument = {
  paths: {
    "/apis/apps/v1/namespaces/{namespace}/deployments/{name}": {
      patch: {
        requestBody: { content: content("application/merge-patch+json", "application/strategic-merge-patch+json") },
      },
    },
  },
  components: { schemas },
};
const deployments = { group: "apps", version: "v1", kind: "Deployment", resource: "deployments", namespaced: true };

function deploymentSchema(): PatchSchema {
  const kind = patchKindIn(appsV1, deployments);
  if (kind?.type !== "strategic") throw new Error("expected a strategic merge patch for Deployments");
  return kind.schema;
}

const cases: { name: string; original: JsonMap; modified: JsonMap; current: JsonMap; patch: JsonMap }[] = [
  {
    name: "changed image, removed env var; another manager's env var and annotation stay",
    original: {
      metadata: { name: "web", labels: { app: "web", tier: "front" } },
      spec: {
        replicas: 2,
        template: {
          spec: {
            containers: [
              {
                name: "app",
                image: "app:1",
                env: [
                  { name: "A", value: "1" },
                  { name: "B", value: "2" },
                ],
              },
            ],
          },
        },
      },
    },
    modified: {
      metadata: { name: "web", labels: { app: "web" } },
      spec: {
        replicas: 2,
        template: { spec: { containers: [{ name: "app", image: "app:2", env: [{ name: "A", value: "1" }] }] } },
      },
    },
    current: {
      metadata: {
        name: "web",
        labels: { app: "web", tier: "front", team: "ops" },
        annotations: { "deployment.kubernetes.io/revision": "3" },
      },
      spec: {
        replicas: 5,
        template: {
          spec: {
            containers: [
              {
                name: "app",
                image: "app:1",
                env: [
                  { name: "A", value: "1" },
                  { name: "B", value: "2" },
                  { name: "INJECTED", value: "x" },
                ],
              },
            ],
          },
        },
      },
      status: { replicas: 5 },
    },
    patch: {
      metadata: { labels: { tier: null } },
      spec: {
        replicas: 2,
        template: {
          spec: {
            "$setElementOrder/containers": [{ name: "app" }],
            containers: [
              {
                "$setElementOrder/env": [{ name: "A" }],
                env: [{ $patch: "delete", name: "B" }],
                image: "app:2",
                name: "app",
              },
            ],
          },
        },
      },
    },
  },
  {
    name: "a removed container is deleted by merge key, an added one sent whole",
    original: {
      spec: {
        template: {
          spec: {
            containers: [
              { name: "app", image: "app:1" },
              { name: "sidecar", image: "side:1" },
            ],
          },
        },
      },
    },
    modified: {
      spec: {
        template: {
          spec: {
            containers: [
              { name: "app", image: "app:1" },
              { name: "proxy", image: "proxy:1" },
            ],
          },
        },
      },
    },
    current: {
      spec: {
        template: {
          spec: {
            containers: [
              { name: "app", image: "app:1" },
              { name: "sidecar", image: "side:1" },
            ],
          },
        },
      },
    },
    patch: {
      spec: {
        template: {
          spec: {
            "$setElementOrder/containers": [{ name: "app" }, { name: "proxy" }],
            containers: [
              { image: "proxy:1", name: "proxy" },
              { $patch: "delete", name: "sidecar" },
            ],
          },
        },
      },
    },
  },
  {
    name: "primitive merge list: finalizers removed and added, another's kept",
    original: { metadata: { finalizers: ["a.example/x", "b.example/y"] } },
    modified: { metadata: { finalizers: ["b.example/y", "c.example/z"] } },
    current: { metadata: { finalizers: ["a.example/x", "b.example/y", "d.example/other"] } },
    patch: {
      metadata: {
        "$deleteFromPrimitiveList/finalizers": ["a.example/x"],
        "$setElementOrder/finalizers": ["b.example/y", "c.example/z"],
        finalizers: ["c.example/z"],
      },
    },
  },
  {
    name: "retainKeys: the strategy type changes and rollingUpdate goes",
    original: { spec: { strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 1 } } } },
    modified: { spec: { strategy: { type: "Recreate" } } },
    current: { spec: { strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: "25%" } } } },
    patch: { spec: { strategy: { $retainKeys: ["type"], rollingUpdate: null, type: "Recreate" } } },
  },
  {
    name: "volumes (merge, retainKeys): emptyDir replaced by a configMap source",
    original: {
      spec: {
        template: {
          spec: {
            volumes: [
              { name: "data", emptyDir: {} },
              { name: "cache", emptyDir: {} },
            ],
          },
        },
      },
    },
    modified: {
      spec: {
        template: {
          spec: {
            volumes: [
              { name: "data", configMap: { name: "cfg" } },
              { name: "cache", emptyDir: {} },
            ],
          },
        },
      },
    },
    current: {
      spec: {
        template: {
          spec: {
            volumes: [
              { name: "data", emptyDir: {} },
              { name: "cache", emptyDir: {} },
            ],
          },
        },
      },
    },
    patch: {
      spec: {
        template: {
          spec: {
            "$setElementOrder/volumes": [{ name: "data" }, { name: "cache" }],
            volumes: [{ $retainKeys: ["configMap", "name"], configMap: { name: "cfg" }, emptyDir: null, name: "data" }],
          },
        },
      },
    },
  },
  {
    name: "an atomic list (args) is sent whole; ports merge by containerPort",
    original: {
      spec: {
        template: {
          spec: {
            containers: [
              {
                name: "app",
                args: ["--a", "--b"],
                ports: [
                  { containerPort: 80, name: "http" },
                  { containerPort: 9090, name: "metrics" },
                ],
              },
            ],
          },
        },
      },
    },
    modified: {
      spec: {
        template: {
          spec: { containers: [{ name: "app", args: ["--a"], ports: [{ containerPort: 80, name: "web" }] }] },
        },
      },
    },
    current: {
      spec: {
        template: {
          spec: {
            containers: [
              {
                name: "app",
                args: ["--a", "--b"],
                ports: [
                  { containerPort: 80, name: "http", protocol: "TCP" },
                  { containerPort: 9090, name: "metrics", protocol: "TCP" },
                ],
              },
            ],
          },
        },
      },
    },
    patch: {
      spec: {
        template: {
          spec: {
            "$setElementOrder/containers": [{ name: "app" }],
            containers: [
              {
                "$setElementOrder/ports": [{ containerPort: 80 }],
                args: ["--a"],
                name: "app",
                ports: [
                  { containerPort: 80, name: "web" },
                  { $patch: "delete", containerPort: 9090 },
                ],
              },
            ],
          },
        },
      },
    },
  },
  {
    name: "containers reordered",
    original: {
      spec: {
        template: {
          spec: {
            containers: [
              { name: "a", image: "a" },
              { name: "b", image: "b" },
            ],
          },
        },
      },
    },
    modified: {
      spec: {
        template: {
          spec: {
            containers: [
              { name: "b", image: "b" },
              { name: "a", image: "a" },
            ],
          },
        },
      },
    },
    current: {
      spec: {
        template: {
          spec: {
            containers: [
              { name: "a", image: "a" },
              { name: "b", image: "b" },
            ],
          },
        },
      },
    },
    patch: { spec: { template: { spec: { "$setElementOrder/containers": [{ name: "b" }, { name: "a" }] } } } },
  },
  {
    name: "nothing changed, the live object has more: empty patch",
    original: { metadata: { labels: { app: "web" } }, spec: { replicas: 1 } },
    modified: { metadata: { labels: { app: "web" } }, spec: { replicas: 1 } },
    current: { metadata: { labels: { app: "web", extra: "x" } }, spec: { replicas: 1, progressDeadlineSeconds: 600 } },
    patch: {},
  },
  {
    name: "drift of a manifest field is corrected, a removed nested field deleted while another is changed in the same item",
    original: {
      spec: {
        template: { spec: { containers: [{ name: "app", image: "app:1", command: ["run"], workingDir: "/w" }] } },
      },
    },
    modified: {
      spec: {
        template: {
          spec: {
            containers: [
              { name: "app", image: "app:1", command: ["run"] },
              { name: "new", image: "n" },
            ],
          },
        },
      },
    },
    current: {
      spec: {
        template: { spec: { containers: [{ name: "app", image: "drifted", command: ["run"], workingDir: "/w" }] } },
      },
    },
    patch: {
      spec: {
        template: {
          spec: {
            "$setElementOrder/containers": [{ name: "app" }, { name: "new" }],
            containers: [
              { image: "app:1", name: "app", workingDir: null },
              { image: "n", name: "new" },
            ],
          },
        },
      },
    },
  },
  {
    name: "a whole list removed from the manifest",
    original: { spec: { template: { spec: { containers: [{ name: "app", env: [{ name: "A", value: "1" }] }] } } } },
    modified: { spec: { template: { spec: { containers: [{ name: "app" }] } } } },
    current: {
      spec: {
        template: {
          spec: {
            containers: [
              {
                name: "app",
                env: [
                  { name: "A", value: "1" },
                  { name: "B", value: "2" },
                ],
              },
            ],
          },
        },
      },
    },
    patch: {
      spec: {
        template: {
          spec: { "$setElementOrder/containers": [{ name: "app" }], containers: [{ env: null, name: "app" }] },
        },
      },
    },
  },
];

describe("three-way strategic merge patch, as Kubernetes computes it", () => {
  for (const c of cases)
    it(c.name, () => {
      const before = JSON.stringify([c.original, c.modified, c.current]);
      expect(threeWayStrategicMergePatch(c.original, c.modified, c.current, deploymentSchema())).toEqual(c.patch);
      expect(JSON.stringify([c.original, c.modified, c.current])).toBe(before); // inputs untouched
    });

  it("refuses a changed field the schema does not describe, naming it; an unchanged one passes", () => {
    const original = { spec: { replicas: 1, bogus: { a: 1 } } };
    expect(threeWayStrategicMergePatch(original, original, original, deploymentSchema())).toEqual({});
    expect(() =>
      threeWayStrategicMergePatch(original, { spec: { replicas: 1, bogus: { a: 2 } } }, original, deploymentSchema()),
    ).toThrow("spec.bogus: the field is not in the kind's schema");
  });

  it("refuses a merge list item without its merge key, naming the list", () => {
    const original = { spec: { template: { spec: { containers: [{ name: "a", image: "a" }] } } } };
    const modified = { spec: { template: { spec: { containers: [{ image: "b" }] } } } };
    expect(() => threeWayStrategicMergePatch(original, modified, original, deploymentSchema())).toThrow(
      /spec\.template\.spec\.containers: an item has no merge key "name"/,
    );
  });
});

describe("patch kind from the API server's OpenAPI", () => {
  it("a kind whose PATCH takes no strategic merge patch (a custom resource) gets a JSON merge patch", () => {
    const crd: OpenApiDocument = {
      paths: {
        "/apis/example.com/v1/namespaces/{namespace}/widgets/{name}": {
          patch: { requestBody: { content: content("application/merge-patch+json", "application/json-patch+json") } },
        },
      },
    };
    const widgets = { group: "example.com", version: "v1", kind: "Widget", resource: "widgets", namespaced: true };
    expect(patchKindIn(crd, widgets)).toEqual({ type: "merge" });
    // A resource the document does not describe at all: no answer, the caller refuses the object.
    expect(patchKindIn(crd, { ...widgets, kind: "Gadget", resource: "gadgets" })).toBeUndefined();
    expect(patchKindIn(appsV1, { ...deployments, kind: "StatefulSet", resource: "statefulsets" })).toBeUndefined();
  });
});

describe("JSON merge patches, as Helm computes them for custom resources", () => {
  const original = { spec: { size: 1, color: "red", tags: ["a"] } };
  const modified = { spec: { size: 2, tags: ["a", "b"] } };
  const current = { spec: { size: 1, color: "red", tags: ["a"], owner: "someone" }, status: { ok: true } };

  it("two-way (upgrade): the change from the previous manifest to the new one, lists whole", () => {
    expect(twoWayMergePatch(original, modified)).toEqual({ spec: { size: 2, color: null, tags: ["a", "b"] } });
    expect(twoWayMergePatch(original, original)).toEqual({});
  });

  it("three-way (install over an existing object): live fields the manifests never had stay", () => {
    expect(threeWayMergePatch(original, modified, current)).toEqual({
      spec: { size: 2, color: null, tags: ["a", "b"] },
    });
    // Taking over: the manifest is the original too, so nothing is deleted, only what differs from live is set.
    expect(threeWayMergePatch(modified, modified, current)).toEqual({ spec: { size: 2, tags: ["a", "b"] } });
  });
});
