/**
 * Bounds on one render, so a hostile or broken source fails as `BuildFailed` naming the limit instead
 * of exhausting the process (and, on Lambda, the other reconciles of its batch).
 */
export interface RenderLimits {
  /** Wall-clock time of one kustomize run. @default 60_000 */
  timeoutMs: number;
  /** Size of any one file in the source tree that a render reads. @default 32 MiB */
  maxFileBytes: number;
  /** YAML documents in one render. @default 20_000 */
  maxDocuments: number;
  /** Bytes of rendered YAML (kustomize's output, or the files of a plain folder). @default 128 MiB */
  maxOutputBytes: number;
  /** YAML alias expansions per document (the `yaml` library's `maxAliasCount`). @default 100 */
  maxAliases: number;
}

export const defaultRenderLimits: RenderLimits = {
  timeoutMs: 60_000,
  maxFileBytes: 32 << 20,
  maxDocuments: 20_000,
  maxOutputBytes: 128 << 20,
  maxAliases: 100,
};
