import { execFile } from "node:child_process";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { statePaths } from "../../src/runtime/state-paths.js";
import { FileEvents } from "../../src/notify/file-events.js";
import { FileStore } from "../../src/store/fs-store.js";
import { applyToStore, writeStatus } from "../../src/store/objects.js";

// `sluice get sources external` and `sluice get artifact generators`, with the columns of flux2 v2.9.5's
// get_source_external.go and get_artifact_generator.go.

const execute = promisify(execFile);
let stateDir: string;
const sluice = (...rest: string[]) =>
  execute(process.execPath, ["bin/sluice.js", "--state-dir", stateDir, "-n", "flux-system", ...rest]);
const store = () => new FileStore(statePaths(stateDir).store);
const readyTrue = (message: string) => [
  { type: "Ready", status: "True", reason: "Succeeded", message, lastTransitionTime: new Date().toISOString() },
];

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), "sluice-cli-generator-"));
  const digest = `sha256:${"cd".repeat(32)}`;
  await applyToStore(store(), {
    apiVersion: "source.toolkit.fluxcd.io/v1",
    kind: "ExternalArtifact",
    metadata: { name: "apps", namespace: "flux-system" },
    spec: {
      sourceRef: {
        apiVersion: "source.extensions.fluxcd.io/v1beta1",
        kind: "ArtifactGenerator",
        name: "flux-system",
        namespace: "flux-system",
      },
    },
  });
  const artifact = {
    revision: `latest@${digest}`,
    digest,
    path: "p",
    url: "u",
    lastUpdateTime: "2026-12-01T00:00:00Z",
  };
  await writeStatus(
    store(),
    { kind: "ExternalArtifact", namespace: "flux-system", name: "apps" },
    {
      artifact,
      conditions: readyTrue("Artifact is ready"),
    },
  );
  for (const [name, annotations] of [
    ["flux-system", undefined],
    ["paused", { "source.extensions.fluxcd.io/reconcile": "Disabled" }],
  ] as const) {
    await applyToStore(store(), {
      apiVersion: "source.extensions.fluxcd.io/v1beta1",
      kind: "ArtifactGenerator",
      metadata: { name, namespace: "flux-system", ...(annotations && { annotations }) },
      spec: { sources: [], artifacts: [] },
    });
    await writeStatus(
      store(),
      { kind: "ArtifactGenerator", namespace: "flux-system", name },
      {
        conditions: readyTrue("reconciliation succeeded, generated 1 artifact(s)"),
        inventory: ["infrastructure", "apps"].map((n) => ({
          name: n,
          namespace: "flux-system",
          digest,
          filename: "f",
        })),
      },
    );
  }
});

describe("sluice get sources external, get artifact generators, events --for ArtifactGenerator", () => {
  it("prints an ExternalArtifact's revision (digest cut to 8 characters) and its generator, without SUSPENDED", async () => {
    const table = (await sluice("get", "sources", "external")).stdout.split("\n");
    expect(table[0]).toMatch(/^NAME\s+REVISION\s+SOURCE\s+READY\s+MESSAGE\s*$/);
    expect(table[1]).toMatch(
      /^apps\s+latest@sha256:cdcdcdcd\s+ArtifactGenerator\/flux-system\/flux-system\s+True\s+Artifact is ready\s*$/,
    );
  });

  it("prints a generator as suspended when its reconcile annotation is disabled (any case)", async () => {
    const table = (await sluice("get", "artifact", "generators")).stdout.split("\n");
    expect(table[0]).toMatch(/^NAME\s+SUSPENDED\s+READY\s+MESSAGE\s*$/);
    expect(table[1]).toMatch(/^flux-system\s+False\s+True\s+reconciliation succeeded, generated 1 artifact\(s\)\s*$/);
    expect(table[2]).toMatch(/^paused\s+True\s+True\s+/);
  });

  it("reconcile kustomization --with-source refuses an ExternalArtifact source in flux's words", async () => {
    await applyToStore(store(), {
      apiVersion: "kustomize.toolkit.fluxcd.io/v1",
      kind: "Kustomization",
      metadata: { name: "apps", namespace: "flux-system" },
      spec: { interval: "1h", path: "./staging", prune: true, sourceRef: { kind: "ExternalArtifact", name: "apps" } },
    });
    const refused = await sluice("reconcile", "kustomization", "apps", "--with-source", "--timeout", "2s").then(
      () => ({ stderr: "" }),
      (e: { stderr: string }) => e,
    );
    expect(refused.stderr).toContain("cannot reconcile source of kind ExternalArtifact");
  });

  it("tree artifact generator prints the ExternalArtifacts of its inventory, as text or as flux's data", async () => {
    const text = (await sluice("tree", "artifact", "generator", "flux-system")).stdout;
    const data = JSON.parse((await sluice("tree", "artifact", "generator", "flux-system", "-o", "json")).stdout);
    expect(text).toBe(
      "ArtifactGenerator/flux-system/flux-system\n" +
        "├── ExternalArtifact/flux-system/infrastructure\n" +
        "└── ExternalArtifact/flux-system/apps\n",
    );
    expect(data.resources[1]).toEqual({
      resource: {
        Namespace: "flux-system",
        Name: "apps",
        GroupKind: { Group: "source.toolkit.fluxcd.io", Kind: "ExternalArtifact" },
      },
    });
  });

  it("events --for takes ArtifactGenerator, as flux's kinds do", async () => {
    await new FileEvents(statePaths(stateDir).events).emit({
      involvedObject: {
        apiVersion: "source.extensions.fluxcd.io/v1beta1",
        kind: "ArtifactGenerator",
        namespace: "flux-system",
        name: "flux-system",
      },
      severity: "info",
      reason: "Ready",
      message: "external artifacts reconciled: flux-system/apps (sha256:cdcd)",
      metadata: {},
      reportingController: "source-watcher",
      timestamp: new Date().toISOString(),
    });
    const listed = (await sluice("events", "--for", "artifactgenerator/flux-system")).stdout;
    expect(listed).toContain("ArtifactGenerator/flux-system");
    expect(listed).toContain("external artifacts reconciled: flux-system/apps (sha256:cdcd)");
  });
});
