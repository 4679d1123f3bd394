import type { S3Client } from "@aws-sdk/client-s3";
import type { AwsIdentity } from "../ports/aws-identity.js";
import { awsClientOptions, type AwsClientConfig } from "./clients.js";

/**
 * The runtime's AWS identity as the SDK finds it (the config's credentials, else its default chain: environment,
 * profile, the Lambda role, container and instance metadata), resolved on first use and refreshed by the SDK
 * before it expires. The SDK is loaded by the first use: `sluice run` otherwise loads it at start for the rare
 * Bucket or OCIRepository with provider aws (about 6 MiB of its memory).
 */
export function runtimeAwsIdentity(config: AwsClientConfig): AwsIdentity {
  let client: S3Client | undefined;
  return {
    async credentials() {
      client ??= new (await import("@aws-sdk/client-s3")).S3Client(awsClientOptions(config));
      const { accessKeyId, secretAccessKey, sessionToken } = await client.config.credentials();
      return { accessKeyId, secretAccessKey, ...(sessionToken && { sessionToken }) };
    },
  };
}
