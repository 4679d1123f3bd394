import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import { describe, expect, inject, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { mayServiceAccount } from "../../src/cluster/access-review.js";
import { adminCluster } from "../apply/helpers.js";
import { live } from "./helpers.js";

const run = promisify(execFile);
const { kube } = inject("testbed");
const sluice = (...args: string[]) => run(process.execPath, ["bin/sluice.js", ...args]);

describe(`sluice create tenant (as flux create tenant), kube-apiserver ${kube.version} (RBAC)`, () => {
  it("--export prints per namespace the labelled Namespace, ServiceAccount and <tenant>-reconciler RoleBinding flux prints", async () => {
    // Act
    const { stdout } = await sluice(
      "create",
      "tenant",
      "dev-team",
      "--with-namespace",
      "frontend",
      "--with-namespace",
      "backend",
      "--cluster-role",
      "edit",
      "--export",
    );
    // Assess
    const objects = parseAllDocuments(stdout).map(
      (d) =>
        d.toJS() as { kind: string; metadata: { name: string; namespace?: string; labels: Record<string, string> } },
    );
    expect(objects.map((o) => `${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`)).toEqual([
      "Namespace//frontend",
      "ServiceAccount/frontend/dev-team",
      "RoleBinding/frontend/dev-team-reconciler",
      "Namespace//backend",
      "ServiceAccount/backend/dev-team",
      "RoleBinding/backend/dev-team-reconciler",
    ]);
    expect(objects.every((o) => o.metadata.labels["toolkit.fluxcd.io/tenant"] === "dev-team")).toBe(true);
    expect(objects[2]).toMatchObject({
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "edit" },
      subjects: [
        { apiGroup: "rbac.authorization.k8s.io", kind: "User", name: "gotk:frontend:reconciler" },
        { kind: "ServiceAccount", name: "dev-team", namespace: "frontend" },
      ],
    });
  });

  it("refuses a tenant or namespace name the API server would refuse, naming it", async () => {
    // Act
    const failure = (await sluice("create", "tenant", "Dev_Team", "--with-namespace", "x", "--export").catch(
      (e: unknown) => e,
    )) as { code: number; stderr: string };
    // Assess
    expect(failure.code).toBe(1);
    expect(failure.stderr).toContain("✗ invalid tenant name 'Dev_Team'");
  });

  it("applies the tenant: its service account may then act in its namespace only, and a new --cluster-role replaces the RoleBinding", async () => {
    // Arrange
    const ns = `tenant-${randomBytes(3).toString("hex")}`;
    const admin = await adminCluster(kube);
    // Act
    await sluice("create", "tenant", "acme", "--with-namespace", ns, "--kubeconfig", kube.kubeconfigPath);
    const account = { namespace: ns, name: "acme" };
    const inOwn = await mayServiceAccount(admin.client, account, {
      group: "kustomize.toolkit.fluxcd.io",
      resource: "kustomizations",
      verb: "create",
      namespace: ns,
    });
    const inOther = await mayServiceAccount(admin.client, account, {
      group: "kustomize.toolkit.fluxcd.io",
      resource: "kustomizations",
      verb: "create",
      namespace: "default",
    });
    await sluice(
      "create",
      "tenant",
      "acme",
      "--with-namespace",
      ns,
      "--cluster-role",
      "view",
      "--kubeconfig",
      kube.kubeconfigPath,
    );
    const viewer = await mayServiceAccount(admin.client, account, {
      group: "",
      resource: "configmaps",
      verb: "create",
      namespace: ns,
    });
    // Assess
    expect(await live(admin, "v1", "Namespace", "", ns)).toMatchObject({
      metadata: { labels: { "toolkit.fluxcd.io/tenant": "acme" } },
    });
    expect([inOwn, inOther]).toEqual([true, false]);
    expect(await live(admin, "rbac.authorization.k8s.io/v1", "RoleBinding", ns, "acme-reconciler")).toMatchObject({
      roleRef: { name: "view" },
    });
    expect(viewer).toBe(false);
  });
});
