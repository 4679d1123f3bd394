import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { stringify } from "yaml";
import { dispatch } from "../src/controllers/dispatch.js";
import type { ReconcilerPorts } from "../src/controllers/reconciler-ports.js";
import { applyToStore } from "../src/store/objects.js";
import { sourceRuntime } from "../test/security/source-helpers.js";
import { defineBenchmark, type Benchmark } from "./harness.js";

// A HelmRepository whose index.yaml is ~10 MB (2,200 charts × 5 versions, as large public repositories
// are). Subject: the reconcile of an unchanged index (fetch, sha256, revision equals the stored one: no
// parse, no store). Baseline: the same reconcile when the index changed (a comment line differs), so it is
// parsed, validated, sorted and stored as JSON. Both fetch the whole index over loopback.

const CHARTS = 2_200;
const VERSIONS = 5;
let close: (() => void) | undefined;

export async function cleanup(): Promise<void> {
  close?.();
}

function bigIndex(): string {
  const entries: Record<string, unknown[]> = {};
  for (let c = 0; c < CHARTS; c++) {
    const name = `chart-${c}`;
    entries[name] = Array.from({ length: VERSIONS }, (_, v) => ({
      apiVersion: "v2",
      name,
      version: `1.${v}.${c % 7}`,
      appVersion: `2.${v}.0`,
      description: `The ${name} chart: a web application with a database, a cache and a worker, version ${v}.`,
      home: `https://charts.example/${name}`,
      sources: [`https://git.example/org/${name}`],
      keywords: ["web", "database", "cache"],
      maintainers: [{ name: "Platform Team", email: "platform@example.com" }],
      annotations: {
        "artifacthub.io/license": "Apache-2.0",
        "artifacthub.io/changes": "- kind: added\n  description: x",
      },
      dependencies: [{ name: "redis", version: "18.x.x", repository: "https://charts.example/bitnami" }],
      created: "2026-11-01T10:00:00.000000000Z",
      digest: "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9",
      urls: [`https://charts.example/${name}-1.${v}.${c % 7}.tgz`],
    }));
  }
  return stringify({ apiVersion: "v1", entries, generated: "2026-11-01T10:00:00Z" });
}

export default async function benchmarks(): Promise<Benchmark[]> {
  const index = bigIndex();
  let changes = 0;
  let changing = false;
  const server = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "application/x-yaml" });
    res.end(changing ? `${index}# change ${++changes}\n` : index);
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  close = () => server.close().closeAllConnections();
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const { rt } = await sourceRuntime({ allowPrivateNetworks: true });
  const ports: ReconcilerPorts = rt;
  const reconcile = async (name: string) => {
    const outcome = await dispatch(ports, { key: `HelmRepository/bench/${name}`, reason: "interval" });
    const status = outcome?.status as { artifact?: { size?: number }; conditions?: { type: string; status: string }[] };
    if (status.conditions?.find((c) => c.type === "Ready")?.status !== "True")
      throw new Error(`${name}: not Ready: ${JSON.stringify(status.conditions)}`);
    return { indexMB: Buffer.byteLength(index) / 1e6, artifactMB: (status.artifact?.size ?? 0) / 1e6 };
  };
  for (const name of ["unchanged", "changed"])
    await applyToStore(ports.store, {
      apiVersion: "source.toolkit.fluxcd.io/v1",
      kind: "HelmRepository",
      metadata: { name, namespace: "bench", generation: 1 },
      spec: { interval: "10m", url },
    });
  return [
    defineBenchmark({
      name: `helm-index-${(Buffer.byteLength(index) / 1e6).toFixed(0)}MB`,
      iterations: 5,
      warmup: 1,
      setup: async () => void (await reconcile("unchanged")),
      subject: {
        name: "reconcile, index unchanged (fetch + sha256, parse skipped)",
        run: () => ((changing = false), reconcile("unchanged")),
      },
      baseline: {
        name: "reconcile, index changed (fetch + parse + validate + sort + store JSON)",
        run: () => ((changing = true), reconcile("changed")),
      },
    }),
  ];
}
