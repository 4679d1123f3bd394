import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3ServiceException,
  type S3Client,
} from "@aws-sdk/client-s3";
import type { KubeObject } from "../apply/object.js";
import { ConflictError, type Store, type Stored } from "../store/store.js";
import { formatKey, keyOf, parseKey, type ObjectKey } from "../api/object-key.js";

/**
 * The Store on S3: one JSON object per Flux object at `<prefix><kind>/<namespace>/<name>.json`,
 * the ETag as version, and conditional writes — `If-None-Match: *` to create, `If-Match: <etag>`
 * to update or delete — so two workers can never overwrite each other (S3 answers 412).
 */
export class S3Store implements Store {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    private readonly prefix = "store/",
  ) {}

  async get(key: ObjectKey): Promise<Stored | undefined> {
    try {
      const answer = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.path(key) }));
      return { object: JSON.parse(await answer.Body!.transformToString()) as KubeObject, version: answer.ETag! };
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }

  /** Lists by prefix (kind, then namespace); for the CLI and tests — the tick uses the due index instead. */
  async list(filter: { kind?: string; namespace?: string } = {}): Promise<Stored[]> {
    const prefix = `${this.prefix}${filter.kind ? `${filter.kind}/${filter.namespace ? `${filter.namespace}/` : ""}` : ""}`;
    const keys = (await listKeys(this.s3, this.bucket, prefix)).filter((k) => k.endsWith(".json"));
    const found = await Promise.all(keys.map((k) => this.get(parseKey(k.slice(this.prefix.length, -".json".length)))));
    return found
      .filter(
        (s): s is Stored => s !== undefined && (!filter.namespace || keyOf(s.object).namespace === filter.namespace),
      )
      .sort((a, b) => formatKey(keyOf(a.object)).localeCompare(formatKey(keyOf(b.object))));
  }

  async create(object: KubeObject): Promise<Stored> {
    return this.put(object, { IfNoneMatch: "*" });
  }

  async update(object: KubeObject, version: string): Promise<Stored> {
    return this.put(object, { IfMatch: version });
  }

  async delete(key: ObjectKey, version?: string): Promise<void> {
    if (version !== undefined) {
      // Conditional delete where S3 supports it; re-checked by reading, for stores that ignore it.
      const current = await this.get(key);
      if (!current) return;
      if (current.version !== version) throw new ConflictError(key);
    }
    try {
      await this.s3.send(
        new DeleteObjectCommand({
          Bucket: this.bucket,
          Key: this.path(key),
          ...(version !== undefined && { IfMatch: version }),
        }),
      );
    } catch (error) {
      if (statusOf(error) === 412) throw new ConflictError(key);
      if (statusOf(error) !== 404) throw error;
    }
  }

  private async put(object: KubeObject, condition: { IfNoneMatch?: string; IfMatch?: string }): Promise<Stored> {
    const key = keyOf(object);
    try {
      const answer = await this.s3.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.path(key),
          Body: JSON.stringify(object),
          ContentType: "application/json",
          ...condition,
        }),
      );
      return { object: structuredClone(object), version: answer.ETag! };
    } catch (error) {
      // 412: the precondition failed; 409: a concurrent conditional write won the race.
      if (statusOf(error) === 412 || statusOf(error) === 409 || (condition.IfMatch && statusOf(error) === 404))
        throw new ConflictError(key);
      throw error;
    }
  }

  private path(key: ObjectKey): string {
    return `${this.prefix}${key.kind}/${key.namespace}/${key.name}.json`;
  }
}

/** Every key under a prefix, page after page (ListObjectsV2 answers at most 1,000 a time). */
export async function listKeys(s3: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    keys.push(...(page.Contents ?? []).map((c) => c.Key!));
    token = page.NextContinuationToken;
  } while (token);
  return keys;
}

export function statusOf(error: unknown): number | undefined {
  return error instanceof S3ServiceException ? error.$metadata.httpStatusCode : undefined;
}
