/**
 * Rendering failed: a bad path, invalid YAML, a kustomize error, a render over its limits. Maps to Flux's
 * BuildFailed.
 */
export class BuildError extends Error {
  override name = "BuildError";
}
