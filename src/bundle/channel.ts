import type { HelmRelease } from "../api/helmrelease.js";
import type { InventoryEntry } from "../apply/inventory.js";
import type { DeletionPolicy } from "../apply/plan.js";
import type { ObjectHealth } from "../apply/wait.js";
import type { BundleSigner, BundleOwner, SealedBundle } from "./bundle.js";

// What passes between the control plane and one cluster's pull agent: the control plane publishes
// bundles and keeps an index of the current one per Kustomization; the agent reads them and writes
// back reports and a heartbeat. Nothing else is shared: the agent never reaches the control plane.

/** The current bundle of one Kustomization. */
export interface IndexEntry {
  kustomization: BundleOwner;
  digest: string;
  /** Digest of the content without its sequence: equal when a render brings nothing new. */
  contentDigest: string;
  sequence: number;
  revision: string;
  publishedAt: string;
  /** The current bundle is a withdrawal (the Kustomization was deleted). */
  withdrawn?: true;
}

/** Every current bundle of a cluster, by `<namespace>/<name>`. */
export interface BundleIndex {
  bundles: Record<string, IndexEntry>;
}

/** The index as read back: not signed, so each entry is checked before use (checkIndexEntry). */
export interface UncheckedIndex {
  bundles: Record<string, unknown>;
}

/** What the agent last did for one Kustomization or HelmRelease. */
export interface AgentReport {
  kustomization: BundleOwner;
  /** The bundle this report is about (the newest the agent has seen, applied or not). */
  digest: string;
  revision: string;
  /** Ready as Flux would set it: Unknown while applying or waiting for health. */
  ready: "True" | "False" | "Unknown";
  reason: string;
  message: string;
  /**
   * The newest bundle the agent accepted (signature, cluster, Kustomization and sequence checked),
   * whether it applied, failed, suspended or withdrew: an older one is refused as a replay, also
   * after a restart or a withdrawal (the report of a withdrawn Kustomization stays, as a tombstone).
   */
  accepted?: { sequence: number; digest: string };
  /** The last bundle applied successfully and what it left in the cluster; kept when a newer one fails. */
  applied?: {
    digest: string;
    revision: string;
    sequence: number;
    inventory: InventoryEntry[];
    prune: boolean;
    deletionPolicy: DeletionPolicy;
  };
  /** Whether it asked for health checks (`wait` / `healthChecks`), and what they found. */
  health?: ObjectHealth[];
  /** Flux's change-set lines of the last apply that wrote something (`Deployment/ns/app configured`). */
  changes?: string;
  /** Set when the last write corrected drift in an already applied bundle. */
  driftCorrected?: boolean;
  reportedAt: string;
  /** How long the work reported on took (apply, prune, health checks), for Flux's `lastReconciledDuration`. */
  durationMs?: number;
  /**
   * A HelmRelease's status as the agent's release made it (the agent keeps it: it is the only one that sees the
   * release), and the event of the step that made it.
   */
  helmRelease?: {
    status: NonNullable<HelmRelease["status"]>;
    event?: { severity: "info" | "error"; reason: string; message: string };
  };
}

/** The agent's periodic sign of life, for `sluice get clusters`. */
export interface AgentHeartbeat {
  cluster: string;
  version: string;
  lastContact: string;
  /** The newest revision applied across the cluster's Kustomizations. */
  revision?: string;
  /** Kustomizations with a current bundle (withdrawals not counted). */
  bundles: number;
}

/** The control plane's side of a cluster's channel. */
export interface BundleOutbox {
  current(ks: BundleOwner): Promise<IndexEntry | undefined>;
  publish(bundle: SealedBundle, contentDigest: string): Promise<void>;
  report(ks: BundleOwner): Promise<AgentReport | undefined>;
  heartbeat(): Promise<AgentHeartbeat | undefined>;
}

/** The agent's side of its cluster's channel. */
export interface BundleInbox {
  /** The index, or "unchanged" when it still has `etag` (a conditional GET: cheap to poll). */
  index(etag?: string): Promise<{ index: UncheckedIndex; etag: string } | "unchanged">;
  bundle(entry: IndexEntry): Promise<Buffer>;
  /** The reports this agent wrote before, to resume after a restart. */
  reports(): Promise<AgentReport[]>;
  writeReport(report: AgentReport): Promise<void>;
  writeHeartbeat(heartbeat: AgentHeartbeat): Promise<void>;
}

/** The control plane's part in agent clusters: how each cluster's bundles are signed and where they go. */
export interface AgentPlane {
  signer(cluster: string): BundleSigner;
  outbox(cluster: string): BundleOutbox;
}
