import { Sha256 } from "@aws-crypto/sha256-js";
import { DescribeClusterCommand, type EKSClient } from "@aws-sdk/client-eks";
import type { AwsCredentialIdentityProvider } from "@smithy/types";
import { SignatureV4 } from "@smithy/signature-v4";
import type { Clock } from "../runtime/clock.js";

/** A token lives 15 minutes; refresh well before. */
const TOKEN_REUSE_MS = 10 * 60_000;

/**
 * The bearer token EKS accepts for an IAM identity (what `aws eks get-token` prints):
 * `k8s-aws-v1.` + base64url of a presigned STS GetCallerIdentity URL that signs the header
 * `x-k8s-aws-id: <cluster name>`, valid 60 s for the handshake.
 */
export async function eksToken(clusterName: string, region: string, credentials: AwsCredentialIdentityProvider, now: Date, stsEndpoint = `https://sts.${region}.amazonaws.com`): Promise<string> {
  const signer = new SignatureV4({ service: "sts", region, credentials, sha256: Sha256 });
  const url = new URL(stsEndpoint);
  const presigned = await signer.presign(
    {
      method: "GET",
      protocol: url.protocol,
      hostname: url.hostname,
      port: url.port ? Number(url.port) : undefined,
      path: "/",
      query: { Action: "GetCallerIdentity", Version: "2011-06-15" },
      headers: { host: url.host, "x-k8s-aws-id": clusterName },
    },
    { expiresIn: 60, signingDate: now },
  );
  const query = Object.entries(presigned.query ?? {})
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
    .join("&");
  const signedUrl = `${url.protocol}//${url.host}/?${query}`;
  return `k8s-aws-v1.${Buffer.from(signedUrl).toString("base64url")}`;
}

/** An EKS cluster's endpoint, CA and a token, cached per cluster below the token's life. */
export class EksAccess {
  private readonly cache = new Map<string, { server: string; caPem: string; token: string; at: number }>();
  constructor(
    private readonly eks: EKSClient,
    private readonly region: string,
    private readonly credentials: AwsCredentialIdentityProvider,
    private readonly clock: Clock,
  ) {}

  async target(clusterName: string): Promise<{ server: string; caPem: string; token: string }> {
    const cached = this.cache.get(clusterName);
    if (cached && this.clock.now() - cached.at < TOKEN_REUSE_MS) return cached;
    const { cluster } = await this.eks.send(new DescribeClusterCommand({ name: clusterName }));
    if (!cluster?.endpoint || !cluster.certificateAuthority?.data) throw new Error(`EKS cluster ${clusterName} has no endpoint or CA yet (status ${cluster?.status ?? "unknown"})`);
    const entry = {
      server: cluster.endpoint,
      caPem: Buffer.from(cluster.certificateAuthority.data, "base64").toString("utf8"),
      token: await eksToken(clusterName, this.region, this.credentials, new Date(this.clock.now())),
      at: this.clock.now(),
    };
    this.cache.set(clusterName, entry);
    return entry;
  }
}
