import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { ConnectionSettings, KubeClient } from "../cluster/kube-client.js";

const CONTEXT = "sluice";

/**
 * A kubeconfig (JSON, which kubeconfig loaders read as YAML) that connects as `settings` do: the same server, CA,
 * TLS server name, client certificate, bearer token and impersonated user and groups, in namespace `namespace`.
 * It holds credentials: write it only where `writeKubeconfig` does.
 */
export function kubeconfigFor(settings: ConnectionSettings, namespace?: string): string {
  const base64 = (pem: string) => Buffer.from(pem).toString("base64");
  const cluster = {
    server: settings.server,
    ...(settings.caPem && { "certificate-authority-data": base64(settings.caPem) }),
    ...(settings.skipTLSVerify && { "insecure-skip-tls-verify": true }),
    ...(settings.tlsServerName && { "tls-server-name": settings.tlsServerName }),
  };
  const user = {
    ...(settings.clientCertPem && { "client-certificate-data": base64(settings.clientCertPem) }),
    ...(settings.clientKeyPem && { "client-key-data": base64(settings.clientKeyPem) }),
    ...(settings.bearerToken && { token: settings.bearerToken }),
    ...(settings.impersonate && { as: settings.impersonate.user }),
    ...(settings.impersonate?.groups?.length && { "as-groups": settings.impersonate.groups }),
  };
  return JSON.stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: CONTEXT, cluster }],
    users: [{ name: CONTEXT, user }],
    contexts: [{ name: CONTEXT, context: { cluster: CONTEXT, user: CONTEXT, ...(namespace && { namespace }) } }],
    "current-context": CONTEXT,
  });
}

/**
 * Writes the kubeconfig of `client` (its token asked or read now) as `kubeconfig` in `privateDir`, a folder only
 * this process's user may enter (see withPrivateDir), readable by that user only; returns its path.
 */
export async function writeKubeconfig(client: KubeClient, privateDir: string, namespace?: string): Promise<string> {
  const path = join(privateDir, "kubeconfig");
  await writeFile(path, kubeconfigFor(await client.connectionSettings(), namespace), { mode: 0o600, flag: "wx" });
  return path;
}
