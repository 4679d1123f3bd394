import type { Command } from "commander";
import { applyAll } from "../apply/apply.js";
import type { KubeObject } from "../apply/object.js";
import {
  clusterRegistration,
  newClusterRegistration,
  type ClusterConnection,
  type ClusterMode,
} from "../api/cluster.js";
import { parseFluxObject, parseObject, type FluxObject } from "../api/parse.js";
import { unsupportedFields } from "../api/unsupported.js";
import { applyToStore } from "../store/objects.js";
import { openCluster } from "../cluster/cluster.js";
import { systemClock } from "../ports/clock.js";
import { keyOf } from "../api/object-key.js";
import { announce, globals, openStore, readKubeconfig } from "./context.js";
import { isSshUrl } from "../sources/ssh-remote.js";
import { gitSecretData, writeGitSecret } from "./git-secret.js";
import {
  alertManifest,
  bucketManifest,
  exportYaml,
  gitRepositoryManifest,
  helmRepositoryManifest,
  kustomizationManifest,
  ociRepositoryManifest,
  providerManifest,
  receiverManifest,
  type AlertFlags,
  type AlertProviderFlags,
  type BucketSourceFlags,
  type GitSourceFlags,
  type HelmSourceFlags,
  type KustomizationFlags,
  type OciSourceFlags,
  type ReceiverFlags,
} from "./manifests.js";
import { say } from "./output.js";
import { tenantManifests, type TenantFlags } from "./tenant.js";

/** What every `sluice create` accepts, as flux's `create` does. */
interface CreateFlags {
  interval: string;
  label?: string[];
  export: boolean;
}

/** The flags of `sluice create source git` (defined in commands/create.ts). */
export type CreateGitSourceFlags = GitSourceFlags &
  CreateFlags & { username?: string; password?: string; caFile?: string; privateKeyFile?: string; silent: boolean };

/**
 * `sluice create source git NAME`: registers the GitRepository, or prints it with --export. Credentials
 * given as flags (without --secret-ref) go to a Secret named after the source, as flux writes one.
 */
export async function createGitSource(name: string, flags: CreateGitSourceFlags, command: Command): Promise<void> {
  const options = globals(command);
  const object = gitRepositoryManifest(name, options.namespace, flags);
  if (flags.caFile && isSshUrl(flags.url)) throw new Error("specifying a CA file is not supported for Git over SSH");
  if (flags.export) return printExport(object);
  if (isSshUrl(flags.url) && !flags.secretRef)
    throw new Error(
      "an ssh:// URL needs --secret-ref naming a Secret with identity and known_hosts: Sluice does not generate deploy keys or scan host keys (flux create secret git writes such a Secret)",
    );
  const credentials = flags.secretRef ? undefined : await gitSecretData(flags);
  if (credentials) {
    if (flags.url.startsWith("http:")) say.warning("insecure configuration: credentials configured for an HTTP URL");
    object.spec = { ...(object.spec as object), secretRef: { name } };
  }
  const checked = admitted(object);
  if (credentials) {
    say.action("applying secret with repository credentials");
    await writeGitSecret(options, name, credentials);
    say.success("authentication configured");
  }
  await register(checked, command);
}

/** The flags of `sluice create source helm` (defined in commands/create.ts). */
export type CreateHelmSourceFlags = HelmSourceFlags & CreateFlags & { username?: string; password?: string };

/**
 * `sluice create source helm NAME`: registers the HelmRepository, or prints it with --export. Basic
 * auth given as flags (without --secret-ref) goes to a Secret named `helm-NAME`, as flux writes it.
 */
export async function createHelmSource(name: string, flags: CreateHelmSourceFlags, command: Command): Promise<void> {
  const options = globals(command);
  const object = helmRepositoryManifest(name, options.namespace, flags);
  if (flags.export) return printExport(object);
  const credentials = flags.secretRef
    ? undefined
    : await gitSecretData({ username: flags.username, password: flags.password });
  const secretName = `helm-${name}`;
  const checked = admitted(
    credentials ? helmRepositoryManifest(name, options.namespace, { ...flags, secretRef: secretName }) : object,
  );
  if (credentials) {
    say.action("applying secret with repository credentials");
    await writeGitSecret(options, secretName, credentials, "Helm repository credentials");
    say.success("authentication configured");
  }
  await register(checked, command);
}

/** The flags of `sluice create source oci` (defined in commands/create.ts). */
export type CreateOciSourceFlags = OciSourceFlags & CreateFlags;

/** `sluice create source oci NAME`: registers the OCIRepository, or prints it with --export. */
export async function createOciSource(name: string, flags: CreateOciSourceFlags, command: Command): Promise<void> {
  const object = ociRepositoryManifest(name, globals(command).namespace, flags);
  if (flags.export) return printExport(object);
  await register(admitted(object), command);
}

/** The flags of `sluice create source bucket` (defined in commands/create.ts). */
export type CreateBucketSourceFlags = BucketSourceFlags & CreateFlags & { accessKey?: string; secretKey?: string };

/**
 * `sluice create source bucket NAME`: registers the Bucket, or prints it with --export. Keys given as flags
 * (both, without --secret-ref) go to a Secret named `bucket-NAME` (`accesskey`, `secretkey`), as flux writes it.
 */
export async function createBucketSource(
  name: string,
  flags: CreateBucketSourceFlags,
  command: Command,
): Promise<void> {
  const options = globals(command);
  const object = bucketManifest(name, options.namespace, flags);
  if (flags.export) return printExport(object);
  const keys = !flags.secretRef && flags.accessKey && flags.secretKey;
  const secretName = `bucket-${name}`;
  const checked = admitted(
    keys ? bucketManifest(name, options.namespace, { ...flags, secretRef: secretName }) : object,
  );
  if (keys) {
    say.action("applying secret with the bucket credentials");
    const data = { accesskey: flags.accessKey!, secretkey: flags.secretKey! };
    await writeGitSecret(options, secretName, data, "bucket credentials");
    say.success("authentication configured");
  }
  await register(checked, command);
}

