import { digestOf, OciClient, OciError, type OciClientOptions } from "./client.js";

// The pushing half of the distribution API (v1.1), for `sluice push|tag artifact`: a blob is
// uploaded only when the registry does not have it (HEAD first), in one monolithic POST + PUT; a
// manifest is PUT under a tag. Tokens are asked with the push scope; every request goes through the
// same guarded client as pulls.

/** The distribution spec's manifest limit, also for what we PUT. */
const MAX_MANIFEST_BYTES = 4 << 20;

export class OciPublisher extends OciClient {
  constructor(options: OciClientOptions) {
    super({ ...options, push: true });
  }

  /** Whether the repository holds the blob `digest` (a HEAD: 200 yes, 404 no). */
  async hasBlob(digest: string): Promise<boolean> {
    const response = await this.send("HEAD", `${this.repositoryPath()}/blobs/${digest}`, {}, undefined, {
      allow: [404],
    });
    await response.body?.return?.();
    return response.statusCode !== 404;
  }

  /** Uploads `data` as the blob of its own digest unless the repository has it; true when it was uploaded. */
  async uploadBlob(data: Buffer): Promise<boolean> {
    const digest = digestOf(data, "sha256:");
    if (await this.hasBlob(digest)) return false;
    const started = await this.send("POST", `${this.repositoryPath()}/blobs/uploads/`, {}, undefined, {
      body: Buffer.alloc(0),
    });
    await started.body?.return?.();
    const location = started.headers?.location;
    const target = Array.isArray(location) ? location[0] : location;
    if (!target) throw new OciError(`${this.name()}: the registry started an upload without a Location`);
    // The Location may carry the upload's state in its query (the distribution registry's _state).
    const url = new URL(target, "http://relative.invalid");
    url.searchParams.set("digest", digest);
    const put = url.host === "relative.invalid" ? `${url.pathname}${url.search}` : url.href;
    const done = await this.send("PUT", put, { "content-type": "application/octet-stream" }, undefined, { body: data });
    await done.body?.return?.();
    return true;
  }

  /** PUTs `body` as the manifest `reference` (a tag or its digest); its digest, as the registry must name it. */
  async putManifest(reference: string, body: Buffer, mediaType: string): Promise<string> {
    if (body.length > MAX_MANIFEST_BYTES) throw new OciError(`manifest is over ${MAX_MANIFEST_BYTES} bytes`);
    const response = await this.send("PUT", this.manifestPath(reference), { "content-type": mediaType }, undefined, {
      body,
    });
    await response.body?.return?.();
    return digestOf(body, "sha256:");
  }
}
