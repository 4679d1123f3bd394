import type { ImageRepository } from "../../api/imagerepository.js";
import type { OciClient } from "../../sources/oci/client.js";
import type { OciRepositoryRef } from "../../sources/oci/reference.js";
import type { ReconcilerPorts } from "../reconciler-ports.js";
import { ociClientFor } from "../source/oci-connection.js";

// How an ImageRepository reaches its registry — shared by its scan and by an ImagePolicy asking for a
// digest, as Flux's AuthOptionsGetter is: the OCI client of OCIRepositories (token challenges, the
// dockerconfigjson secretRef, certSecretRef, insecure, ECR for provider aws), bounded by the timeout.

/** Flux's GetTimeout: `timeout`, else `interval`, at least a second. */
export function scanTimeoutMs(spec: ImageRepository["spec"], parseDuration: (d: string) => number): number {
  return Math.max(parseDuration(spec.timeout ?? spec.interval), 1_000);
}

/** A client for the repository `ref` names, with the ImageRepository's credentials and TLS settings. */
export function registryClient(
  ports: ReconcilerPorts,
  repo: ImageRepository,
  ref: OciRepositoryRef,
  signal: AbortSignal,
): Promise<OciClient> {
  const { spec, metadata } = repo;
  const connection = {
    url: `oci://${spec.image}`,
    insecure: spec.insecure,
    provider: spec.provider,
    secretRef: spec.secretRef,
    certSecretRef: spec.certSecretRef,
  };
  return ociClientFor(ports, metadata.namespace ?? "default", connection, { allowBasicKeys: false, signal, ref });
}
