import { GetObjectCommand, ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import ignore from "ignore";
import { bareEtag, type EtagIndex } from "./index-digest.js";

// source-controller's fetchEtagIndex: the bucket's keys under `prefix` with their ETags, without
// folder markers, the root `.sourceignore` and what its rules and `spec.ignore` exclude. A bucket is
// hostile input: its keys become paths, so each is checked here, before anything is downloaded.

/** The file whose rules (.gitignore syntax) exclude keys, read at the bucket's root as Flux reads it. */
export const IGNORE_FILE = ".sourceignore";

/** How much of a bucket Sluice takes; a bucket past one is refused, not truncated. */
export interface BucketLimits {
  /** Keys the listing may return (ignored ones included): a listing is 1,000 keys a request. */
  maxListed: number;
  /** Objects in the artifact. */
  maxObjects: number;
  /** Bytes of all objects together (listed sizes first, then the bytes actually received). */
  maxBytes: number;
}

/** A `.sourceignore` is a list of patterns; more than this is not one. */
const MAX_IGNORE_FILE_BYTES = 1 << 20;

export const BUCKET_LIMITS: BucketLimits = { maxListed: 100_000, maxObjects: 10_000, maxBytes: 256 << 20 };

/** A listing or download failure; the message is source-controller's. */
export class BucketOperationError extends Error {
  override name = "BucketOperationError";
}

export interface Listing {
  index: EtagIndex;
  /** Listed sizes of the indexed objects. */
  sizes: Map<string, number>;
  /** The root `.sourceignore` (written into the artifact, as Flux's download puts it there). */
  ignoreFile?: Buffer;
}

export interface ListOptions {
  bucketName: string;
  prefix?: string;
  /** `spec.ignore`, after the `.sourceignore` rules. */
  ignore?: string;
  signal: AbortSignal;
  limits: BucketLimits;
  /** Where the root `.sourceignore` is remembered by ETag between reconciles (per endpoint and bucket). */
  ignoreCache: IgnoreFileCache;
}

/** The root `.sourceignore` last read from a bucket, by `<endpoint>/<bucket>`. */
export type IgnoreFileCache = Map<string, { etag: string; body: Buffer | undefined }>;

/** The index of a bucket: one listing request per 1,000 keys, plus the `.sourceignore` when it changed. */
export async function listBucket(client: S3Client, cacheKey: string, options: ListOptions): Promise<Listing> {
  const { bucketName, limits } = options;
  const listed = await listKeys(client, options);
  const ignoreFile = await readIgnoreFile(client, cacheKey, listed, options);
  const rules = ignore().add(ignoreFile?.toString("utf8") ?? "");
  if (options.ignore !== undefined) rules.add(options.ignore);
  const index: EtagIndex = new Map();
  const sizes = new Map<string, number>();
  const files = new Set<string>();
  const folders = new Set<string>();
  let bytes = 0;
  for (const { key, etag, size } of listed) {
    if (key.endsWith("/") || key === IGNORE_FILE) continue;
    const refusal = keyRefusal(key);
    if (refusal)
      throw new BucketOperationError(`refusing key '${printable(key)}' of '${bucketName}' bucket: ${refusal}`);
    if (rules.ignores(key)) continue;
    claimPath(key, files, folders, bucketName);
    index.set(key, etag);
    sizes.set(key, size);
    bytes += size;
    if (index.size > limits.maxObjects)
      throw new BucketOperationError(`bucket '${bucketName}' holds more than ${limits.maxObjects} objects to fetch`);
    if (bytes > limits.maxBytes)
      throw new BucketOperationError(`objects of '${bucketName}' bucket exceed ${limits.maxBytes} bytes`);
  }
  return { index, sizes, ...(ignoreFile && { ignoreFile }) };
}

interface Listed {
  key: string;
  etag: string;
  size: number;
}

async function listKeys(client: S3Client, options: ListOptions): Promise<Listed[]> {
  const { bucketName, limits, signal } = options;
  const listed: Listed[] = [];
  let token: string | undefined;
  do {
    let page;
    try {
      page = await client.send(
        new ListObjectsV2Command({
          Bucket: bucketName,
          Prefix: options.prefix || undefined,
          ContinuationToken: token,
          EncodingType: "url",
        }),
        { abortSignal: signal },
      );
    } catch (error) {
      if (errorName(error) === "NoSuchBucket") throw new BucketOperationError(`bucket '${bucketName}' not found`);
      const what = token
        ? `indexation of objects from bucket '${bucketName}' failed: listing objects from bucket '${bucketName}' failed`
        : `failed to confirm existence of '${bucketName}' bucket`;
      throw new BucketOperationError(`${what}: ${describeError(error)}`);
    }
    const encoded = page.EncodingType === "url";
    for (const object of page.Contents ?? [])
      listed.push({
        key: encoded ? decodeKey(object.Key ?? "") : (object.Key ?? ""),
        etag: bareEtag(object.ETag),
        size: object.Size ?? 0,
      });
    if (listed.length > limits.maxListed)
      throw new BucketOperationError(`listing of '${bucketName}' bucket exceeds ${limits.maxListed} keys`);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return listed;
}

/**
 * The root `.sourceignore`, read again only when its ETag changed. Without a prefix the listing
 * gives its ETag; with one, a conditional GET asks (304 when unchanged).
 */
async function readIgnoreFile(
  client: S3Client,
  cacheKey: string,
  listed: Listed[],
  options: ListOptions,
): Promise<Buffer | undefined> {
  const cached = options.ignoreCache.get(cacheKey);
  if (!options.prefix) {
    const entry = listed.find((l) => l.key === IGNORE_FILE);
    if (!entry) return undefined;
    if (cached?.etag === entry.etag) return cached.body;
  }
  try {
    const answer = await client.send(
      new GetObjectCommand({ Bucket: options.bucketName, Key: IGNORE_FILE, IfNoneMatch: cached && `"${cached.etag}"` }),
      { abortSignal: options.signal },
    );
    const budget = { total: MAX_IGNORE_FILE_BYTES, left: MAX_IGNORE_FILE_BYTES };
    const body = await readBody(answer.Body, budget, IGNORE_FILE);
    options.ignoreCache.set(cacheKey, { etag: bareEtag(answer.ETag), body });
    return body;
  } catch (error) {
    if (statusOf(error) === 304 && cached) return cached.body;
    if (errorName(error) === "NoSuchKey") {
      options.ignoreCache.delete(cacheKey);
      return undefined;
    }
    if (error instanceof BucketOperationError) throw error;
    throw new BucketOperationError(`failed to get Etag for '${IGNORE_FILE}' object: ${describeError(error)}`);
  }
}

/** Why a key cannot be a path in the artifact, or undefined when it can. */
export function keyRefusal(key: string): string | undefined {
  if (Buffer.byteLength(key, "utf8") > 1024) return "longer than 1024 bytes";
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(key)) return "a control character";
  if (key.includes("\\")) return "a backslash";
  if (key.startsWith("/")) return "an absolute path";
  const segments = key.split("/");
  if (segments.includes("..")) return "a '..' segment";
  if (segments.includes(".")) return "a '.' segment";
  if (segments.includes("")) return "an empty segment ('//')";
  return undefined;
}

/** Records a file's path, refusing a key that is both a file and a folder of another key (`a` and `a/b`). */
function claimPath(key: string, files: Set<string>, folders: Set<string>, bucketName: string): void {
  const collide = (other: string) =>
    new BucketOperationError(`keys '${printable(key)}' and '${printable(other)}' of '${bucketName}' bucket collide`);
  if (folders.has(key)) throw collide(`${key}/…`);
  const segments = key.split("/");
  for (let i = 1; i < segments.length; i++) {
    const folder = segments.slice(0, i).join("/");
    if (files.has(folder)) throw collide(folder);
    folders.add(folder);
  }
  files.add(key);
}

/** Bytes still allowed, shared by every body read against it (parallel downloads draw on one budget). */
export interface ByteBudget {
  total: number;
  left: number;
}

/** A body read whole, drawing on `budget` as it arrives: refused past it (a server may send more than it listed). */
export async function readBody(body: unknown, budget: ByteBudget, key: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of (body ?? []) as AsyncIterable<Uint8Array>) {
    budget.left -= chunk.byteLength;
    if (budget.left < 0) {
      (body as { destroy?: () => void }).destroy?.();
      throw new BucketOperationError(`reading '${printable(key)}' went past ${budget.total} bytes`);
    }
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}

/** S3's `encoding-type=url` keys, decoded as minio-go decodes them (`+` is a space). */
function decodeKey(key: string): string {
  try {
    return decodeURIComponent(key.replace(/\+/g, " "));
  } catch {
    throw new BucketOperationError(`listing holds a key that is not valid URL encoding: '${printable(key)}'`);
  }
}

/** A key as a message may quote it: control characters escaped, at most 200 characters. */
export function printable(key: string): string {
  // eslint-disable-next-line no-control-regex
  const escaped = key.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
  return escaped.length > 200 ? `${escaped.slice(0, 200)}…` : escaped;
}

export function errorName(error: unknown): string | undefined {
  return (error as { name?: string } | undefined)?.name;
}

export function statusOf(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
}

/** An SDK or network error as a message: S3's own message, or the connection's. */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) throw error;
  const status = statusOf(error);
  const message = error.message && error.message !== "UnknownError" ? error.message : (error.name ?? "error");
  return status ? `${message} (HTTP ${status})` : message;
}
