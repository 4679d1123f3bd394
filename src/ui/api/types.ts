// The web UI's API as it travels: JSON shapes the browser app reads (it imports these types only) and the
// transport-free request/response the router takes, so `sluice run`'s node:http server and a Lambda serve it alike.

/** One request, as any transport hands it over. Header names lowercase. */
export interface UiRequest {
  method: string;
  /** The URL's path, e.g. `/api/v1/objects`; percent-encoding left in. */
  path: string;
  query: URLSearchParams;
  headers: Record<string, string | undefined>;
  /** Who is asking, from the transport's authentication (locally the OS user); recorded with every action. */
  actor: string;
}

export interface UiResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Ready as Flux sets it, or "-" when the object has no Ready condition yet. */
export type ReadyState = "True" | "False" | "Unknown" | "-";

/** One line of the fleet overview. */
export interface ObjectRow {
  kind: string;
  namespace: string;
  name: string;
  /** The registered cluster it targets; absent: the control plane's own. */
  cluster?: string;
  ready: ReadyState;
  reason: string;
  message: string;
  revision: string;
  suspended: boolean;
  /** When Ready last changed (RFC 3339), else when the object was created; "" when neither is known. */
  since: string;
}

export interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
  lastTransitionTime?: string;
  observedGeneration?: number;
}

export interface EventRow {
  timestamp: string;
  severity: "info" | "error";
  reason: string;
  message: string;
  revision?: string;
  /** Who asked, for the UI's and CLI's audited actions. */
  actor?: string;
  /** A drift correction's reverted fields, per object. */
  drift?: DriftedObject[];
  /** Drifted objects the event's size bound left out. */
  driftOmitted?: number;
}

/** One object a drift correction wrote back: each field as it was (the drift) and as the apply restored it. */
export interface DriftedObject {
  /** `Kind/namespace/name` */
  subject: string;
  /** JSON values, clipped; a value that must not be shown (a Secret's, a SOPS-decrypted object's) is "(hidden)". */
  changes: { path: string; before?: string; after?: string }[];
  /** Changed fields past the per-object bound. */
  omitted: number;
}

/** kstatus, as Flux's health checks judge an object. */
export type HealthState = "Current" | "InProgress" | "Failed" | "Terminating" | "NotFound" | "Unknown";

/**
 * The live health of a Kustomization's inventory (its non-Flux objects; Flux objects show their Ready), read from
 * the cluster when the page asks, as the identity the Kustomization applies as. Status and a message only: never
 * an object's content.
 */
export interface InventoryHealth {
  /** Why nothing was read (an agent cluster, a UI that reaches no cluster, a Kustomization that cannot connect). */
  notChecked?: string;
  /** Who read it, e.g. `user system:serviceaccount:apps:deployer`. */
  identity?: string;
  /** By graph node id (`Kind/namespace/name`). */
  objects: Record<string, { status: HealthState; message: string }>;
  /** Inventory objects past {@link HEALTH_LIMIT}, not read. */
  skipped: number;
  /** When it was read (RFC 3339). */
  at: string;
}

/** An object a Kustomization applied (its inventory entry), with what the Store knows of it when it is a Flux object. */
export interface InventoryItem {
  group: string;
  kind: string;
  namespace: string;
  name: string;
  version: string;
  /** Set for the Flux objects the Store holds: their Ready. */
  ready?: ReadyState;
}

export interface GraphNode {
  id: string;
  kind: string;
  namespace: string;
  name: string;
  ready?: ReadyState;
  /** Whether the node is an object the UI has a page for. */
  stored: boolean;
}

export interface ObjectDetail {
  row: ObjectRow;
  /** The stored object (spec, status, metadata) as the control plane keeps it. */
  object: { apiVersion: string; kind: string; metadata: Record<string, unknown>; spec?: unknown; status?: unknown };
  conditions: Condition[];
  /** Newest first, at most {@link EVENT_LIMIT}. */
  events: EventRow[];
  inventory: InventoryItem[];
  /** The inventory had more entries than the graph shows. */
  graph: { nodes: GraphNode[]; edges: [string, string][]; truncated: boolean };
  actions: { reconcile: boolean; suspend: boolean; resume: boolean; withSource: boolean };
}

export interface ClusterRow {
  name: string;
  mode: string;
  lastContact?: string;
  revision?: string;
  bundles?: number;
  objects: number;
  ready: number;
  failing: number;
  lastApplied?: string;
}

export interface SourceRow extends ObjectRow {
  url: string;
  /** When the artifact was last produced (RFC 3339). */
  lastFetch: string;
  /** Artifact bytes, when the source records them. */
  size?: number;
}

export interface ActionResult {
  /** The reconcile request's token (reconcile), as `status.lastHandledReconcileAt` will echo it. */
  token?: string;
  message: string;
}

export const EVENT_LIMIT = 200;
/**
 * Drift corrections whose reverted fields the page gets, newest first; older ones keep their message. A report may
 * be 32 KB, and a controller fighting Sluice over a field makes one every interval.
 */
export const DRIFT_LIMIT = 10;
/** Inventory entries drawn in the graph; the table lists them all. */
export const GRAPH_LIMIT = 300;
/** Inventory objects whose health one request reads (one GET each), so a huge inventory costs a bounded check. */
export const HEALTH_LIMIT = GRAPH_LIMIT;
