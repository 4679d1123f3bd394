import { setTimeout as sleep } from "node:timers/promises";
import { GetObjectCommand, PutObjectCommand, type GetObjectCommandOutput, type S3Client } from "@aws-sdk/client-s3";
import { BundleRejectedError, type SealedBundle } from "../bundle/bundle.js";
import {
  type AgentHeartbeat,
  type AgentReport,
  type BundleInbox,
  type BundleOutbox,
  type IndexEntry,
  type UncheckedIndex,
} from "../bundle/channel.js";
import { ownerName, refKey, type BundleOwner } from "../bundle/bundle.js";
import { checkIndexEntry } from "../bundle/index-entry.js";
import { listKeys, statusOf } from "./s3-store.js";

/** Index writes lost to another worker are retried, with a short random pause so a fleet-wide change converges. */
const ATTEMPTS = 40;
const MAX_PAUSE_MS = 100;
/**
 * Larger objects are refused before they are read: whoever can write the bucket must not exhaust the agent's memory
 * (512 MiB).
 */
export const MAX_BUNDLE_BYTES = 64 << 20;
/** The index, reports and the heartbeat. */
const MAX_DOCUMENT_BYTES = 16 << 20;

/**
 * S3 keys of one cluster's channel. The agent's IAM role reads `bundles/<cluster>/` and writes `status/<cluster>/`
 * only.
 */
export function channelPrefixes(cluster: string): { bundles: string; status: string } {
  return { bundles: `bundles/${cluster}/`, status: `status/${cluster}/` };
}

/**
 * A cluster's bundle channel on S3: immutable bundles at `bundles/<cluster>/<ns>/<name>/<digest>.json`
 * (`bundles/<cluster>/helmreleases/<ns>/<name>/<digest>.json` for a HelmRelease: one level deeper, so
 * never a Kustomization's), the index at `bundles/<cluster>/index.json` (updated with If-Match, so
 * concurrent workers never lose each other's entries), reports at
 * `status/<cluster>/kustomizations|helmreleases/<ns>/<name>.json` and the heartbeat at
 * `status/<cluster>/agent.json`.
 */