/** The flags of `sluice create alert-provider`. */
export type CreateAlertProviderFlags = AlertProviderFlags & CreateFlags;

/** `sluice create alert-provider NAME`: registers the Provider, or prints it with --export. */
export async function createAlertProvider(
  name: string,
  flags: CreateAlertProviderFlags,
  command: Command,
): Promise<void> {
  const object = providerManifest(name, globals(command).namespace, flags);
  if (flags.export) return printExport(object);
  await register(admitted(object), command);
}

/** The flags of `sluice create alert`. */
export type CreateAlertFlags = AlertFlags & CreateFlags;

/** `sluice create alert NAME`: registers the Alert, or prints it with --export. */
export async function createAlert(name: string, flags: CreateAlertFlags, command: Command): Promise<void> {
  const object = alertManifest(name, globals(command).namespace, flags);
  if (flags.export) return printExport(object);
  await register(admitted(object), command);
}

/** The flags of `sluice create kustomization`. */
export type CreateKustomizationFlags = KustomizationFlags & CreateFlags & { validation?: string };

/** `sluice create kustomization NAME`: registers the Kustomization, or prints it with --export. */
export async function createKustomization(
  name: string,
  flags: CreateKustomizationFlags,
  command: Command,
): Promise<void> {
  if (flags.validation !== undefined)
    process.stderr.write(
      "Flag --validation has been deprecated, this arg is no longer used, all resources are validated using server-side apply dry-run\n",
    );
  const object = kustomizationManifest(name, globals(command).namespace, flags);
  if (flags.export) return printExport(object);
  await register(admitted(object), command);
}

/** The flags of `sluice create receiver`. */
export type CreateReceiverFlags = ReceiverFlags & CreateFlags;

/** `sluice create receiver NAME`: registers the Receiver, or prints it with --export. */
export async function createReceiver(name: string, flags: CreateReceiverFlags, command: Command): Promise<void> {
  const object = receiverManifest(name, globals(command).namespace, flags);
  if (flags.export) return printExport(object);
  await register(admitted(object), command);
}

/** `sluice create cluster NAME`: registers a target cluster, or prints its registration with --export. */
export async function createCluster(name: string, flags: ClusterFlags, command: Command): Promise<void> {
  const object = newClusterRegistration(name, flags.mode, flags.allowedNamespaces, connectionOf(flags));
  // Bad flags fail here, naming the field.
  parseObject(clusterRegistration, object);
  if (flags.export) return printExport(object);
  await register(object, command);
}

/** The flags of `sluice create cluster` (defined in commands/create.ts). */
export interface ClusterFlags {
  mode: ClusterMode;
  allowedNamespaces?: string[];
  kubeconfigSecretRef?: string;
  eks?: string;
  eksRegion?: string;
  roleArn?: string;
  export: boolean;
}

/** The registration's connection from the flags; a region or role without --eks is kept so the schema names it. */
function connectionOf(flags: ClusterFlags): ClusterConnection {
  const eksOptions = {
    ...(flags.eksRegion && { region: flags.eksRegion }),
    ...(flags.roleArn && { roleArn: flags.roleArn }),
  };
  const eks = flags.eks || flags.eksRegion || flags.roleArn ? { name: flags.eks ?? "", ...eksOptions } : undefined;
  return {
    ...(flags.kubeconfigSecretRef && { kubeConfig: { secretRef: { name: flags.kubeconfigSecretRef } } }),
    ...(eks && { eks }),
  };
}

/** The flags of `sluice create tenant`. */
export type CreateTenantFlags = TenantFlags & CreateFlags;

/** Applies a tenant's objects to the kubeconfig's cluster (server-side apply; a changed roleRef recreates the RoleBinding, as flux does). */
export async function createTenant(name: string, flags: CreateTenantFlags, command: Command): Promise<void> {
  const objects = tenantManifests(name, flags);
  if (flags.export) {
    process.stdout.write(exportYaml(objects));
    return;
  }
  const options = globals(command);
  const cluster = await openCluster(
    { kubeconfig: (await readKubeconfig(options)).content, context: options.context },
    systemClock,
  );
  for (const object of objects)
    say.action(
      `applying ${object.kind.toLowerCase()} ${object.metadata.name}${object.metadata.namespace ? ` in ${object.metadata.namespace}` : ""}`,
    );
  const changes = await applyAll(cluster, objects, { force: true });
  for (const change of changes) say.success(`${change.subject} ${change.action}`);
  say.success("tenant setup completed");
}

/**
 * The Flux object as its API server would admit it, and as Sluice's reconciler would take it: a field
 * Sluice refuses fails here, before anything is written, instead of stalling in the control plane.
 */
export function admitted(object: KubeObject): KubeObject {
  parseFluxObject(object);
  const refused = unsupportedFields(object as FluxObject);
  if (refused.length > 0)
    throw new Error(`${object.kind}/${object.metadata.namespace}/${object.metadata.name}: ${refused.join("; ")}`);
  return object;
}

function printExport(object: KubeObject): void {
  process.stdout.write(exportYaml([object]));
}

export async function register(object: KubeObject, command: Command): Promise<void> {
  const what = `${object.kind} ${object.metadata.name} in ${object.metadata.namespace} namespace`;
  say.action(`applying ${what}`);
  const options = globals(command);
  const action = await applyToStore(await openStore(options), object);
  if (object.kind !== "Cluster") await announce(options, keyOf(object));
  say.success(`${what} ${action}`);
}
