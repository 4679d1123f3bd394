import { Sha256 } from "@aws-crypto/sha256-js";
import { DescribeClusterCommand, type EKSClient } from "@aws-sdk/client-eks";
import { AssumeRoleCommand, type STSClient } from "@aws-sdk/client-sts";
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from "@smithy/types";
import { SignatureV4 } from "@smithy/signature-v4";
import type { Clock } from "../ports/clock.js";

/** A token lives 15 minutes; refresh well before. */
const TOKEN_REUSE_MS = 10 * 60_000;

/**
 * The bearer token EKS accepts for an IAM identity (what `aws eks get-token` prints):
 * `k8s-aws-v1.` + base64url of a presigned STS GetCallerIdentity URL that signs the header
 * `x-k8s-aws-id: <cluster name>`, valid 60 s for the handshake.
 */
export async function eksToken(
  clusterName: string,
  region: string,
  credentials: AwsCredentialIdentityProvider,
  now: Date,
  stsEndpoint = `https://sts.${region}.amazonaws.com`,
): Promise<string> {
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

export interface EksAccessOptions {
  /** The control plane's region: clusters registered without one are there, and roles are assumed there. */
  region: string;
  /** The worker's own identity. */
  credentials: AwsCredentialIdentityProvider;
  /** STS, for AssumeRole (the worker's own credentials). */
  sts: STSClient;
  /** An EKS client for a region, acting as an identity (emulator endpoints go here). */
  eksClient(region: string, credentials: AwsCredentialIdentityProvider): EKSClient;
  clock: Clock;
  /**
   * The STS endpoint tokens are presigned for (EKS calls it to authenticate). @default
   * https://sts.<region>.amazonaws.com
   */
  stsEndpoint?: (region: string) => string;
}

/** An EKS target: its name, its region when not the control plane's, and a role to assume when not the worker's own. */
export interface EksTarget {
  name: string;
  region?: string;
  roleArn?: string;
}

/**
 * An assumed role's credentials are renewed when they would expire within a token's life (15 min): a token must
 * outlive its reuse.
 */
const ROLE_RENEW_MS = 15 * 60_000;

/**
 * An EKS cluster's endpoint, CA and a token, cached per cluster below the token's life. A target with
 * a `roleArn` (another account, say) is described and signed for as that role: STS AssumeRole with
 * the worker's credentials, the role's credentials cached until near their expiry.
 */
export class EksAccess {
  private readonly targets = new Map<string, { server: string; caPem: string; token: string; at: number }>();
  private readonly roles = new Map<string, { credentials: Promise<AwsCredentialIdentity>; renewAt: number }>();
  private readonly clients = new Map<string, { client: EKSClient; accessKeyId: string }>();
  constructor(private readonly options: EksAccessOptions) {}

  async target(cluster: EksTarget): Promise<{ server: string; caPem: string; token: string }> {
    const { clock } = this.options;
    const region = cluster.region ?? this.options.region;
    const key = `${cluster.roleArn ?? ""}|${region}|${cluster.name}`;
    const cached = this.targets.get(key);
    if (cached && clock.now() - cached.at < TOKEN_REUSE_MS) return cached;
    const credentials = cluster.roleArn ? await this.assumed(cluster.roleArn) : await this.options.credentials();
    const client = this.clientFor(cluster.roleArn ?? "worker", region, credentials);
    const subject = `EKS cluster ${cluster.name} (${region}${cluster.roleArn ? `, as ${cluster.roleArn}` : ""})`;
    const described = await client.send(new DescribeClusterCommand({ name: cluster.name })).catch((error: unknown) => {
      throw new Error(`${subject}: DescribeCluster failed: ${(error as Error).message}`);
    });
    const { endpoint, certificateAuthority, status } = described.cluster ?? {};
    if (!endpoint || !certificateAuthority?.data)
      throw new Error(`${subject} has no endpoint or CA yet (status ${status ?? "unknown"})`);
    const stsEndpoint = this.options.stsEndpoint?.(region);
    const entry = {
      server: endpoint,
      caPem: Buffer.from(certificateAuthority.data, "base64").toString("utf8"),
      token: await eksToken(cluster.name, region, async () => credentials, new Date(clock.now()), stsEndpoint),
      at: clock.now(),
    };
    this.targets.set(key, entry);
    return entry;
  }

  /** The role's credentials: assumed once, shared by concurrent callers, renewed before they expire. */
  private assumed(roleArn: string): Promise<AwsCredentialIdentity> {
    const cached = this.roles.get(roleArn);
    if (cached && this.options.clock.now() < cached.renewAt) return cached.credentials;
    const entry = { credentials: this.assumeRole(roleArn), renewAt: Number.POSITIVE_INFINITY };
    this.roles.set(roleArn, entry);
    entry.credentials.then(
      (c) => (entry.renewAt = (c.expiration?.getTime() ?? Number.POSITIVE_INFINITY) - ROLE_RENEW_MS),
      () => this.roles.get(roleArn) === entry && this.roles.delete(roleArn),
    );
    return entry.credentials;
  }

  private async assumeRole(roleArn: string): Promise<AwsCredentialIdentity> {
    // Session names show in the cluster account's CloudTrail: say who assumed the role.
    const command = new AssumeRoleCommand({
      RoleArn: roleArn,
      RoleSessionName: "sluice-worker",
      DurationSeconds: 3600,
    });
    const { Credentials: c } = await this.options.sts.send(command).catch((error: unknown) => {
      throw new Error(`AssumeRole ${roleArn} failed: ${(error as Error).message}`);
    });
    if (!c?.AccessKeyId || !c.SecretAccessKey) throw new Error(`AssumeRole ${roleArn} returned no credentials`);
    return {
      accessKeyId: c.AccessKeyId,
      secretAccessKey: c.SecretAccessKey,
      sessionToken: c.SessionToken,
      expiration: c.Expiration,
    };
  }

  /** One EKS client per identity and region; a renewed role gets a new one and the old one is closed. */
  private clientFor(identity: string, region: string, credentials: AwsCredentialIdentity): EKSClient {
    const key = `${identity}|${region}`;
    const cached = this.clients.get(key);
    if (cached?.accessKeyId === credentials.accessKeyId) return cached.client;
    cached?.client.destroy();
    const client = this.options.eksClient(region, async () => credentials);
    this.clients.set(key, { client, accessKeyId: credentials.accessKeyId });
    return client;
  }
}
