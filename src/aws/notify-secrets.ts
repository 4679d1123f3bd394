import { SecretsManagerServiceException, type SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { ProviderConfigError } from "../notify/provider-endpoint.js";
import type { Secrets } from "../secrets/secrets.js";
import { SecretsManagerSecrets } from "./secrets-manager.js";

/**
 * The tag a Secrets Manager secret must carry (value `true`) for the notify function to read it: its
 * IAM policy allows only those, so Git credentials and kubeconfigs under the same `sluice/` prefix
 * stay out of its reach.
 */
export const NOTIFY_SECRET_TAG = "sluice:notify";

/**
 * A Provider's `secretRef`s as the notify function reads them: from Secrets Manager only (it reaches no
 * cluster), a refusal for an untagged secret said as what to do about it.
 */
export function notifySecrets(client: SecretsManagerClient): Secrets {
  const secrets = new SecretsManagerSecrets(client);
  return {
    secret: async (ref) => {
      try {
        return await secrets.secret(ref);
      } catch (error) {
        if (error instanceof SecretsManagerServiceException && error.name === "AccessDeniedException")
          throw new ProviderConfigError(
            `secret 'sluice/${ref.namespace}/${ref.name}' is not readable by the notify function: tag it ${NOTIFY_SECRET_TAG}=true`,
          );
        throw error;
      }
    },
    configMap: async () => undefined,
  };
}
