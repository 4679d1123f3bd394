import {
  GetSecretValueCommand,
  ResourceNotFoundException,
  type SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import type { SecretRef, Secrets } from "../secrets/secrets.js";

/**
 * `secretRef`s resolved from AWS Secrets Manager: the Secret `<namespace>/<name>` is the secret
 * named `<prefix><namespace>/<name>` (default prefix `sluice/`), whose SecretString is a JSON
 * object of the keys a Kubernetes Secret would hold, e.g. `{"username":"…","password":"…"}`.
 * Anything not found there is looked up in `fallback` (the target cluster's own Secrets, for
 * clusters Sluice reaches directly). ConfigMaps always come from the fallback.
 */
export class SecretsManagerSecrets implements Secrets {
  constructor(
    private readonly client: SecretsManagerClient,
    private readonly fallback?: Secrets,
    private readonly prefix = "sluice/",
  ) {}

  async secret(ref: SecretRef): Promise<Record<string, string> | undefined> {
    try {
      const answer = await this.client.send(
        new GetSecretValueCommand({ SecretId: `${this.prefix}${ref.namespace}/${ref.name}` }),
      );
      const parsed = JSON.parse(answer.SecretString ?? "{}") as unknown;
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
        throw new Error(
          `secret ${this.prefix}${ref.namespace}/${ref.name}: SecretString must be a JSON object of string values`,
        );
      return Object.fromEntries(Object.entries(parsed).map(([k, v]) => [k, String(v)]));
    } catch (error) {
      if (error instanceof ResourceNotFoundException) return this.fallback?.secret(ref);
      if (error instanceof SyntaxError)
        throw new Error(`secret ${this.prefix}${ref.namespace}/${ref.name}: SecretString is not JSON`, {
          cause: error,
        });
      throw error;
    }
  }

  async configMap(ref: SecretRef): Promise<Record<string, string> | undefined> {
    return this.fallback?.configMap(ref);
  }
}
