// The kinds `sluice reconcile` and the web UI may ask to reconcile, in flux's order. A module of its own, with no
// imports, so the CLI's command table reads it without loading the Store's code at start.

/** The kinds that can be asked to reconcile (Flux's `reconcile.fluxcd.io/requestedAt`). */
export const REQUESTABLE_KINDS = [
  "GitRepository",
  "OCIRepository",
  "Bucket",
  "HelmRepository",
  "HelmChart",
  "Kustomization",
  "HelmRelease",
  "Alert",
  "Provider",
  "ImageRepository",
  "ImagePolicy",
  "ImageUpdateAutomation",
] as const;
export type RequestableKind = (typeof REQUESTABLE_KINDS)[number];
