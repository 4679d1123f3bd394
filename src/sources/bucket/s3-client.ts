import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import { isIP } from "node:net";
import { rootCertificates } from "node:tls";
import { S3Client, type ServiceInputTypes, type ServiceOutputTypes } from "@aws-sdk/client-s3";
import type { FinalizeHandler, FinalizeHandlerArguments } from "@smithy/types";
import { assertLiteralAllowed, guardedLookup, type NetworkPolicy } from "../network-guard.js";

// An S3 client for a Bucket's endpoint, as source-controller's minio client reaches it: `endpoint`
// is `host[:port]`, https unless `insecure`, path-style addressing except on AWS's own hosts, and
// every connection made through the network guard (each DNS answer, the endpoint if an IP literal).

/** Static S3 credentials: a Secret's accesskey/secretkey, or the runtime's AWS identity. */
export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface BucketEndpoint {
  /** `spec.endpoint`: `host[:port]`, without scheme or path. */
  endpoint: string;
  insecure: boolean;
  /** `spec.region`; the SDK needs one to sign, and S3 names the right one on a mismatch (followed once). */
  region?: string;
  /** Undefined: anonymous requests, as minio-go makes them without credentials. */
  credentials?: S3Credentials;
  /** PEM from `certSecretRef`: a CA trusted besides the system roots, and a client certificate. */
  caPem?: string;
  clientCert?: { certPem: string; keyPem: string };
  network: NetworkPolicy;
}

/** An endpoint that cannot be used as written (a scheme, a path, no host). */
export class BucketEndpointError extends Error {
  override name = "BucketEndpointError";
}

/** minio-go's default when no region is given; S3 answers with the bucket's region if it is another. */
const DEFAULT_REGION = "us-east-1";
/** Placeholder credentials for anonymous requests: the signature they make is removed before sending. */
const ANONYMOUS = { accessKeyId: "anonymous", secretAccessKey: "anonymous" };

/** The client for a Bucket; `destroy()` it when done (it holds a connection pool). */
export function bucketS3Client(target: BucketEndpoint): S3Client {
  const host = endpointHost(target.endpoint);
  assertLiteralAllowed(host, target.network);
  const lookup = guardedLookup(target.network);
  const ca = target.caPem ? [...rootCertificates, target.caPem] : undefined;
  const client = new S3Client({
    endpoint: `${target.insecure ? "http" : "https"}://${target.endpoint}`,
    region: target.region || DEFAULT_REGION,
    // minio-go's BucketLookupAuto: virtual-hosted style on AWS's hosts, path style on every other endpoint.
    forcePathStyle: !/(^|\.)amazonaws\.com(\.cn)?$/.test(host),
    followRegionRedirects: true,
    credentials: target.credentials ?? ANONYMOUS,
    requestHandler: {
      httpAgent: new HttpAgent({ keepAlive: true, lookup }),
      httpsAgent: new HttpsAgent({
        keepAlive: true,
        lookup,
        ca,
        cert: target.clientCert?.certPem,
        key: target.clientCert?.keyPem,
      }),
      connectionTimeout: 5_000,
      requestTimeout: 30_000,
    },
    maxAttempts: 3,
    retryMode: "standard",
  });
  if (!target.credentials)
    client.middlewareStack.addRelativeTo(
      (next: FinalizeHandler<ServiceInputTypes, ServiceOutputTypes>) =>
        async (args: FinalizeHandlerArguments<ServiceInputTypes>) => {
          const headers = (args.request as { headers?: Record<string, string> }).headers ?? {};
          for (const name of ["authorization", "x-amz-security-token", "x-amz-date", "x-amz-content-sha256"])
            for (const key of Object.keys(headers)) if (key.toLowerCase() === name) delete headers[key];
          return next(args);
        },
      { relation: "after", toMiddleware: "httpSigningMiddleware", name: "sluiceAnonymousRequests" },
    );
  return client;
}

/** The host of `host[:port]` (brackets kept off an IPv6 literal); throws BucketEndpointError for anything else. */
export function endpointHost(endpoint: string): string {
  const problem = (why: string) => new BucketEndpointError(`endpoint '${endpoint}' ${why}`);
  if (endpoint.includes("://")) throw problem("must be host[:port], without a scheme (set insecure for http)");
  let url: URL;
  try {
    url = new URL(`http://${endpoint}`);
  } catch {
    throw problem("is not a valid host[:port]");
  }
  if (/[/?#@\\]/.test(endpoint) || !url.hostname) throw problem("must be host[:port], without a path, query or user");
  const host = url.hostname.replace(/^\[|\]$/g, "");
  if (isIP(host) === 0 && !/^[a-z0-9.-]+$/.test(host)) throw problem("has an invalid host name");
  return host;
}
