import { Command, Option } from "commander";
import type { ClusterFlags } from "../create.js";
import type { GitSourceFlags, KustomizationFlags } from "../manifests.js";
import type { TenantFlags } from "../tenant.js";
import { fail } from "../context.js";

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
      .action((name: string, flags: GitSourceFlags & { export: boolean }, command: Command) =>
        import("../create.js").then((m) => m.createGitSource(name, flags, command)).catch(fail),
      ),
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
      .action((name: string, flags: KustomizationFlags & { export: boolean }, command: Command) =>
        import("../create.js").then((m) => m.createKustomization(name, flags, command)).catch(fail),
      ),
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
      .action((name: string, flags: ClusterFlags, command: Command) =>
        import("../create.js").then((m) => m.createCluster(name, flags, command)).catch(fail),
      ),
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
      .action((name: string, flags: TenantFlags & { export: boolean }, command: Command) =>
        import("../create.js").then((m) => m.createTenant(name, flags, command)).catch(fail),
      ),
  );
  return create;
}