export class S3BundleChannel implements BundleOutbox, BundleInbox {
  private readonly prefixes;
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    readonly cluster: string,
    private readonly kmsKeyId?: string,
  ) {
    this.prefixes = channelPrefixes(cluster);
  }

  /**
   * The entry of `ks`; a malformed one (the index is not signed) counts as none, so the genuine bundle is published
   * again.
   */
  async current(ks: BundleOwner): Promise<IndexEntry | undefined> {
    const key = refKey(ks);
    const checked = checkIndexEntry(key, (await this.readIndex())?.index.bundles[key]);
    return checked && "entry" in checked ? checked.entry : undefined;
  }

  async publish(bundle: SealedBundle, contentDigest: string): Promise<void> {
    const { kustomization, revision, sequence, withdrawn } = bundle.content;
    const entry: IndexEntry = {
      kustomization,
      digest: bundle.digest,
      contentDigest,
      sequence,
      revision,
      publishedAt: new Date().toISOString(),
      ...(withdrawn && { withdrawn }),
    };
    const body = JSON.stringify(bundle);
    const size = Buffer.byteLength(body);
    if (size > MAX_BUNDLE_BYTES)
      throw new Error(
        `${ownerName(kustomization)}: publish failed: the bundle is ${mib(size)}, over the agent's limit of ${mib(MAX_BUNDLE_BYTES)}`,
      );
    await this.put(this.bundlePath(entry), body);
    await this.updateIndex((index) => void (index.bundles[refKey(kustomization)] = entry));
  }

  async report(ks: BundleOwner): Promise<AgentReport | undefined> {
    return this.readJson<AgentReport>(this.reportPath(ks));
  }

  async heartbeat(): Promise<AgentHeartbeat | undefined> {
    return this.readJson<AgentHeartbeat>(`${this.prefixes.status}agent.json`);
  }

  async index(etag?: string): Promise<{ index: UncheckedIndex; etag: string } | "unchanged"> {
    try {
      return (await this.readIndex(etag)) ?? { index: { bundles: {} }, etag: "" };
    } catch (error) {
      if (statusOf(error) === 304) return "unchanged";
      throw error;
    }
  }

  /** The bundle an entry names; one that is missing or too large is refused like one that does not verify. */
  async bundle(entry: IndexEntry): Promise<Buffer> {
    const key = this.bundlePath(entry);
    try {
      return await this.readBytes(key, MAX_BUNDLE_BYTES);
    } catch (error) {
      if (statusOf(error) === 404) throw new BundleRejectedError(`${key}: no such bundle`);
      if (error instanceof TooLargeError) throw new BundleRejectedError(error.message);
      throw error;
    }
  }

  async reports(): Promise<AgentReport[]> {
    const keys = (
      await Promise.all(
        ["kustomizations/", "helmreleases/"].map((folder) =>
          listKeys(this.s3, this.bucket, `${this.prefixes.status}${folder}`),
        ),
      )
    ).flat();
    const found = await Promise.all(keys.map((k) => this.readJson<AgentReport>(k)));
    return found.filter((r): r is AgentReport => r !== undefined);
  }

  async writeReport(report: AgentReport): Promise<void> {
    await this.put(this.reportPath(report.kustomization), JSON.stringify(report));
  }

  async writeHeartbeat(heartbeat: AgentHeartbeat): Promise<void> {
    await this.put(`${this.prefixes.status}agent.json`, JSON.stringify(heartbeat));
  }

  /** The index as stored: only its outline is checked here, each entry by whoever uses it (checkIndexEntry). */
  private async readIndex(ifNoneMatch?: string): Promise<{ index: UncheckedIndex; etag: string } | undefined> {
    const key = `${this.prefixes.bundles}index.json`;
    let answer;
    try {
      answer = await this.s3.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: key, ...(ifNoneMatch && { IfNoneMatch: ifNoneMatch }) }),
      );
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
    const index = parseJson(await bodyBytes(key, answer, MAX_DOCUMENT_BYTES), key) as Partial<UncheckedIndex> | null;
    const bundles = index?.bundles;
    if (!bundles || typeof bundles !== "object" || Array.isArray(bundles))
      throw new Error(`${key} read failed: not a bundle index (expected {"bundles": {…}})`);
    return { index: { bundles }, etag: answer.ETag! };
  }

  /** Read-modify-write of the index, conditional on its ETag; retried when another worker won. */
  private async updateIndex(change: (index: UncheckedIndex) => void): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const current = await this.readIndex();
      const index: UncheckedIndex = current?.index ?? { bundles: {} };
      change(index);
      try {
        await this.put(
          `${this.prefixes.bundles}index.json`,
          JSON.stringify(index),
          current ? { IfMatch: current.etag } : { IfNoneMatch: "*" },
        );
        return;
      } catch (error) {
        const lost = statusOf(error) === 412 || statusOf(error) === 409;
        if (!lost || attempt >= ATTEMPTS) throw error;
        await sleep(Math.random() * MAX_PAUSE_MS);
      }
    }
  }

  private async readJson<T>(key: string): Promise<T | undefined> {
    try {
      return parseJson(await this.readBytes(key, MAX_DOCUMENT_BYTES), key) as T;
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }

  private async put(
    key: string,
    body: string,
    condition: { IfMatch?: string; IfNoneMatch?: string } = {},
  ): Promise<void> {
    const encryption = this.kmsKeyId ? { ServerSideEncryption: "aws:kms" as const, SSEKMSKeyId: this.kmsKeyId } : {};
    await this.s3.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: body,
        ContentType: "application/json",
        ...condition,
        ...encryption,
      }),
    );
  }

  private async readBytes(key: string, limit: number): Promise<Buffer> {
    return bodyBytes(key, await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key })), limit);
  }

  private bundlePath(entry: IndexEntry): string {
    const owner = entry.kustomization;
    const folder = owner.kind ? "helmreleases/" : "";
    return `${this.prefixes.bundles}${folder}${owner.namespace}/${owner.name}/${entry.digest.replace(/^sha256:/, "")}.json`;
  }

  private reportPath(owner: BundleOwner): string {
    return `${this.prefixes.status}${owner.kind ? "helmreleases" : "kustomizations"}/${owner.namespace}/${owner.name}.json`;
  }
}

class TooLargeError extends Error {
  override name = "TooLargeError";
}

/** The body of a GET, refused unread (the stream is dropped) when S3 says it is larger than `limit`. */
async function bodyBytes(key: string, answer: GetObjectCommandOutput, limit: number): Promise<Buffer> {
  if ((answer.ContentLength ?? 0) > limit) {
    (answer.Body as { destroy?: () => void } | undefined)?.destroy?.();
    throw new TooLargeError(`${key} is ${mib(answer.ContentLength!)}, over the limit of ${mib(limit)}`);
  }
  const bytes = Buffer.from(await answer.Body!.transformToByteArray());
  if (bytes.length > limit) throw new TooLargeError(`${key} is over the limit of ${mib(limit)}`);
  return bytes;
}

function parseJson(bytes: Buffer, key: string): unknown {
  try {
    return JSON.parse(bytes.toString("utf8"));
  } catch (error) {
    throw new Error(`${key} read failed: not valid JSON (${(error as Error).message})`, { cause: error });
  }
}

function mib(bytes: number): string {
  return `${(bytes / (1 << 20)).toFixed(1)} MiB`;
}
