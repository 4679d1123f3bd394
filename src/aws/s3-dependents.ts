import { DeleteObjectsCommand, GetObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import type { DependentsIndex } from "../ports/dependents.js";
import { formatKey, type ObjectKey } from "../api/object-key.js";
import { listKeys, statusOf } from "./s3-store.js";

/**
 * The dependents index in S3, shared by every Lambda container: an edge is an empty object
 * `dependents/<target>/<dependent>` (listing a target's prefix answers "who depends on it"), and
 * `dependents-of/<dependent>` remembers a Kustomization's targets so stale edges can be removed.
 * What this container already wrote is remembered, so an unchanged spec costs no request.
 */
export class S3Dependents implements DependentsIndex {
  private readonly written = new Map<string, string>();
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
  ) {}

  async record(key: ObjectKey, targets: string[]): Promise<void> {
    const self = formatKey(key);
    const fingerprint = JSON.stringify(targets);
    if (this.written.get(self) === fingerprint) return;
    const previous = await this.previousTargets(self);
    if (JSON.stringify(previous) !== fingerprint) {
      const stale = previous.filter((t) => !targets.includes(t));
      if (stale.length > 0)
        await this.s3.send(
          new DeleteObjectsCommand({
            Bucket: this.bucket,
            Delete: { Objects: stale.map((t) => ({ Key: edge(t, self) })) },
          }),
        );
      for (const target of targets)
        await this.s3.send(
          new PutObjectCommand({ Bucket: this.bucket, Key: edge(target, self), Body: "", ContentLength: 0 }),
        );
      await this.s3.send(
        new PutObjectCommand({ Bucket: this.bucket, Key: `dependents-of/${self}`, Body: fingerprint }),
      );
    }
    this.written.set(self, fingerprint);
  }

  async forget(key: ObjectKey): Promise<void> {
    const self = formatKey(key);
    const previous = await this.previousTargets(self);
    const keys = [...previous.map((t) => edge(t, self)), `dependents-of/${self}`];
    await this.s3.send(
      new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: keys.map((Key) => ({ Key })) } }),
    );
    this.written.delete(self);
  }

  async of(key: ObjectKey): Promise<string[]> {
    const prefix = `dependents/${formatKey(key)}/`;
    return (await listKeys(this.s3, this.bucket, prefix)).map((k) => k.slice(prefix.length)).sort();
  }

  private async previousTargets(self: string): Promise<string[]> {
    try {
      const answer = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: `dependents-of/${self}` }));
      return JSON.parse(await answer.Body!.transformToString()) as string[];
    } catch (error) {
      if (statusOf(error) === 404) return [];
      throw error;
    }
  }
}

function edge(target: string, dependent: string): string {
  return `dependents/${target}/${dependent}`;
}
