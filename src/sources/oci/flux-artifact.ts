import { digestOf, MEDIA_TYPE, OciError, type OciClient } from "./client.js";
import type { OciPublisher } from "./publisher.js";

// A Flux OCI artifact as fluxcd/pkg/oci v0.68.1 pushes and pulls it (`flux push|pull artifact`): an
// OCI image manifest with Flux's config media type, one gzipped tarball layer, and the artifact's
// origin in OpenContainers annotations. The config blob is the one go-containerregistry serializes
// for Flux's empty image (the same bytes for every artifact), so manifests compare field for field.

export const FLUX_CONFIG_MEDIA_TYPE = "application/vnd.cncf.flux.config.v1+json";
export const FLUX_CONTENT_MEDIA_TYPE = "application/vnd.cncf.flux.content.v1.tar+gzip";
export const ANNOTATION = {
  source: "org.opencontainers.image.source",
  revision: "org.opencontainers.image.revision",
  created: "org.opencontainers.image.created",
} as const;

/** What `flux push artifact` uploads as the config, byte for byte (observed from flux v2.9.5). */
export const FLUX_CONFIG = Buffer.from(
  '{"architecture":"","created":"0001-01-01T00:00:00Z","os":"","rootfs":{"type":"layers","diff_ids":null},"config":{}}',
);

/** An artifact's origin, as `flux push artifact --source --revision --annotations` gives it. */
export interface ArtifactOrigin {
  source: string;
  revision: string;
  /** RFC 3339, seconds, UTC; now when absent (`--reproducible`: the epoch). */
  created?: string;
  /** `--annotations`: they override the three above, as Metadata.ToAnnotations lets them. */
  annotations?: Record<string, string>;
}

/** A pulled artifact's origin, from its manifest's annotations (empty strings when absent, as Flux's Metadata). */
export interface PulledArtifact {
  digest: string;
  source: string;
  revision: string;
  created: string;
  annotations: Record<string, string>;
  layer: Buffer;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** The manifest annotations for `origin`; a created annotation that is not RFC 3339 is refused, as Flux's Push does. */
export function artifactAnnotations(origin: ArtifactOrigin, now: Date): Record<string, string> {
  const created = origin.created ?? now.toISOString().replace(/\.\d{3}Z$/, "Z");
  const annotations: Record<string, string> = {
    [ANNOTATION.created]: created,
    [ANNOTATION.source]: origin.source,
    [ANNOTATION.revision]: origin.revision,
    ...origin.annotations,
  };
  if (annotations[ANNOTATION.created] === "") annotations[ANNOTATION.created] = created;
  const value = annotations[ANNOTATION.created]!;
  if (!RFC3339.test(value) || Number.isNaN(Date.parse(value)))
    throw new OciError(`invalid created timestamp "${value}": not RFC 3339`);
  return annotations;
}

/** The image manifest of a Flux artifact, with go-containerregistry's field order and Go's sorted map keys. */
export function fluxManifest(layer: Buffer, annotations: Record<string, string>): Buffer {
  const sorted = Object.fromEntries(Object.entries(annotations).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPE.ociManifest,
      config: { mediaType: FLUX_CONFIG_MEDIA_TYPE, size: FLUX_CONFIG.length, digest: digestOf(FLUX_CONFIG, "sha256:") },
      layers: [{ mediaType: FLUX_CONTENT_MEDIA_TYPE, size: layer.length, digest: digestOf(layer, "sha256:") }],
      annotations: sorted,
    }),
  );
}

/**
 * Uploads the layer and the config (each only when the registry lacks it) and tags the manifest;
 * the manifest's digest. `onLayer` hears of the layer's upload (for the CLI's progress).
 */
export async function pushFluxArtifact(
  publisher: OciPublisher,
  tag: string,
  layer: Buffer,
  annotations: Record<string, string>,
  onLayer: (uploaded: boolean) => void = () => {},
): Promise<string> {
  const manifest = fluxManifest(layer, annotations);
  const [uploaded] = await Promise.all([publisher.uploadBlob(layer), publisher.uploadBlob(FLUX_CONFIG)]);
  onLayer(uploaded);
  return publisher.putManifest(tag, manifest, MEDIA_TYPE.ociManifest);
}

/**
 * The artifact `reference` names (an index resolved to its image, as crane.Pull) and its first layer,
 * refused over `maxLayerBytes` or when it is not gzipped (Flux would copy such a layer to a file
 * where the CLI names a folder).
 */
export async function pullFluxArtifact(
  client: OciClient,
  reference: string,
  maxLayerBytes: number,
): Promise<PulledArtifact> {
  const { digest, manifest } = await client.manifest(reference);
  const first = manifest.layers[0];
  if (!first) throw new OciError("no layers found in artifact");
  const layer = await client.blob(first, maxLayerBytes);
  if (layer[0] !== 0x1f || layer[1] !== 0x8b)
    throw new OciError(`layer ${first.digest} (${first.mediaType}) is not a gzipped tarball`);
  const annotations = manifest.annotations ?? {};
  return {
    digest,
    source: annotations[ANNOTATION.source] ?? "",
    revision: annotations[ANNOTATION.revision] ?? "",
    created: annotations[ANNOTATION.created] ?? "",
    annotations,
    layer,
  };
}
