import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import type { KubeObject } from "../apply/object.js";
import { isFluxObject } from "../controllers/kustomize/fleet.js";
import { applyToStore } from "../store/objects.js";
import { keyOf } from "../api/object-key.js";
import { announce, openStore, type GlobalOptions } from "./context.js";
import { gitSecretData, writeGitSecret } from "./git-secret.js";
import { gitRepositoryManifest, kustomizationManifest } from "./manifests.js";
import { say } from "./output.js";

/** The flags of `sluice bootstrap git` (defined in commands/bootstrap.ts). */
export interface GitFlags {
  url: string;
  branch: string;
  path?: string;
  interval: string;
  username: string;
  password?: string;
  withBearerToken: boolean;
  caFile?: string;
  secretName: string;
  secretRef?: string;
  allowInsecureHttp: boolean;
  cluster?: string;
}

/**
 * Registers the root GitRepository and Kustomization `flux-system`; credentials given as flags go
 * to the Secret `--secret-name` first (`username`/`password`, or `bearerToken`, and `ca.crt`), as
 * `flux bootstrap git` stores them.
 */
export async function bootstrapGit(flags: GitFlags, options: GlobalOptions): Promise<void> {
  const credentials = await gitSecretData({ ...flags, bearerToken: flags.withBearerToken });
  if (credentials && flags.secretRef)
    throw new Error("--secret-ref names existing credentials: leave out --password and --ca-file");
  if (credentials && flags.url.startsWith("http:") && !flags.allowInsecureHttp)
    say.warning("insecure configuration: credentials sent over HTTP (--allow-insecure-http acknowledges it)");
  const secretRef = credentials ? flags.secretName : flags.secretRef;
  const objects = rootObjects(options.namespace, { ...flags, secretRef });
  if (credentials) await writeGitSecret(options, flags.secretName, credentials);
  await registerRoot(objects, options);
}

/** Where the root objects sync from. */
export interface RootSource {
  url: string;
  branch: string;
  interval: string;
  secretRef?: string;
  path?: string;
  cluster?: string;
}

/** The root GitRepository and Kustomization `flux-system`, as flux's sync manifests (gotk-sync.yaml) have them. */
export function rootObjects(namespace: string, source: RootSource): KubeObject[] {
  return [
    gitRepositoryManifest("flux-system", namespace, {
      url: source.url,
      branch: source.branch,
      interval: source.interval,
      secretRef: source.secretRef,
    }),
    kustomizationManifest("flux-system", namespace, {
      source: "GitRepository/flux-system",
      path: source.path ?? "",
      prune: true,
      interval: "10m",
      cluster: source.cluster,
    }),
  ];
}

/** Registers the bootstrap's objects in the Store (the control plane is told of each) and says who reconciles them. */
export async function registerRoot(objects: KubeObject[], options: GlobalOptions): Promise<void> {
  const store = await openStore(options);
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
