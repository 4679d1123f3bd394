import { describe, expect, it } from "vitest";
import { changeSetEntry } from "../../src/apply/changeset.js";
import { cleanupPatch } from "../../src/apply/cleanup.js";
import { hasDrifted } from "../../src/apply/drift.js";
import { diff, entryId, fromChangeSet, merge, parseEntryId } from "../../src/apply/inventory.js";
import type { KubeObject } from "../../src/apply/object.js";
import { compareObjects, stages } from "../../src/apply/order.js";
import { objMetadata } from "../../src/apply/object.js";

const obj = (
  apiVersion: string,
  kind: string,
  name: string,
  namespace?: string,
  extra: Partial<KubeObject> = {},
): KubeObject => ({
  apiVersion,
  kind,
  metadata: { name, ...(namespace ? { namespace } : {}) },
  ...extra,
});

describe("drift detection", () => {
  const live = obj("v1", "ConfigMap", "c", "ns", { data: { a: "1" } });
  live.metadata.resourceVersion = "7";
  live.metadata.labels = { app: "x" };
  it.each(
    [
      ["identical", { ...live }, false],
      [
        "new object (no resourceVersion)",
        { ...live, metadata: { ...live.metadata, resourceVersion: undefined } },
        true,
      ],
      ["changed data", { ...live, data: { a: "2" } }, true],
      ["changed label", { ...live, metadata: { ...live.metadata, labels: { app: "y" } } }, true],
      ["added annotation", { ...live, metadata: { ...live.metadata, annotations: { note: "n" } } }, true],
      [
        "only managedFields and status differ",
        { ...live, metadata: { ...live.metadata, managedFields: [{ manager: "x" }] }, status: { a: 1 } },
        false,
      ],
    ].map(([name, dryRun, drifted]) => [name, drifted, dryRun] as const),
  )("%s → drifted: %s", (_name, drifted, dryRun) => {
    expect(hasDrifted(live, dryRun as KubeObject)).toBe(drifted);
  });
  it("an object with no live counterpart has drifted", () => expect(hasDrifted(undefined, live)).toBe(true));
});

describe("apply order", () => {
  it("sorts by Flux's kind table, then namespace and name, whatever the input order", () => {
    // Prepare
    const objects = [
      obj("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", "hook"),
      obj("apps/v1", "Deployment", "b", "ns"),
      obj("example.com/v1", "Widget", "w", "ns"),
      obj("v1", "ConfigMap", "z", "a-ns"),
      obj("v1", "Namespace", "ns"),
      obj("apps/v1", "Deployment", "a", "ns"),
      obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "widgets.example.com"),
    ];
    // Act
    const sorted = [...objects].sort((x, y) => compareObjects(objMetadata(x), objMetadata(y)));
    // Assess
    expect(sorted.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([
      "CustomResourceDefinition/widgets.example.com",
      "Namespace/ns",
      "ConfigMap/z",
      "Deployment/a",
      "Deployment/b",
      "Widget/w",
      "ValidatingWebhookConfiguration/hook",
    ]);
  });

  it("stages cluster definitions, then *Class kinds, then custom kinds, then the rest", () => {
    // Prepare
    const objects = [
      obj("v1", "ConfigMap", "c", "ns"),
      obj("networking.k8s.io/v1", "IngressClass", "nginx"),
      obj("rbac.authorization.k8s.io/v1", "ClusterRole", "reader"),
      obj("cert-manager.io/v1", "ClusterIssuer", "letsencrypt"),
      obj("v1", "Namespace", "ns"),
    ];
    // Act
    const result = stages(objects, [{ group: "cert-manager.io", kind: "ClusterIssuer" }]);
    // Assess
    expect(result.map((s) => s.map((o) => o.kind))).toEqual([
      ["ClusterRole", "Namespace"],
      ["IngressClass"],
      ["ClusterIssuer"],
      ["ConfigMap"],
    ]);
  });
});

describe("inventory (Flux's entry format)", () => {
  const deployment = changeSetEntry(obj("apps/v1", "Deployment", "web", "apps"), "created");
  const namespace = changeSetEntry(obj("v1", "Namespace", "apps"), "unchanged");
  const skipped = changeSetEntry(obj("v1", "ConfigMap", "keep", "apps"), "skipped");

  it("writes <namespace>_<name>_<group>_<kind> ids with the version, sorted", () => {
    expect(fromChangeSet([deployment, namespace, skipped]).entries).toEqual([
      { id: "_apps__Namespace", v: "v1" },
      { id: "apps_keep__ConfigMap", v: "v1" },
      { id: "apps_web_apps_Deployment", v: "v1" },
    ]);
  });

  it("parses ids back, and rejects malformed ones", () => {
    expect(parseEntryId(entryId(deployment.object))).toEqual({
      namespace: "apps",
      name: "web",
      group: "apps",
      kind: "Deployment",
    });
    expect(() => parseEntryId("a_b_c")).toThrow(/not <namespace>_<name>_<group>_<kind>/);
  });

  it("diffs what the new inventory dropped and merges back entries whose delete failed", () => {
    const previous = fromChangeSet([deployment, namespace]);
    const next = fromChangeSet([namespace]);
    const stale = diff(previous, next);
    expect(stale).toEqual([{ id: "apps_web_apps_Deployment", v: "v1" }]);
    expect(merge(next, stale)).toEqual(previous);
    expect(diff(undefined, next)).toEqual([]);
  });
});

describe("field-manager cleanup", () => {
  const live = (
    managedFields: KubeObject["metadata"]["managedFields"],
    annotations?: Record<string, string>,
  ): KubeObject => ({
    ...obj("v1", "ConfigMap", "c", "ns"),
    metadata: { name: "c", namespace: "ns", managedFields, ...(annotations ? { annotations } : {}) },
  });

  it("is empty when only sluice and controllers manage the object", () => {
    expect(
      cleanupPatch(
        live([
          { manager: "sluice", operation: "Apply", fieldsV1: { "f:data": {} } },
          { manager: "kube-controller-manager", operation: "Update" },
        ]),
        "sluice",
      ),
    ).toEqual([]);
  });

  it("removes kubectl's last-applied annotation and hands kubectl's fields to sluice", () => {
    // Prepare
    const object = live(
      [
        { manager: "sluice", operation: "Apply", fieldsV1: { "f:data": { "f:a": {} } } },
        { manager: "kubectl", operation: "Update", fieldsV1: { "f:data": { "f:extra": {} } } },
      ],
      { "kubectl.kubernetes.io/last-applied-configuration": "{}" },
    );
    // Act
    const patch = cleanupPatch(object, "sluice");
    // Assess
    expect(patch).toEqual([
      { op: "remove", path: "/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration" },
      {
        op: "replace",
        path: "/metadata/managedFields",
        value: [
          {
            manager: "sluice",
            operation: "Apply",
            fieldsType: "FieldsV1",
            fieldsV1: { "f:data": { "f:a": {}, "f:extra": {} } },
          },
        ],
      },
    ]);
  });
});
