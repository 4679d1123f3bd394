import type { ECRClient } from "@aws-sdk/client-ecr";
import type { Clock } from "../ports/clock.js";
import type { RegistryLogin } from "../ports/registry-login.js";
import { awsClientOptions, type AwsClientConfig } from "./clients.js";

/** A private ECR registry's host, as fluxcd/pkg's AWS provider recognises it: account, region, partition. */
const ECR_HOST =
  /^(\d{12})\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.(?:amazonaws\.com(?:\.cn)?|sc2s\.sgov\.gov|c2s\.ic\.gov)$/;
/** A token is asked for again this long before it expires (ECR's last 12 hours). */
const REFRESH_MS = 5 * 60_000;

interface Cached {
  credentials: { username: string; password: string };
  expiresAt: number;
}

/**
 * `provider: aws`: an ECR authorization token of the runtime's IAM identity for the registry's
 * region (GetAuthorizationToken), cached per account and region until shortly before it expires.
 * The ECR client is loaded and made on first use, so a runtime that never pulls from ECR never loads it.
 */
export function ecrLogin(
  config: AwsClientConfig,
  clock: Clock,
  clientFor: (region: string) => Promise<ECRClient> = async (region) => {
    const { ECRClient } = await import("@aws-sdk/client-ecr");
    return new ECRClient(awsClientOptions({ ...config, region }));
  },
): RegistryLogin {
  const cache = new Map<string, Cached>();
  return {
    async login(provider, registry) {
      if (provider !== "aws") throw new Error(`provider '${provider}' is not supported by Sluice yet`);
      const match = ECR_HOST.exec(registry);
      if (!match) throw new Error(`'${registry}' is not an ECR registry (<account>.dkr.ecr.<region>.amazonaws.com)`);
      const [, account, region] = match as unknown as [string, string, string];
      const key = `${account}/${region}`;
      const cached = cache.get(key);
      if (cached && cached.expiresAt - REFRESH_MS > clock.now()) return cached.credentials;
      const { GetAuthorizationTokenCommand } = await import("@aws-sdk/client-ecr");
      const answer = await (await clientFor(region)).send(new GetAuthorizationTokenCommand({}));
      const data = answer.authorizationData?.[0];
      const decoded = Buffer.from(data?.authorizationToken ?? "", "base64").toString("utf8");
      const colon = decoded.indexOf(":");
      if (colon < 0) throw new Error(`ECR answered without an authorization token for ${registry}`);
      const credentials = { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
      cache.set(key, { credentials, expiresAt: data?.expiresAt?.getTime() ?? clock.now() });
      return credentials;
    },
  };
}
