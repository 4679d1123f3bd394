import { OciClient } from "../../sources/oci/client.js";
import { credentialsFromSecret, OciCredentialsError, type OciCredentials } from "../../sources/oci/credentials.js";
import { parseOciUrl, type OciRepositoryRef } from "../../sources/oci/reference.js";
import type { ReconcilerPorts } from "../reconciler-ports.js";

/** The fields of an OCIRepository or an OCI HelmRepository that say how to reach the registry. */
export interface OciConnectionSpec {
  url: string;
  insecure?: boolean;
  provider?: string;
  secretRef?: { name: string };
  certSecretRef?: { name: string };
}

/** The runtime's cloud identity gave no credentials; the message says which provider and why. */
export class ProviderLoginError extends OciCredentialsError {
  override name = "ProviderLoginError";
}

/**
 * Credentials from the runtime's cloud identity for `spec.provider` (aws), asked only when no
 * secretRef gives credentials, as source-controller does; undefined for `generic`.
 */
async function providerLogin(
  ports: ReconcilerPorts,
  spec: OciConnectionSpec,
  registry: string,
): Promise<OciCredentials | undefined> {
  if (!spec.provider || spec.provider === "generic" || spec.secretRef) return undefined;
  try {
    if (!ports.registryLogin) throw new Error("this runtime has no cloud identity to log in with");
    return await ports.registryLogin.login(spec.provider, registry);
  } catch (error) {
    throw new ProviderLoginError(`failed to get credential from ${spec.provider}: ${(error as Error).message}`);
  }
}

/**
 * A registry client for `spec`, with credentials from `secretRef` (a dockerconfigjson Secret; for a
 * HelmRepository also `username`/`password`, `allowBasicKeys`), else from the runtime's identity for `provider`, and TLS from `certSecretRef` (`ca.crt`,
 * `tls.crt` + `tls.key`). A URL that names no repository throws OciUrlError; a Secret that is
 * missing or unreadable throws OciCredentialsError naming it (never its values).
 */
export async function ociClientFor(
  ports: ReconcilerPorts,
  namespace: string,
  spec: OciConnectionSpec,
  options: { allowBasicKeys: boolean; signal: AbortSignal; ref?: OciRepositoryRef },
): Promise<OciClient> {
  const ref = options.ref ?? parseOciUrl(spec.url, spec.insecure);
  const read = async (name: string) => {
    const data = await ports.secrets.secret({ namespace, name });
    if (!data) throw new OciCredentialsError(`failed to get secret '${namespace}/${name}': secret not found`);
    return data;
  };
  const secretName = spec.secretRef && `${namespace}/${spec.secretRef.name}`;
  const credentials = spec.secretRef
    ? credentialsFromSecret(await read(spec.secretRef.name), ref, secretName!, options.allowBasicKeys)
    : await providerLogin(ports, spec, ref.registry);
  const tls = spec.certSecretRef ? await read(spec.certSecretRef.name) : {};
  const [certPem, keyPem] = [tls["tls.crt"], tls["tls.key"]];
  if ((certPem === undefined) !== (keyPem === undefined))
    throw new OciCredentialsError(
      `invalid '${namespace}/${spec.certSecretRef?.name}' secret data: both 'tls.crt' and 'tls.key' are required`,
    );
  return new OciClient({
    ref,
    credentials,
    network: { allowPrivateNetworks: ports.settings.allowPrivateNetworks },
    caPem: tls["ca.crt"],
    clientCert: certPem !== undefined && keyPem !== undefined ? { certPem, keyPem } : undefined,
    signal: options.signal,
  });
}
