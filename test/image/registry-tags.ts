import { createHash } from "node:crypto";
import { FLUX_MEDIA_TYPES, uploadBlob } from "../env/oci.js";

/**
 * Pushes one small image under each of `tags` (its manifest annotated with the tag, so every tag has a
 * digest of its own), a few at a time; returns the digest of each tag.
 */
export async function pushTags(
  host: string,
  repository: string,
  tags: string[],
  authorization?: string,
): Promise<Record<string, string>> {
  const base = `http://${host}/v2/${repository}`;
  const auth = authorization ? { authorization } : undefined;
  const config = Buffer.from("{}");
  const layer = Buffer.from("layer");
  const [configDigest, layerDigest] = [await uploadBlob(base, config, auth), await uploadBlob(base, layer, auth)];
  const digests: Record<string, string> = {};
  const queue = [...tags];
  const worker = async () => {
    for (let tag = queue.shift(); tag !== undefined; tag = queue.shift()) {
      const manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: FLUX_MEDIA_TYPES.manifest,
          config: { mediaType: FLUX_MEDIA_TYPES.config, digest: configDigest, size: config.length },
          layers: [{ mediaType: FLUX_MEDIA_TYPES.content, digest: layerDigest, size: layer.length }],
          annotations: { tag },
        }),
      );
      const response = await fetch(`${base}/manifests/${tag}`, {
        method: "PUT",
        headers: { "content-type": FLUX_MEDIA_TYPES.manifest, ...auth },
        body: manifest,
      });
      if (response.status !== 201) throw new Error(`PUT ${repository}:${tag}: HTTP ${response.status}`);
      digests[tag] = `sha256:${createHash("sha256").update(manifest).digest("hex")}`;
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return digests;
}
