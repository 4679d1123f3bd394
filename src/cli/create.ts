import { Command, Option } from "commander";
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
import { announce, fail, globals, openStore, readKubeconfig } from "./context.js";
import { exportYaml, gitRepositoryManifest, kustomizationManifest } from "./manifests.js";
import { say } from "./output.js";
import { tenantManifests, type TenantFlags } from "./tenant.js";

const collect = (value: string, previous: string[] = []) => [...previous, ...value.split(",").filter(Boolean)];

/** `sluice create source git|kustomization|cluster|tenant`: flux's flags; `--export` prints YAML instead of registering. */
export function createCommand(): Command {
  const create = new Command("create").description("Create or update sources and Kustomizations");
  const source = new Command("source").description("Create or update sources");
  source.addCommand(
    new Command("git")
      .description("Create or update a GitRepository source")
      .argument("<name>")
      .requiredOption("--url <url>", "Git repository address, e.g. https://github.com/org/repo")
      .option("--branch <branch>", "Git branch")
      .option("--tag <tag>", "Git tag")
      .option("--tag-semver <range>", "Git tag semver range")
      .option("--commit <sha>", "Git commit SHA")
      .option("--interval <duration>", "source sync interval", "1m")
      .option(
        "--secret-ref <name>",
        "name of an existing Secret with Git credentials (username/password, bearerToken, ca.crt)",
      )
      .option("--ignore-paths <paths>", "paths to ignore in the artifact, comma-separated (gitignore format)", collect)
      .option("--export", "print the object as YAML instead of creating it", false)
      .action(async (name: string, flags, command: Command) => {
        const g = globals(command);
        await register(() => gitRepositoryManifest(name, g.namespace, flags), flags.export, command).catch(fail);
      }),
  );
  create.addCommand(source);
  create.addCommand(
    new Command("kustomization")
      .alias("ks")
      .description("Create or update a Kustomization")
      .argument("<name>")
      .requiredOption("--source <kind/name.namespace>", "source: GitRepository/name or name (namespace optional)")
      .option("--path <path>", "path to the directory with the manifests in the source", "./")
      .option("--prune", "enable garbage collection", false)
      .option("--interval <duration>", "reconciliation interval", "1m")
      .option("--retry-interval <duration>", "interval at which to retry a failed reconciliation")
      .option("--target-namespace <namespace>", "overrides the namespace of all objects")
      .option("--depends-on <names>", "Kustomizations that must be ready first, <name> or <namespace>/<name>", collect)
      .option("--wait", "wait for all applied objects to become ready", false)
      .option("--health-check <refs>", "workloads to health check, <kind>/<name>.<namespace>", collect)
      .option("--health-check-timeout <duration>", "timeout of health checks and of the whole reconcile")
      .option("--service-account <name>", "service account to impersonate when applying")
      .option(
        "--cluster <name>",
        "a registered cluster to apply to (sluice create cluster); default: the control plane's own",
      )
      .addOption(new Option("--export", "print the object as YAML instead of creating it").default(false))
      .action(async (name: string, flags, command: Command) => {
        const g = globals(command);
        await register(() => kustomizationManifest(name, g.namespace, flags), flags.export, command).catch(fail);
      }),
  );
  create.addCommand(
    new Command("cluster")
      .description(
        "Register a target cluster: direct (the control plane applies) or agent (its pull agent applies signed bundles)",
      )
      .argument("<name>")
      .addOption(
        new Option("--mode <mode>", "how the cluster is reached").choices(["direct", "agent"]).default("agent"),
      )
      .option(
        "--allowed-namespaces <namespaces>",
        "namespaces whose Kustomizations may target it as a service account (tenants), comma-separated; * for all",
        collect,
      )
      .option(
        "--kubeconfig-secret-ref <name>",
        "direct: a Secret in sluice-system holding its kubeconfig (key value or value.yaml)",
      )
      .option("--eks <name>", "direct: an EKS cluster, reached with the worker's IAM role")
      .option("--eks-region <region>", "its region, when not the control plane's")
      .option("--role-arn <arn>", "an IAM role the worker assumes to reach it (another account)")
      .option("--export", "print the registration as YAML instead of creating it", false)
      .action(async (name: string, flags: ClusterFlags, command: Command) => {
        await register(
          () => newClusterRegistration(name, flags.mode, flags.allowedNamespaces, connectionOf(flags)),
          flags.export,
          command,
        ).catch(fail);
      }),
  );
  create.addCommand(
    new Command("tenant")
      .description(
        "Create or update a tenant: per namespace, the namespace, a service account and a RoleBinding limiting reconciles to it",
      )
      .argument("<name>")
      .requiredOption(
        "--with-namespace <namespace>",
        "namespace belonging to this tenant (repeatable, or comma-separated)",
        collect,
      )
      .option("--cluster-role <name>", "cluster role of the tenant role binding", "cluster-admin")
      .option("--with-service-account <name>", "service account belonging to this tenant (default: the tenant's name)")
      .option("--export", "print the objects as YAML instead of applying them", false)
      .action(async (name: string, flags: TenantFlags & { export: boolean }, command: Command) => {
        await createTenant(name, flags, command).catch(fail);
      }),
  );
  return create;
}

interface ClusterFlags {
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
async function createTenant(name: string, flags: TenantFlags & { export: boolean }, command: Command): Promise<void> {
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
  const action = await applyToStore(openStore(options), object);
  if (object.kind !== "Cluster") await announce(options, keyOf(object));
  say.success(`${what} ${action}`);
}
