import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import type { KubeObject } from "../apply/object.js";
import { openCluster } from "../cluster/cluster.js";
import { isNotFound } from "../cluster/errors.js";
import { isFluxObject } from "../controllers/fleet.js";
import { systemClock } from "../ports/clock.js";
import { applyToStore } from "../store/objects.js";
import { keyOf } from "../api/object-key.js";
import { announce, cliAws, openStore, readKubeconfig, type GlobalOptions } from "./context.js";
import { gitRepositoryManifest, kustomizationManifest } from "./manifests.js";
import { say } from "./output.js";

/** The flags of `sluice bootstrap git` (defined in commands/bootstrap.ts). */
export interface GitFlags {
  url: string;
  branch: string;
  path: string;
  interval: string;
  username?: string;
  password?: string;
  secretRef?: string;
  cluster?: string;
}

/** Registers the root GitRepository and Kustomization `flux-system`, with a credentials Secret when given. */
export async function bootstrapGit(flags: GitFlags, options: GlobalOptions): Promise<void> {
  let secretRef = flags.secretRef;
  if (flags.username || flags.password) {
    if (!flags.username || !flags.password) throw new Error("--username and --password go together");
    secretRef = "flux-system";
    if (options.awsBucket)
      await writeAwsSecret(options.namespace, secretRef, { username: flags.username, password: flags.password });
    else await writeGitSecret(options, secretRef, flags.username, flags.password);
  }
  const store = await openStore(options);
  const objects = [
    gitRepositoryManifest("flux-system", options.namespace, {
      url: flags.url,
      branch: flags.branch,
      interval: flags.interval,
      secretRef,
    }),
    kustomizationManifest("flux-system", options.namespace, {
      source: "GitRepository/flux-system",
      path: flags.path,
      prune: true,
      interval: "10m",
      cluster: flags.cluster,
    }),
  ];
  for (const object of objects) {
    say.success(`${object.kind} ${options.namespace}/${object.metadata.name} ${await applyToStore(store, object)}`);
    await announce(options, keyOf(object));
  }
  say.success(
    options.awsBucket
      ? "bootstrapped; the deployed control plane reconciles it"
      : "bootstrapped; `sluice run` reconciles it",
  );
}

/** The credentials Secret, in the cluster (where source reconciles read it), never in the Store. */
async function writeGitSecret(options: GlobalOptions, name: string, username: string, password: string): Promise<void> {
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
    stringData: { username, password },
  };
  await cluster.client
    .send({ method: "PUT", path: `/api/v1/namespaces/${ns}/secrets/${name}`, body })
    .catch(async (e: unknown) => {
      if (!isNotFound(e)) throw e;
      await cluster.client.send({ method: "POST", path: `/api/v1/namespaces/${ns}/secrets`, body });
    });
  say.success(`Secret ${ns}/${name} with the Git credentials applied`);
}

/** On AWS, the credentials go to Secrets Manager, where the worker resolves secretRefs. */
async function writeAwsSecret(namespace: string, name: string, data: Record<string, string>): Promise<void> {
  const { putSecret } = await import("./aws.js");
  const id = await putSecret(namespace, name, data, cliAws());
  say.success(`Secrets Manager secret ${id} with the Git credentials written`);
}

/** Registers the Flux objects of a folder of YAML, in the --namespace unless they name one. */
export async function bootstrapDir(folder: string, options: GlobalOptions): Promise<void> {
  const store = await openStore(options);
  let count = 0;
  for (const file of (await readdir(folder, { recursive: true })).filter((f) => /\.ya?ml$/.test(f)).sort()) {
    for (const doc of parseAllDocuments(await readFile(join(folder, file), "utf8"))) {
      const object = doc.toJS() as KubeObject | null;
      if (!object?.apiVersion || !isFluxObject(object)) continue;
      const namespaced = {
        ...object,
        metadata: { ...object.metadata, namespace: object.metadata.namespace ?? options.namespace },
      };
      say.success(
        `${object.kind} ${namespaced.metadata.namespace}/${object.metadata.name} ${await applyToStore(store, namespaced)} (${file})`,
      );
      await announce(options, keyOf(namespaced));
      count++;
    }
  }
  if (count === 0) throw new Error(`no Flux objects found in ${folder}`);
}
