import { createHash } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { buffer } from "node:stream/consumers";
import { gzipSync } from "node:zlib";
import { create as createTar, Header } from "tar";

/** Media types of a Flux OCI artifact (what `flux push artifact` produces). */
export const FLUX_MEDIA_TYPES = {
  config: "application/vnd.cncf.flux.config.v1+json",
  content: "application/vnd.cncf.flux.content.v1.tar+gzip",
  manifest: "application/vnd.oci.image.manifest.v1+json",
} as const;

/**
 * Pushes a Flux-style OCI artifact (one tar.gz layer of `files`) over the registry's HTTP API and
 * returns the manifest digest.
 */
export async function pushOciArtifact(
  host: string,
  repository: string,
  tag: string,
  files: Record<string, string>,
  annotations: Record<string, string> = {},
  /** An `Authorization` header for a registry that wants one to push. */
  authorization?: string,
): Promise<string> {
  const layer = await tarGz(files);
  const config = Buffer.from("{}");
  const base = `http://${host}/v2/${repository}`;
  const auth = authorization ? { authorization } : undefined;
  const [layerDigest, configDigest] = await Promise.all([
    uploadBlob(base, layer, auth),
    uploadBlob(base, config, auth),
  ]);
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: FLUX_MEDIA_TYPES.manifest,
    config: { mediaType: FLUX_MEDIA_TYPES.config, digest: configDigest, size: config.length },
    layers: [{ mediaType: FLUX_MEDIA_TYPES.content, digest: layerDigest, size: layer.length }],
    annotations,
  });
  const response = await fetch(`${base}/manifests/${tag}`, {
    method: "PUT",
    headers: { "content-type": FLUX_MEDIA_TYPES.manifest, ...auth },
    body: manifest,
  });
  if (response.status !== 201)
    throw new Error(`PUT manifest ${repository}:${tag}: HTTP ${response.status} ${await response.text()}`);
  return response.headers.get("docker-content-digest") ?? sha256(Buffer.from(manifest));
}

/**
 * Pushes `layers` (each with its media type) and a `{}` config as an image manifest, with any manifest
 * media type and annotations; returns the manifest digest. For hostile artifacts a client must refuse.
 */
export async function pushLayers(
  host: string,
  repository: string,
  tag: string,
  layers: { data: Buffer; mediaType: string; size?: number }[],
  options: { annotations?: Record<string, string>; mediaType?: string; authorization?: string } = {},
): Promise<string> {
  const base = `http://${host}/v2/${repository}`;
  const auth = options.authorization ? { authorization: options.authorization } : undefined;
  const config = Buffer.from("{}");
  const configDigest = await uploadBlob(base, config, auth);
  const described = [];
  for (const layer of layers)
    described.push({
      mediaType: layer.mediaType,
      digest: await uploadBlob(base, layer.data, auth),
      size: layer.size ?? layer.data.length,
    });
  const mediaType = options.mediaType ?? FLUX_MEDIA_TYPES.manifest;
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType,
    config: { mediaType: FLUX_MEDIA_TYPES.config, digest: configDigest, size: config.length },
    layers: described,
    annotations: options.annotations ?? {},
  });
  const response = await fetch(`${base}/manifests/${tag}`, {
    method: "PUT",
    headers: { "content-type": mediaType, ...auth },
    body: manifest,
  });
  if (response.status !== 201)
    throw new Error(`PUT manifest ${repository}:${tag}: HTTP ${response.status} ${await response.text()}`);
  return sha256(Buffer.from(manifest));
}

/** A tar.gz of raw entries (headers written by hand, so any path, type or link target can be tried). */
export function rawTarGz(
  entries: { path: string; type?: "File" | "Directory" | "SymbolicLink" | "Link"; body?: string; linkpath?: string }[],
): Buffer {
  const blocks: Buffer[] = [];
  for (const entry of entries) {
    const type = entry.type ?? "File";
    const body = Buffer.from(type === "File" ? (entry.body ?? "") : "");
    const header = Buffer.alloc(512);
    new Header({
      path: entry.path,
      type,
      size: body.length,
      mode: 0o644,
      mtime: new Date(0),
      linkpath: entry.linkpath,
    }).encode(header, 0);
    blocks.push(header, body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}

export async function uploadBlob(base: string, content: Buffer, headers?: Record<string, string>): Promise<string> {
  const digest = sha256(content);
  const started = await fetch(`${base}/blobs/uploads/`, { method: "POST", headers });
  if (started.status !== 202) throw new Error(`start upload: HTTP ${started.status}`);
  const location = new URL(started.headers.get("location")!, base);
  location.searchParams.set("digest", digest);
  const done = await fetch(location, {
    method: "PUT",
    headers: { "content-type": "application/octet-stream", ...headers },
    body: content,
  });
  if (done.status !== 201) throw new Error(`upload blob ${digest}: HTTP ${done.status} ${await done.text()}`);
  return digest;
}

/** A gzipped tarball of `files` (path → content). */
export async function tarGz(files: Record<string, string>): Promise<Buffer> {
  const dir = await mkdtemp(join(tmpdir(), "sluice-tar-"));
  try {
    for (const [path, content] of Object.entries(files)) {
      await mkdir(dirname(join(dir, path)), { recursive: true });
      await writeFile(join(dir, path), content);
    }
    return await buffer(createTar({ gzip: true, cwd: dir, portable: true }, Object.keys(files)));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** `sha256:<hex>` of a buffer, the OCI digest format. */
export function sha256(content: Buffer): string {
  return `sha256:${createHash("sha256").update(content).digest("hex")}`;
}
