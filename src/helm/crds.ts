import { setTimeout as sleep } from "node:timers/promises";
import type { KubeClient } from "../cluster/kube-client.js";
import { KubeApiError } from "../cluster/errors.js";
import { defaultRenderLimits, RenderBudget } from "../render/limits.js";
import { decodeYaml } from "../render/yaml.js";
import { helmErrorLine, runHelm } from "./helm-process.js";
import { withPrivateDir } from "./private-dir.js";

/**
 * A chart's CRDs (its crds/ folders, sub-charts' included) applied by Flux's CRD policy, as helm-controller v1.6.3
 * does before it installs or upgrades (internal/action/crds.go): helm itself only creates missing CRDs, and only
 * on install. Under server-side apply both Create and CreateReplace apply every CRD (conflicts forced), as helm's
 * client does; under client-side apply Create creates missing ones and CreateReplace replaces existing ones too.
 */

export type CRDsPolicy = "Skip" | "Create" | "CreateReplace";

interface CRD {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; resourceVersion?: string };
  status?: { conditions?: { type: string; status: string }[] };
}

/** The field manager of helm's own writes, so a CRD looks the same whichever of Sluice and helm wrote it. */
const FIELD_MANAGER = "helm";
/** helm-controller waits this long for applied CRDs to be established. */
const ESTABLISHED_TIMEOUT_MS = 60_000;
const MAX_CRDS_OUTPUT = 64 << 20;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const API_VERSION = /^apiextensions\.k8s\.io\/v[0-9]+((alpha|beta)[0-9]+)?$/;

/** Thrown when a chart's CRDs cannot be read or applied; names the chart or the CRD. */
export class ChartCRDsError extends Error {
  override name = "ChartCRDsError";
}

/** The CRDs of a local chart (`helm show crds`, isolated as every helm run); other kinds in crds/ are left out. */
export async function chartCRDs(helm: string, chart: string): Promise<CRD[]> {
  const result = await withPrivateDir((dir) =>
    runHelm(helm, ["show", "crds", "--", chart], { dir, timeoutMs: 60_000, maxOutputBytes: MAX_CRDS_OUTPUT }),
  );
  if (result.code !== 0) throw new ChartCRDsError(`reading the CRDs of chart ${chart}: ${helmErrorLine(result)}`);
  if (result.stdout.length >= MAX_CRDS_OUTPUT)
    throw new ChartCRDsError(`the CRDs of chart ${chart} are over ${MAX_CRDS_OUTPUT} bytes`);
  const documents = decodeYaml(result.stdout, `${chart} crds/`, new RenderBudget(defaultRenderLimits));
  return documents.filter(isCRD).map((crd) => checkedCRD(crd, chart));
}

function isCRD(value: unknown): value is CRD {
  const object = value as Partial<CRD> | null;
  return (
    typeof object?.apiVersion === "string" &&
    object.apiVersion.startsWith("apiextensions.k8s.io/") &&
    object.kind === "CustomResourceDefinition"
  );
}

/** Name and version become the request path: nothing but a DNS subdomain and a plain version may get there. */
function checkedCRD(crd: CRD, chart: string): CRD {
  const name = crd.metadata?.name;
  if (typeof name !== "string" || name.length > 253 || !DNS_SUBDOMAIN.test(name))
    throw new ChartCRDsError(`chart ${chart} has a CustomResourceDefinition whose name is not a DNS subdomain`);
  if (!API_VERSION.test(crd.apiVersion))
    throw new ChartCRDsError(
      `chart ${chart}: CustomResourceDefinition ${name} has apiVersion ${crd.apiVersion.slice(0, 80)}`,
    );
  return crd;
}

export interface ApplyCRDsOptions {
  policy: CRDsPolicy;
  serverSideApply: boolean;
  /** Labels merged into each CRD (helm-controller's origin labels). */
  labels?: Record<string, string>;
  /** @default ESTABLISHED_TIMEOUT_MS */
  establishedTimeoutMs?: number;
}

/** Applies `crds` by `policy` and waits until those written are established; returns the names written. */
export async function applyCRDs(client: KubeClient, crds: CRD[], options: ApplyCRDsOptions): Promise<string[]> {
  if (options.policy === "Skip" || crds.length === 0) return [];
  const written: CRD[] = [];
  for (const crd of crds) {
    const desired = { ...crd, metadata: { ...crd.metadata, labels: { ...crd.metadata.labels, ...options.labels } } };
    try {
      if (await writeCRD(client, desired, options)) written.push(desired);
    } catch (error) {
      const reason = error instanceof KubeApiError ? error.message : (error as Error).message;
      throw new ChartCRDsError(`applying CustomResourceDefinition ${crd.metadata.name}: ${reason}`);
    }
  }
  await waitEstablished(client, written, options.establishedTimeoutMs ?? ESTABLISHED_TIMEOUT_MS);
  return written.map((crd) => crd.metadata.name);
}

/** Writes one CRD as the policy says; false when it was left as it is. */
async function writeCRD(client: KubeClient, crd: CRD, options: ApplyCRDsOptions): Promise<boolean> {
  const collection = `/apis/${crd.apiVersion}/customresourcedefinitions`;
  const path = `${collection}/${encodeURIComponent(crd.metadata.name)}`;
  if (options.serverSideApply) {
    await client.send({
      method: "PATCH",
      path,
      query: { fieldManager: FIELD_MANAGER, force: "true" },
      body: crd,
      contentType: "application/apply-patch+yaml",
    });
    return true;
  }
  const created = await client
    .send({ method: "POST", path: collection, query: { fieldManager: FIELD_MANAGER }, body: crd })
    .then(
      () => true,
      (error: unknown) => {
        if (error instanceof KubeApiError && error.status === 409) return false;
        throw error;
      },
    );
  if (created || options.policy === "Create") return created;
  const live = await client.send<CRD>({ method: "GET", path });
  const replacement = { ...crd, metadata: { ...crd.metadata, resourceVersion: live.metadata.resourceVersion } };
  await client.send({ method: "PUT", path, query: { fieldManager: FIELD_MANAGER }, body: replacement });
  return true;
}

async function waitEstablished(client: KubeClient, crds: CRD[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const crd of crds) {
    const path = `/apis/${crd.apiVersion}/customresourcedefinitions/${encodeURIComponent(crd.metadata.name)}`;
    for (;;) {
      const live = await client.send<CRD>({ method: "GET", path });
      if (live.status?.conditions?.some((c) => c.type === "Established" && c.status === "True")) break;
      if (Date.now() > deadline)
        throw new ChartCRDsError(
          `CustomResourceDefinition ${crd.metadata.name} is not established after ${timeoutMs / 1000}s`,
        );
      await sleep(200);
    }
  }
}
