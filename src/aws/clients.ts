import type { AwsCredentialIdentityProvider } from "@smithy/types";

/**
 * Where and as whom an AWS SDK client talks: unset fields fall back to the SDK's usual sources (AWS_REGION, the
 * profile).
 */
export interface AwsClientConfig {
  region?: string;
  /** One endpoint for every service: an emulator (moto) in tests, `SLUICE_AWS_ENDPOINT` for the CLI. */
  endpoint?: string;
  credentials?: AwsCredentialIdentityProvider;
}

/**
 * The options every AWS client of Sluice is built with (`new S3Client(awsClientOptions(config))`):
 * each call bounded — connecting within 5 s, no 30 s silence on a socket — so a hung connection
 * cannot stall a Lambda invocation or the agent's poll loop, and retried (standard mode, 3
 * attempts) so one dropped connection is not a failed reconcile.
 */
export function awsClientOptions(config: AwsClientConfig) {
  return {
    ...(config.region && { region: config.region }),
    ...(config.endpoint && { endpoint: config.endpoint, forcePathStyle: true }),
    ...(config.credentials && { credentials: config.credentials }),
    requestHandler: { connectionTimeout: 5_000, requestTimeout: 30_000 },
    maxAttempts: 3,
    retryMode: "standard",
  };
}
