/** A Provider that cannot be sent to as it stands; the message names the field or secret, never a secret value. */
export class ProviderConfigError extends Error {
  override name = "ProviderConfigError";
}
