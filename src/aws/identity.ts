import { S3Client } from "@aws-sdk/client-s3";
import type { AwsIdentity } from "../ports/aws-identity.js";
import { awsClientOptions, type AwsClientConfig } from "./clients.js";

/**
 * The runtime's AWS identity as the SDK finds it (the config's credentials, else its default chain: environment,
 * profile, the Lambda role, container and instance metadata), resolved on first use and refreshed by the SDK
 * before it expires.
 */
export function runtimeAwsIdentity(config: AwsClientConfig): AwsIdentity {
  let client: S3Client | undefined;
  return {
    async credentials() {
      client ??= new S3Client(awsClientOptions(config));
      const { accessKeyId, secretAccessKey, sessionToken } = await client.config.credentials();
      return { accessKeyId, secretAccessKey, ...(sessionToken && { sessionToken }) };
    },
  };
}
