// Flux's condition types and reasons, as its controllers write them (fluxcd/pkg apis/meta,
// kustomize-controller and source-controller api/v1, runtime/acl). Sluice's own additions are marked.

/** Condition types. */
export const CONDITION = {
  ready: "Ready",
  reconciling: "Reconciling",
  stalled: "Stalled",
  healthy: "Healthy",
  /** source-controller: the artifact for the current spec is stored. */
  artifactInStorage: "ArtifactInStorage",
  /** source-controller: fetching the source failed (negative polarity: True is bad). */
  fetchFailed: "FetchFailed",
  /** source-controller: the stored artifact is not the one the current spec asks for (negative polarity). */
  artifactOutdated: "ArtifactOutdated",
  /** source-controller: storing the artifact failed (negative polarity). */
  storageOperationFailed: "StorageOperationFailed",
  /** source-controller: building a HelmChart's artifact from its source failed (negative polarity). */
  buildFailed: "BuildFailed",
  /** source-controller: the artifact's signature was verified (True) or not (False) for this generation and revision. */
  sourceVerified: "SourceVerified",
} as const;

/** Reasons shared by every kind (fluxcd/pkg apis/meta). */
export const REASON = {
  succeeded: "Succeeded",
  failed: "Failed",
  progressing: "Progressing",
  /** A failed attempt is retried after an interval (helm-controller's RetryOnFailure strategy). */
  progressingWithRetry: "ProgressingWithRetry",
  suspended: "Suspended",
  dependencyNotReady: "DependencyNotReady",
  reconciliationSucceeded: "ReconciliationSucceeded",
  reconciliationFailed: "ReconciliationFailed",
  healthCheckFailed: "HealthCheckFailed",
  /** A CEL expression of the spec does not compile (stalls). */
  invalidCELExpression: "InvalidCELExpression",
  /** runtime/acl: a cross-namespace reference or an identity's RBAC refused it. */
  accessDenied: "AccessDenied",
  // notification-controller
  /** The spec cannot work as written. */
  invalidSpec: "InvalidSpec",
  /** A Receiver's secret or its `token` key is missing. */
  tokenNotFound: "TokenNotFound",
  /** notification-controller v1beta2: an Alert's or Provider's spec cannot be used as it stands. */
  validationFailed: "ValidationFailed",
  /** An Alert's notification could not be sent (an event on the Alert). */
  notificationDispatchFailed: "NotificationDispatchFailed",
  /** An Alert's eventMetadata or summary names a key the event's controller set (a warning on the Alert). */
  metadataAppendFailed: "MetadataAppendFailed",
  // kustomize-controller
  artifactFailed: "ArtifactFailed",
  buildFailed: "BuildFailed",
  pruneFailed: "PruneFailed",
  // source-controller
  gitOperationFailed: "GitOperationFailed",
  authenticationFailed: "AuthenticationFailed",
  newArtifact: "NewArtifact",
  /** source-controller: a new upstream revision is not stored yet (ArtifactOutdated). */
  newRevision: "NewRevision",
  archiveOperationFailed: "ArchiveOperationFailed",
  /** source-controller: a HelmRepository's index could not be loaded (malformed, unknown fields). */
  indexationFailed: "IndexationFailed",
  /** source-controller: the source URL cannot be used as written (stalls). */
  urlInvalid: "URLInvalid",
  /** source-controller: listing an OCI repository's tags failed, or none matched (OCIRepository). */
  readOperationFailed: "ReadOperationFailed",
  /** source-controller: an OCI artifact's digest or manifest could not be pulled. */
  ociPullFailed: "OCIArtifactPullFailed",
  /** source-controller: an OCI artifact's layer could not be selected, downloaded, extracted or copied. */
  ociLayerOperationFailed: "OCIArtifactLayerOperationFailed",
  /** source-controller: an artifact's signature could not be verified (SourceVerified=False). */
  verificationError: "VerificationError",
  /** source-controller: a Bucket's listing or an object's download failed. */
  bucketOperationFailed: "BucketOperationFailed",
  /** source-controller: a HelmChart's artifact is the chart as the repository serves it. */
  chartPullSucceeded: "ChartPullSucceeded",
  /** source-controller: a HelmChart's artifact was packaged (from a folder, or with values files or a version changed). */
  chartPackageSucceeded: "ChartPackageSucceeded",
  // Sluice: the pull agent refused a bundle (altered, replayed, another cluster's), and withdrew a deleted one.
  bundleRejected: "BundleRejected",
  withdrawn: "Withdrawn",
  /** Sluice: an object of a kind Sluice does not reconcile (yet). */
  unsupportedKind: "UnsupportedKind",
  /** Sluice: an object sets a Flux field Sluice does not implement (yet); the message names it. */
  unsupportedField: "UnsupportedField",
  /** Sluice: fields Flux's CRD does not define were dropped, as Flux's API server drops them (a warning). */
  unknownFields: "UnknownFields",
} as const;

export type Reason = (typeof REASON)[keyof typeof REASON];

/** The longest condition message metav1.Condition admits; Sluice bounds its events' messages the same. */
export const MESSAGE_MAX_CHARS = 32_768;

/** kustomize- and helm-controller's prefix of a message that stalls the object until its spec changes. */
export const TERMINAL_ERROR_MESSAGE = "Reconciliation failed terminally due to configuration error";
