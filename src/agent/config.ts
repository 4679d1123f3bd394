import { readFile } from "node:fs/promises";
import { GetSecretValueCommand, type SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { parseDuration } from "../api/duration.js";
import type { ClusterTarget } from "../cluster/connect.js";
import { hmacSigner, keyIdFor, parseBundleKey, publicKeyVerifier, type BundleVerifier } from "../bundle/bundle.js";

/** The agent's settings, from the environment its Deployment sets (see `sluice agent install`). */
export interface AgentConfig {
  cluster: string;
  bucket: string;
  region: string;
  /**
   * `kms:<key id>` (verified with the public key in SLUICE_BUNDLE_PUBLIC_KEY), or
   * `hmac:<Secrets Manager secret id with {cluster}>`, of which the agent reads its own cluster's key only.
   */
  bundleKey: string;
  /** Base64 DER (SPKI) public key of the KMS signing key. */
  publicKey?: string;
  pollMs: number;
  /** Port of the liveness endpoint (`GET /healthz`) and of Prometheus metrics (`GET /metrics`). @default 8080 */
  healthPort: number;
  /** Kustomizations applied at once. @default 4 */
  concurrency: number;
  /** For tests against an emulator: one endpoint for every AWS service. */
  endpoint?: string;
}

export function agentConfigFromEnv(env: NodeJS.ProcessEnv): AgentConfig {
  const need = (name: string) =>
    env[name] ||
    (() => {
      throw new Error(`environment variable ${name} is not set`);
    })();
  const bundleKey = need("SLUICE_BUNDLE_KEY");
  parseBundleKey(bundleKey, "SLUICE_BUNDLE_KEY");
  return {
    cluster: need("SLUICE_CLUSTER_NAME"),
    bucket: need("SLUICE_BUCKET"),
    region: need("AWS_REGION"),
    bundleKey,
    publicKey: env.SLUICE_BUNDLE_PUBLIC_KEY,
    pollMs: env.SLUICE_POLL_INTERVAL ? parseDuration(env.SLUICE_POLL_INTERVAL) : 10_000,
    healthPort: whole(env, "SLUICE_HEALTH_PORT", 8080, 0),
    concurrency: whole(env, "SLUICE_CONCURRENCY", 4, 1),
    endpoint: env.SLUICE_AWS_ENDPOINT,
  };
}

function whole(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number): number {
  const value = Number(env[name] ?? fallback);
  if (!Number.isInteger(value) || value < min)
    throw new Error(`${name} '${env[name]}': expected a whole number >= ${min}`);
  return value;
}

/**
 * How the agent checks bundles: locally with the KMS key's public half, or with its own cluster's HMAC
 * key from Secrets Manager (a bundle signed with any other key id does not verify).
 */
export async function agentVerifier(
  config: AgentConfig,
  secretsManager: SecretsManagerClient,
): Promise<BundleVerifier> {
  const key = parseBundleKey(config.bundleKey, "SLUICE_BUNDLE_KEY");
  const id = keyIdFor(key, config.cluster);
  if (key.kind === "kms") {
    if (!config.publicKey)
      throw new Error(
        "SLUICE_BUNDLE_PUBLIC_KEY is not set: the agent verifies KMS signatures with the key's public half (sluice agent install puts it there)",
      );
    return publicKeyVerifier(id, Buffer.from(config.publicKey, "base64"));
  }
  return hmacSigner(id, await hmacKey(secretsManager, id));
}

/** The HMAC key in Secrets Manager: a binary secret, or a string holding base64. */
export async function hmacKey(secretsManager: SecretsManagerClient, secretId: string): Promise<Buffer> {
  const answer = await secretsManager.send(new GetSecretValueCommand({ SecretId: secretId }));
  const key = answer.SecretBinary ? Buffer.from(answer.SecretBinary) : Buffer.from(answer.SecretString ?? "", "base64");
  if (key.length < 32) throw new Error(`bundle HMAC key ${secretId}: expected at least 32 bytes, got ${key.length}`);
  return key;
}

const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

/** The cluster the agent runs in: its service account, or KUBECONFIG when run outside (tests, debugging). */
export async function inClusterTarget(env: NodeJS.ProcessEnv): Promise<ClusterTarget> {
  if (env.KUBECONFIG) return { kubeconfig: await readFile(env.KUBECONFIG, "utf8") };
  const host = env.KUBERNETES_SERVICE_HOST;
  if (!host) throw new Error("not running in a cluster (KUBERNETES_SERVICE_HOST unset) and KUBECONFIG is not set");
  // The token file is re-read as the kubelet rotates it; the CA is fixed for the Pod's life.
  return {
    server: `https://${host.includes(":") ? `[${host}]` : host}:${env.KUBERNETES_SERVICE_PORT ?? "443"}`,
    caPem: await readFile(`${SERVICE_ACCOUNT_DIR}/ca.crt`, "utf8"),
    tokenFile: `${SERVICE_ACCOUNT_DIR}/token`,
  };
}
