import { setTimeout as sleep } from "node:timers/promises";
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import type { SealedBundle } from "../agent/bundle.js";
import { refKey, type AgentHeartbeat, type AgentReport, type BundleInbox, type BundleIndex, type BundleOutbox, type IndexEntry, type KustomizationRef } from "../agent/channel.js";
import { listKeys, statusOf } from "./s3-store.js";

/** Index writes lost to another worker are retried, with a short random pause so a fleet-wide change converges. */
const ATTEMPTS = 40;
const MAX_PAUSE_MS = 100;

/** S3 keys of one cluster's channel. The agent's IAM role reads `bundles/<cluster>/` and writes `status/<cluster>/` only. */
export function channelPrefixes(cluster: string): { bundles: string; status: string } {
  return { bundles: `bundles/${cluster}/`, status: `status/${cluster}/` };
}

/**
 * A cluster's bundle channel on S3: immutable bundles at `bundles/<cluster>/<ns>/<name>/<digest>.json`,
 * the index at `bundles/<cluster>/index.json` (updated with If-Match, so concurrent workers never
 * lose each other's entries), reports at `status/<cluster>/kustomizations/<ns>/<name>.json` and the
 * heartbeat at `status/<cluster>/agent.json`.
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

  async current(ks: KustomizationRef): Promise<IndexEntry | undefined> {
    return (await this.readIndex())?.index.bundles[refKey(ks)];
  }

  async publish(bundle: SealedBundle, contentDigest: string): Promise<void> {
    const { kustomization, revision, sequence, withdrawn } = bundle.content;
    const entry: IndexEntry = { kustomization, digest: bundle.digest, contentDigest, sequence, revision, publishedAt: new Date().toISOString(), ...(withdrawn && { withdrawn }) };
    await this.put(this.bundlePath(entry), JSON.stringify(bundle));
    await this.updateIndex((index) => void (index.bundles[refKey(kustomization)] = entry));
  }

  async report(ks: KustomizationRef): Promise<AgentReport | undefined> {
    return this.readJson<AgentReport>(this.reportPath(ks));
  }

  async heartbeat(): Promise<AgentHeartbeat | undefined> {
    return this.readJson<AgentHeartbeat>(`${this.prefixes.status}agent.json`);
  }

  async index(etag?: string): Promise<{ index: BundleIndex; etag: string } | "unchanged"> {
    try {
      return (await this.readIndex(etag)) ?? { index: { bundles: {} }, etag: "" };
    } catch (error) {
      if (statusOf(error) === 304) return "unchanged";
      throw error;
    }
  }

  async bundle(entry: IndexEntry): Promise<Buffer> {
    const answer = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.bundlePath(entry) }));
    return Buffer.from(await answer.Body!.transformToByteArray());
  }

  async reports(): Promise<AgentReport[]> {
    const keys = await listKeys(this.s3, this.bucket, `${this.prefixes.status}kustomizations/`);
    const found = await Promise.all(keys.map((k) => this.readJson<AgentReport>(k)));
    return found.filter((r): r is AgentReport => r !== undefined);
  }

  async writeReport(report: AgentReport): Promise<void> {
    await this.put(this.reportPath(report.kustomization), JSON.stringify(report));
  }

  async writeHeartbeat(heartbeat: AgentHeartbeat): Promise<void> {
    await this.put(`${this.prefixes.status}agent.json`, JSON.stringify(heartbeat));
  }

  /** Removes a withdrawn Kustomization's report, once the agent has deleted what it applied. */
  async forgetReport(ks: KustomizationRef): Promise<void> {
    await this.s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.reportPath(ks) }));
  }

  private async readIndex(ifNoneMatch?: string): Promise<{ index: BundleIndex; etag: string } | undefined> {
    try {
      const answer = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: `${this.prefixes.bundles}index.json`, ...(ifNoneMatch && { IfNoneMatch: ifNoneMatch }) }));
      return { index: JSON.parse(await answer.Body!.transformToString()) as BundleIndex, etag: answer.ETag! };
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }

  /** Read-modify-write of the index, conditional on its ETag; retried when another worker won. */
  private async updateIndex(change: (index: BundleIndex) => void): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const current = await this.readIndex();
      const index = current?.index ?? { bundles: {} };
      change(index);
      try {
        await this.put(`${this.prefixes.bundles}index.json`, JSON.stringify(index), current ? { IfMatch: current.etag } : { IfNoneMatch: "*" });
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
      const answer = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return JSON.parse(await answer.Body!.transformToString()) as T;
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }

  private async put(key: string, body: string, condition: { IfMatch?: string; IfNoneMatch?: string } = {}): Promise<void> {
    const encryption = this.kmsKeyId ? { ServerSideEncryption: "aws:kms" as const, SSEKMSKeyId: this.kmsKeyId } : {};
    await this.s3.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentType: "application/json", ...condition, ...encryption }));
  }

  private bundlePath(entry: IndexEntry): string {
    return `${this.prefixes.bundles}${entry.kustomization.namespace}/${entry.kustomization.name}/${entry.digest.replace(/^sha256:/, "")}.json`;
  }

  private reportPath(ks: KustomizationRef): string {
    return `${this.prefixes.status}kustomizations/${ks.namespace}/${ks.name}.json`;
  }
}
