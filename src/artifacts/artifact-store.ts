/** What the ArtifactStore returns for a stored blob. */
export interface StoredArtifact {
  /** Storage path, e.g. `gitrepository/flux-system/podinfo/<digest-hex>.tar.gz`; what status.artifact.path holds. */
  path: string;
  /** `sha256:<hex>` of the content. */
  digest: string;
  size: number;
  /** Where an HTTP client could fetch it (Flux's status.artifact.url); file:// or s3:// locally. */
  url: string;
}

/** Source artifacts (`.tar.gz`) and rendered bundles, content-addressed. */
export interface ArtifactStore {
  /** Stores `data` under `path`; writing the same path twice is harmless (same digest → no-op). */
  put(path: string, data: Buffer): Promise<StoredArtifact>;
  /** The content at `path`, verified against `digest` when given; undefined when absent. */
  get(path: string, digest?: string): Promise<Buffer | undefined>;
  delete(path: string): Promise<void>;
  /** Paths under a prefix, for garbage collection of superseded artifacts. */
  list(prefix: string): Promise<string[]>;
}
