import { execFile } from "node:child_process";
import { copyFile, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { parseAllDocuments } from "yaml";
import { applyAll } from "../../src/apply/apply.js";
import type { KubeObject } from "../../src/apply/object.js";
import type { Cluster } from "../../src/cluster/cluster.js";
import { resolveTools } from "../../src/render/tools.js";
import { cacheDir } from "../../src/runtime/cache-dir.js";

/** Flagger's release whose CRD the tests install (test/fixtures/flagger/). */
export const FLAGGER_VERSION = "v1.44.0";
const CRD_FILE = new URL(`../fixtures/flagger/crd-${FLAGGER_VERSION}.yaml`, import.meta.url);
const CANARIES = "/apis/flagger.app/v1beta1/namespaces";

/**
 * Installs Flagger's CRDs (Canary, MetricTemplate, AlertProvider) and waits until they are
 * established. The file goes through kustomize first, as in a fleet repo: Flagger's YAML has
 * multi-line quoted scalars that Go's YAML reads but a strict YAML 1.2 parser refuses.
 */
export async function installFlaggerCrds(cluster: Cluster): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "flagger-crds-"));
  try {
    await copyFile(CRD_FILE, join(dir, "crd.yaml"));
    await writeFile(join(dir, "kustomization.yaml"), "resources: [crd.yaml]\n");
    await applyAll(cluster, await kustomizeBuild(dir), { fieldManager: "flagger-install" });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** `kubectl kustomize DIR` with the kubectl Sluice renders with, parsed. */
export async function kustomizeBuild(dir: string): Promise<KubeObject[]> {
  const { kubectl } = await resolveTools({ cacheDir: cacheDir() });
  const { stdout } = await promisify(execFile)(kubectl, ["kustomize", dir], { maxBuffer: 16 << 20 });
  return parseAllDocuments(stdout).map((d) => d.toJS() as KubeObject);
}

/** A Canary for a podinfo-style Deployment with a metric-driven analysis, as Flagger's docs write it. */
export function canary(name: string, interval = "10s"): KubeObject {
  return {
    apiVersion: "flagger.app/v1beta1",
    kind: "Canary",
    metadata: { name },
    spec: {
      targetRef: { apiVersion: "apps/v1", kind: "Deployment", name },
      progressDeadlineSeconds: 60,
      service: { port: 9898, targetPort: 9898 },
      analysis: {
        interval,
        threshold: 2,
        maxWeight: 50,
        stepWeight: 10,
        metrics: [{ name: "request-success-rate", thresholdRange: { min: 99 }, interval: "1m" }],
      },
    },
  };
}

type Phase =
  | "Initializing"
  | "Initialized"
  | "Waiting"
  | "Progressing"
  | "WaitingPromotion"
  | "Promoting"
  | "Finalising"
  | "Succeeded"
  | "Failed";

// Flagger's MakeStatusConditions: the Promoted condition's status and message for each phase.
const PROMOTED: Record<Phase, [string, string]> = {
  Initializing: ["Unknown", "New Deployment detected, starting initialization."],
  Initialized: ["True", "Deployment initialization completed."],
  Waiting: ["Unknown", "Waiting for approval."],
  Progressing: ["Unknown", "New revision detected, progressing canary analysis."],
  WaitingPromotion: ["Unknown", "Waiting for approval."],
  Promoting: ["Unknown", "Canary analysis completed, starting primary rolling update."],
  Finalising: ["Unknown", "Canary analysis completed, routing all traffic to primary."],
  Succeeded: ["True", "Canary analysis completed successfully, promotion finished."],
  Failed: ["False", "Canary analysis failed, Deployment scaled to zero."],
};

/**
 * Writes a Canary's status the way Flagger's SyncStatus/SetStatusPhase do: GET, then PUT on the
 * status subresource (field manager `flagger`), the phase plus a Promoted condition whose reason is
 * the phase, rewritten only when status or reason change; times with second precision (metav1.Time).
 */
export async function flaggerWrites(
  cluster: Cluster,
  namespace: string,
  name: string,
  phase: Phase,
  counters: { canaryWeight?: number; failedChecks?: number } = {},
): Promise<void> {
  const path = `${CANARIES}/${namespace}/canaries/${name}`;
  const live = await cluster.client.send<
    KubeObject & { status?: { conditions?: { status: string; reason: string }[] } }
  >({ method: "GET", path });
  const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  const [status, message] = PROMOTED[phase];
  const previous = live.status?.conditions?.find((c) => c.status === status && c.reason === phase);
  const conditions = previous
    ? live.status?.conditions
    : [{ type: "Promoted", status, reason: phase, message, lastUpdateTime: now, lastTransitionTime: now }];
  const body = {
    ...live,
    status: {
      ...live.status,
      phase,
      canaryWeight: counters.canaryWeight ?? 0,
      failedChecks: counters.failedChecks ?? 0,
      iterations: 0,
      lastAppliedSpec: "5d6c8f4b9",
      lastTransitionTime: now,
      conditions,
    },
  };
  await cluster.client.send({ method: "PUT", path: `${path}/status`, query: { fieldManager: "flagger" }, body });
}
