import { createHash } from "node:crypto";
import { mkdtemp, readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { testHelm, tinyChart } from "../env/charts.js";
import { FLUX_MEDIA_TYPES, pushOciArtifact } from "../env/oci.js";

const registry = inject("testbed").registry;

describe(`OCI registry (${registry.version})`, () => {
  it("accepts helm push of a chart and serves it back to helm pull", async () => {
    // Prepare
    const chart = await tinyChart("podinfo-lite", "0.1.0");
    const packaged = await mkdtemp(join(tmpdir(), "pkg-"));
    await testHelm(["package", chart, "--destination", packaged]);
    const pulled = await mkdtemp(join(tmpdir(), "pulled-"));
    // Act
    await testHelm(["push", join(packaged, "podinfo-lite-0.1.0.tgz"), `oci://${registry.host}/charts`, "--plain-http"]);
    await testHelm([
      "pull",
      `oci://${registry.host}/charts/podinfo-lite`,
      "--version",
      "0.1.0",
      "--plain-http",
      "--destination",
      pulled,
    ]);
    // Assess
    expect(await readdir(pulled)).toEqual(["podinfo-lite-0.1.0.tgz"]);
    const { stdout } = await testHelm(["show", "chart", join(pulled, "podinfo-lite-0.1.0.tgz")]);
    expect(stdout).toMatch(/name: podinfo-lite\n/);
    expect(stdout).toMatch(/version: 0\.1\.0\n/);
  });

  it("stores a Flux-style OCI artifact whose layer digest matches its content", async () => {
    // Act
    const digest = await pushOciArtifact(
      registry.host,
      "manifests/app",
      "v1.0.0",
      { "deploy/cm.yaml": "kind: ConfigMap\n" },
      {
        "org.opencontainers.image.revision": "main@sha1:0123456789abcdef0123456789abcdef01234567",
      },
    );
    const response = await fetch(`http://${registry.host}/v2/manifests/app/manifests/v1.0.0`, {
      headers: { accept: FLUX_MEDIA_TYPES.manifest },
    });
    const manifest = (await response.json()) as {
      layers: { mediaType: string; digest: string }[];
      annotations: Record<string, string>;
    };
    const layer = Buffer.from(
      await (await fetch(`http://${registry.host}/v2/manifests/app/blobs/${manifest.layers[0]!.digest}`)).arrayBuffer(),
    );
    // Assess
    expect(response.headers.get("docker-content-digest")).toBe(digest);
    expect(manifest.layers.map((l) => l.mediaType)).toEqual([FLUX_MEDIA_TYPES.content]);
    expect(manifest.annotations["org.opencontainers.image.revision"]).toMatch(/^main@sha1:/);
    expect(`sha256:${createHash("sha256").update(layer).digest("hex")}`).toBe(manifest.layers[0]!.digest);
  });
});
