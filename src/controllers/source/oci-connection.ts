import { OciClient } from "../../sources/oci/client.js";
import { credentialsFromSecret, OciCredentialsError, type OciCredentials } from "../../sources/oci/credentials.js";
import { parseOciUrl, type OciRepositoryRef } from "../../sources/oci/reference.js";
import type { ReconcilerPorts } from "../reconciler-ports.js";

/** The fields of an OCIRepository or an OCI HelmRepository that say how to reach the registry. */
export interface OciConnectionSpec {
  url: string;
  insecure?: boolean;
  secretRef?: { name: string };
  certSecretRef?: { name: string };
}

/**
 * A registry client for `spec`, with credentials from `secretRef` (a dockerconfigjson Secret; for a
 * HelmRepository also `username`/`password`, `allowBasicKeys`), else `login` (a cloud provider's), and TLS from `certSecretRef` (`ca.crt`,
 * `tls.crt` + `tls.key`). A URL that names no repository throws OciUrlError; a Secret that is
 * missing or unreadable throws OciCredentialsError naming it (never its values).
 */
export async function ociClientFor(
  ports: ReconcilerPorts,
  namespace: string,
  spec: OciConnectionSpec,
  options: { allowBasicKeys: boolean; signal: AbortSignal; ref?: OciRepositoryRef; login?: OciCredentials },
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
    : options.login;
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
