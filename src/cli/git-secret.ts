import { readFile } from "node:fs/promises";
import { openCluster } from "../cluster/cluster.js";
import { isNotFound } from "../cluster/errors.js";
import { systemClock } from "../ports/clock.js";
import { KubeSecrets } from "../secrets/kube-secrets.js";
import { cliAws, readKubeconfig, type GlobalOptions } from "./context.js";
import { say } from "./output.js";

/**
 * Git credentials (`username`/`password`, `bearerToken`, `ca.crt`), or a Helm repository's basic auth,
 * as the Secret a GitRepository's or HelmRepository's secretRef names: in the cluster locally, where source reconciles read it; in Secrets Manager on AWS,
 * where the worker resolves secretRefs. Never in the Store.
 */
export async function writeGitSecret(
  options: GlobalOptions,
  name: string,
  data: Record<string, string>,
  what = "Git credentials",
): Promise<void> {
  if (options.awsBucket) {
    const { putSecret } = await import("./aws.js");
    const id = await putSecret(options.namespace, name, data, cliAws());
    say.success(`Secrets Manager secret ${id} with the ${what} written`);
    return;
  }
  const cluster = await openCluster(
    { kubeconfig: (await readKubeconfig(options)).content, context: options.context },
    systemClock,
  );
  const ns = options.namespace;
  await cluster.client
    .send({ method: "POST", path: "/api/v1/namespaces", body: { metadata: { name: ns } } })
    .catch((e: unknown) => {
      if ((e as { status?: number }).status !== 409) throw e;
    });
  const body = {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name, namespace: ns },
    type: "Opaque",
    stringData: data,
  };
  await cluster.client
    .send({ method: "PUT", path: `/api/v1/namespaces/${ns}/secrets/${name}`, body })
    .catch(async (e: unknown) => {
      if (!isNotFound(e)) throw e;
      await cluster.client.send({ method: "POST", path: `/api/v1/namespaces/${ns}/secrets`, body });
    });
  say.success(`Secret ${ns}/${name} with the ${what} applied`);
}

/** The data of the Secret `name` where writeGitSecret writes it; undefined when there is none. */
export async function readGitSecret(options: GlobalOptions, name: string): Promise<Record<string, string> | undefined> {
  const ref = { namespace: options.namespace, name };
  if (options.awsBucket) {
    const { secretsManagerSecrets } = await import("./aws.js");
    return secretsManagerSecrets(cliAws()).secret(ref);
  }
  const cluster = await openCluster(
    { kubeconfig: (await readKubeconfig(options)).content, context: options.context },
    systemClock,
  );
  return new KubeSecrets(cluster.client).secret(ref);
}

/** What the CLI's flags say about Git credentials (`--password` is the token with `bearerToken`). */
export interface GitCredentialFlags {
  username?: string;
  password?: string;
  bearerToken?: boolean;
  caFile?: string;
}

/** The keys of a Flux Git Secret from the flags, as flux's sourcesecret writes them; undefined when none is given. */
export async function gitSecretData(flags: GitCredentialFlags): Promise<Record<string, string> | undefined> {
  if (flags.bearerToken && !flags.password) throw new Error("--with-bearer-token: give the token as --password");
  if (!flags.bearerToken && Boolean(flags.username) !== Boolean(flags.password))
    throw new Error("--username and --password go together");
  const data: Record<string, string> = {
    ...(flags.password &&
      (flags.bearerToken ? { bearerToken: flags.password } : { username: flags.username!, password: flags.password })),
    ...(flags.caFile && { "ca.crt": await readFile(flags.caFile, "utf8") }),
  };
  return Object.keys(data).length > 0 ? data : undefined;
}
