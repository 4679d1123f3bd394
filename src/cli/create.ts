import type { Command } from "commander";
import { applyAll } from "../apply/apply.js";
import type { KubeObject } from "../apply/object.js";
import {
  clusterRegistration,
  newClusterRegistration,
  type ClusterConnection,
  type ClusterMode,
} from "../api/cluster.js";
import { parseFluxObject, parseObject } from "../api/parse.js";
import { applyToStore } from "../store/objects.js";
import { openCluster } from "../cluster/cluster.js";
import { systemClock } from "../ports/clock.js";
import { keyOf } from "../api/object-key.js";
import { announce, globals, openStore, readKubeconfig } from "./context.js";
import {
  exportYaml,
  gitRepositoryManifest,
  kustomizationManifest,
  type GitSourceFlags,
  type KustomizationFlags,
} from "./manifests.js";
import { say } from "./output.js";
import { tenantManifests, type TenantFlags } from "./tenant.js";

/** `sluice create source git NAME`: registers the GitRepository, or prints it with --export. */
export async function createGitSource(
  name: string,
  flags: GitSourceFlags & { export: boolean },
  command: Command,
): Promise<void> {
  await register(() => gitRepositoryManifest(name, globals(command).namespace, flags), flags.export, command);
}

/** `sluice create kustomization NAME`: registers the Kustomization, or prints it with --export. */
export async function createKustomization(
  name: string,
  flags: KustomizationFlags & { export: boolean },
  command: Command,
): Promise<void> {
  await register(() => kustomizationManifest(name, globals(command).namespace, flags), flags.export, command);
}

/** `sluice create cluster NAME`: registers a target cluster, or prints its registration with --export. */
export async function createCluster(name: string, flags: ClusterFlags, command: Command): Promise<void> {
  await register(
    () => newClusterRegistration(name, flags.mode, flags.allowedNamespaces, connectionOf(flags)),
    flags.export,
    command,
  );
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

/** Applies a tenant's objects to the kubeconfig's cluster (server-side apply; a changed roleRef recreates the RoleBinding, as flux does). */
export async function createTenant(
  name: string,
  flags: TenantFlags & { export: boolean },
  command: Command,
): Promise<void> {
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

async function register(manifest: () => KubeObject, exportOnly: boolean, command: Command): Promise<void> {
  const object = manifest();
  // Bad flags fail here, naming the field.
  if (object.kind === "Cluster") parseObject(clusterRegistration, object);
  else parseFluxObject(object);
  if (exportOnly) {
    process.stdout.write(exportYaml([object]));
    return;
  }
  const what = `${object.kind} ${object.metadata.name} in ${object.metadata.namespace} namespace`;
  say.action(`applying ${what}`);
  const options = globals(command);
  const action = await applyToStore(await openStore(options), object);
  if (object.kind !== "Cluster") await announce(options, keyOf(object));
  say.success(`${what} ${action}`);
}
