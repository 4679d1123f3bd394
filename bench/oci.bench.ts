import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { dispatch } from "../src/controllers/dispatch.js";
import { applyToStore } from "../src/store/objects.js";
import { pushOciArtifact } from "../test/env/oci.js";
import { startTestbed, type Testbed } from "../test/env/testbed.js";
import { front, sourceRuntime } from "../test/security/source-helpers.js";
import { defineBenchmark, type Benchmark } from "./harness.js";

// OCIRepository against the test bed's registry (Debian's CNCF distribution registry on loopback).
// 1. A 600-file artifact (one ~1 KiB manifest each) fetched in full: Sluice's reconcile (tag HEAD,
//    manifest GET verified, layer GET bounded and verified, extract with safeguards, deterministic
//    re-archive, store, status) vs the registry HTTP download alone in the same process (manifest
//    and layer GET with fetch(), no checks, nothing written).
//    With SLUICE_CRANE=<path to crane> (go install github.com/google/go-containerregistry/cmd/crane),
//    also vs `crane export <ref> - | tar -x`: download, then files on disk, as a tool would pull them.
// 2. The no-op check of an unchanged tag: the reconcile vs one plain HEAD, with requests counted by a
//    front that forwards to the registry.

const run = promisify(execFile);
const FILES = 600;
let testbed: Testbed | undefined;
const closers: (() => void)[] = [];

export async function cleanup(): Promise<void> {
  closers.forEach((close) => close());
  await testbed?.stop();
}

function manifests(): Record<string, string> {
  const files: Record<string, string> = {};
  for (let i = 0; i < FILES; i++)
    files[`apps/app-${Math.floor(i / 20)}/configmap-${i}.yaml`] = [
      "apiVersion: v1",
      "kind: ConfigMap",
      `metadata:\n  name: config-${i}\n  namespace: app-${Math.floor(i / 20)}`,
      "data:",
      ...Array.from({ length: 20 }, (_, k) => `  key-${k}: "value ${k} of config ${i}, padded to a realistic size"`),
    ].join("\n");
  return files;
}

export default async function benchmarks(): Promise<Benchmark[]> {
  testbed = await startTestbed({ only: ["registry"] });
  const { host } = testbed.info.registry;
  const digest = await pushOciArtifact(host, "bench/fleet", "v1", manifests());
  const counted = await front(`http://${host}`);
  closers.push(counted.close);
  const { rt: ports } = await sourceRuntime({ allowPrivateNetworks: true });
  let serial = 0;
  const reconcile = async (name: string) => {
    const outcome = await dispatch(ports, { key: `OCIRepository/bench/${name}`, reason: "interval" });
    const status = outcome?.status as { artifact?: { size?: number }; conditions?: { type: string; status: string }[] };
    if (status.conditions?.find((c) => c.type === "Ready")?.status !== "True")
      throw new Error(`${name}: not Ready: ${JSON.stringify(status.conditions)}`);
    return status;
  };
  const register = (name: string) =>
    applyToStore(ports.store, {
      apiVersion: "source.toolkit.fluxcd.io/v1",
      kind: "OCIRepository",
      metadata: { name, namespace: "bench" },
      spec: { interval: "10m", url: `oci://127.0.0.1:${counted.port}/bench/fleet`, ref: { tag: "v1" } },
    });
  const base = `http://${host}/v2/bench/fleet`;
  const accept = { accept: "application/vnd.oci.image.manifest.v1+json" };
  const requests = async (run: () => Promise<unknown>) => {
    const before = counted.requests();
    await run();
    return { requests: counted.requests() - before };
  };
  await register("unchanged");
  for (let i = 1; i <= 50; i++) await register(`full-${i}`);
  const full = {
    name: "OCIRepository reconcile: HEAD, manifest, verified layer, extract, re-archive, store",
    // A new object each time (registered beforehand, untimed), so nothing is stored yet and the whole pull runs.
    run: async () => {
      const status = await reconcile(`full-${++serial}`);
      return { artifactKB: (status.artifact?.size ?? 0) / 1024 };
    },
  };
  const crane = process.env.SLUICE_CRANE;
  const withCrane = crane
    ? [
        defineBenchmark({
          name: `oci-fetch-${FILES}-files-vs-crane`,
          iterations: 10,
          subject: full,
          baseline: {
            name: "crane export <ref> - | tar -x (download and files on disk)",
            run: async () => {
              const dir = await mkdtemp(join(tmpdir(), "sluice-crane-"));
              await run("sh", ["-c", `"${crane}" export --insecure ${host}/bench/fleet:v1 - | tar -x -C "${dir}"`]);
              await rm(dir, { recursive: true, force: true });
            },
          },
        }),
      ]
    : [];
  return [
    defineBenchmark({
      name: `oci-fetch-${FILES}-files`,
      iterations: 10,
      subject: full,
      baseline: {
        name: "registry HTTP download alone: manifest GET + layer GET (fetch, no checks, nothing written)",
        run: async () => {
          const manifest = (await (await fetch(`${base}/manifests/${digest}`, { headers: accept })).json()) as {
            layers: { digest: string }[];
          };
          const layer = await (await fetch(`${base}/blobs/${manifest.layers[0]!.digest}`)).arrayBuffer();
          return { layerKB: layer.byteLength / 1024 };
        },
      },
    }),
    ...withCrane,
    defineBenchmark({
      name: "oci-no-op-check",
      iterations: 20,
      setup: async () => void (await reconcile("unchanged")),
      subject: { name: "OCIRepository reconcile, tag unchanged", run: () => requests(() => reconcile("unchanged")) },
      baseline: {
        name: "one HEAD of the tag (fetch)",
        run: () =>
          requests(() =>
            fetch(`http://127.0.0.1:${counted.port}/v2/bench/fleet/manifests/v1`, { method: "HEAD", headers: accept }),
          ),
      },
    }),
  ];
}
