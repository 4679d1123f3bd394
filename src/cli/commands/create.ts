import { Command, Option } from "commander";
import type {
  ClusterFlags,
  CreateAlertFlags,
  CreateAlertProviderFlags,
  CreateBucketSourceFlags,
  CreateGitSourceFlags,
  CreateHelmSourceFlags,
  CreateKustomizationFlags,
  CreateOciSourceFlags,
  CreateReceiverFlags,
  CreateTenantFlags,
} from "../create.js";
import type { CreateHelmReleaseFlags } from "../helmrelease.js";
import type { CreateImageUpdateFlags } from "../image-update.js";
import type { CreateImagePolicyFlags, CreateImageRepositoryFlags } from "../image-create.js";
import { GENERIC_OIDC, RECEIVER_TYPES } from "../../api/receiver-types.js";
import { fail } from "../context.js";
import { stringSlice } from "../pflag.js";

/** Flux's `create` flags every kind shares: `--interval`, `--label` and `--export`. */
function withCreateFlags(command: Command, interval: string): Command {
  return command
    .option("--interval <duration>", interval, "1m")
    .option("--label <key=value>", "labels on the object, repeatable or comma-separated: a=b,c=d", stringSlice)
    .option("--export", "print the object as YAML instead of creating it", false);
}

/** `sluice create source git|helm|oci`, `kustomization`, `helmrelease`, `receiver`, `alert-provider`, `alert`, `cluster`, `tenant`: flux's flags; `--export` prints YAML instead of registering. */
export function createCommand(): Command {
  const create = new Command("create").description(
    "Create or update sources, Kustomizations, HelmReleases, Receivers, Alerts and Providers",
  );
  const source = new Command("source").description("Create or update sources");
  source.addCommand(
    withCreateFlags(new Command("git"), "source sync interval")
      .description("Create or update a GitRepository source")
      .argument("<name>")
      .requiredOption("--url <url>", "Git repository address, e.g. https://github.com/org/repo")
      .option("--branch <branch>", "Git branch")
      .option("--tag <tag>", "Git tag")
      .option("--tag-semver <range>", "Git tag semver range")
      .option("--ref-name <ref>", "Git reference name, e.g. refs/heads/main")
      .option("--commit <sha>", "Git commit SHA")
      .option(
        "-u, --username <name>",
        "basic authentication username, stored with --password in a Secret named after the source",
      )
      .option("-p, --password <password>", "basic authentication password")
      .option("--ca-file <path>", "TLS CA file for a self-signed server certificate, stored in that Secret as ca.crt")
      .option(
        "--private-key-file <path>",
        "private key for Git over SSH (flux's); Sluice writes no SSH Secret: use --secret-ref with identity and known_hosts",
      )
      .option(
        "--secret-ref <name>",
        "name of an existing Secret with Git credentials (username/password, bearerToken, ca.crt; identity, known_hosts)",
      )
      .option("--proxy-secret-ref <name>", "name of an existing Secret with the proxy address and credentials")
      .addOption(
        new Option("--provider <name>", "the Git provider name").choices(["generic", "github", "aws", "azure"]),
      )
      .option("--recurse-submodules", "include Git submodules in the artifact", false)
      .option("-s, --silent", "assume the deploy key is already set up (Sluice never asks)", false)
      .option(
        "--ignore-paths <paths>",
        "paths to ignore in the artifact, comma-separated (gitignore format)",
        stringSlice,
      )
      .option("--sparse-checkout-paths <paths>", "paths to check out sparsely, comma-separated", stringSlice)
      .option("--fetch-timeout <duration>", "timeout of a fetch (spec.timeout)")
      .action((name: string, flags: CreateGitSourceFlags, command: Command) =>
        import("../create.js").then((m) => m.createGitSource(name, flags, command)).catch(fail),
      ),
  );
  source.addCommand(
    withCreateFlags(new Command("helm"), "source sync interval")
      .description("Create or update a HelmRepository source")
      .argument("<name>")
      .option("--url <url>", "Helm repository address: http(s):// for a chart index, oci:// for an OCI registry")
      .option("-u, --username <name>", "basic authentication username, stored with --password in a Secret helm-NAME")
      .option("-p, --password <password>", "basic authentication password")
      .option(
        "--secret-ref <name>",
        "name of an existing Secret with basic auth (username/password) or docker-config credentials",
      )
      .option("--oci-provider <name>", "OCI provider for authentication (Sluice supports generic)")
      .option("--pass-credentials", "pass credentials to all domains", false)
      .option("--fetch-timeout <duration>", "timeout of a fetch (spec.timeout)")
      .action((name: string, flags: CreateHelmSourceFlags, command: Command) =>
        import("../create.js").then((m) => m.createHelmSource(name, flags, command)).catch(fail),
      ),
  );
  source.addCommand(
    withCreateFlags(new Command("oci"), "source sync interval")
      .description("Create or update an OCIRepository source")
      .argument("<name>")
      .option("--url <url>", "the OCI repository URL, e.g. oci://ghcr.io/org/manifests/app")
      .option("--tag <tag>", "the OCI artifact tag")
      .option("--tag-semver <range>", "the OCI artifact tag semver range")
      .option("--digest <digest>", "the OCI artifact digest")
      .option(
        "--secret-ref <name>",
        "the name of the Kubernetes image pull secret (type 'kubernetes.io/dockerconfigjson')",
      )
      .option("--cert-ref <name>", "the name of a secret to use for TLS certificates (ca.crt, tls.crt, tls.key)")
      .addOption(
        new Option("--provider <name>", "the OCI provider name (Sluice supports generic)")
          .choices(["generic", "aws", "azure", "gcp"])
          .default("generic"),
      )
      .option("--insecure", "for when connecting to a non-TLS registry over plain HTTP", false)
      .option("--layer-selector <selector>", "the OCI artifact layer selector in the format '<media-type>:<operation>'")
      .option(
        "--ignore-paths <paths>",
        "paths to ignore in the artifact, comma-separated (gitignore format)",
        stringSlice,
      )
      .option("--fetch-timeout <duration>", "timeout of a fetch (spec.timeout)")
      .option(
        "--proxy-secret-ref <name>",
        "a Secret with the proxy address and credentials (refused: not supported yet)",
      )
      .option("--service-account <name>", "a service account with image pull secrets (refused: not supported yet)")
      .addOption(
        new Option("--verify-provider <name>", "signature verification provider (refused: not supported yet)").choices([
          "cosign",
          "notation",
        ]),
      )
      .option("--verify-secret-ref <name>", "a Secret with the public keys to verify signatures with")
      .option("--verify-subject <regexp>", "the OIDC subject to verify signatures with")
      .option("--verify-issuer <regexp>", "the OIDC issuer to verify signatures with")
      .action((name: string, flags: CreateOciSourceFlags, command: Command) =>
        import("../create.js").then((m) => m.createOciSource(name, flags, command)).catch(fail),
      ),
  );
  source.addCommand(
    withCreateFlags(new Command("bucket"), "source sync interval")
      .description("Create or update a Bucket source")
      .argument("<name>")
      .addOption(
        new Option("--provider <name>", "the S3 compatible storage provider name (Sluice supports generic, aws)")
          .choices(["generic", "aws", "azure", "gcp"])
          .default("generic"),
      )
      .option("--bucket-name <name>", "the bucket name")
      .option("--endpoint <address>", "the bucket endpoint address (host[:port])")
      .option("--access-key <key>", "the bucket access key")
      .option("--secret-key <key>", "the bucket secret key")
      .option("--region <region>", "the bucket region")
      .option("--insecure", "for when connecting to a non-TLS S3 HTTP endpoint", false)
      .option("--secret-ref <name>", "the name of an existing secret containing credentials (accesskey, secretkey)")
      .option(
        "--proxy-secret-ref <name>",
        "the name of an existing secret containing the proxy address and credentials (refused: not supported yet)",
      )
      .option(
        "--ignore-paths <paths>",
        "paths to ignore in the bucket, comma-separated (gitignore format)",
        stringSlice,
      )
      .option("--fetch-timeout <duration>", "timeout of a fetch (spec.timeout)")
      .action((name: string, flags: CreateBucketSourceFlags, command: Command) =>
        import("../create.js").then((m) => m.createBucketSource(name, flags, command)).catch(fail),
      ),
  );
  create.addCommand(source);
  create.addCommand(
    withCreateFlags(new Command("alert-provider"), "unused, as in flux")
      .description("Create or update a Provider: where Alerts send notifications")
      .argument("<name>")
      .option("--type <type>", "type of provider: generic, generic-hmac, slack, msteams or discord")
      .option("--channel <channel>", "channel to send messages to in the case of a chat provider")
      .option("--username <name>", "bot username used by the provider")
      .option("--address <url>", "the chat provider's or webhook's address")
      .option("--secret-ref <name>", "name of a Secret with the address or token (key address, token)")
      .action((name: string, flags: CreateAlertProviderFlags, command: Command) =>
        import("../create.js").then((m) => m.createAlertProvider(name, flags, command)).catch(fail),
      ),
  );
  create.addCommand(
    withCreateFlags(new Command("alert"), "unused, as in flux")
      .description("Create or update an Alert: which objects' events go to a Provider")
      .argument("<name>")
      .option("--provider-ref <name>", "the Provider to send to")
      .option("--event-severity <severity>", "severity of events to send alerts for: info or error (default: info)")
      .option(
        "--event-source <kind/name>",
        "objects whose events are sent, <kind>/<name>[.<namespace>], repeatable or comma-separated",
        stringSlice,
      )
      .action((name: string, flags: CreateAlertFlags, command: Command) =>
        import("../create.js").then((m) => m.createAlert(name, flags, command)).catch(fail),
      ),
  );
  create.addCommand(
    withCreateFlags(new Command("kustomization"), "reconciliation interval")
      .alias("ks")
      .description("Create or update a Kustomization")
      .argument("<name>")
      .requiredOption(
        "--source <[kind/]name[.namespace]>",
        "source of the manifests, kind GitRepository (the default), OCIRepository or Bucket, in any case",
      )
      .option("--path <path>", "path to the directory with the manifests in the source", "./")
      .option("--prune", "enable garbage collection", false)
      .option("--retry-interval <duration>", "interval at which to retry a failed reconciliation")
      .option("--target-namespace <namespace>", "overrides the namespace of all objects")
      .option(
        "--depends-on <names>",
        "Kustomizations that must be ready first, <name> or <namespace>/<name>",
        stringSlice,
      )
      .option("--wait", "health check all applied objects (replaces --health-check)", false)
      .option("--health-check <refs>", "workloads to health check, <kind>/<name>.<namespace>", stringSlice)
      .option(
        "--health-check-timeout <duration>",
        "timeout of health checks (spec.timeout, with --wait or --health-check)",
        "2m",
      )
      .option("--service-account <name>", "service account to impersonate when applying")
      .addOption(new Option("--decryption-provider <provider>", "decryption provider").choices(["sops"]))
      .option("--decryption-secret <name>", "Secret with the keys for SOPS decryption")
      .option("--kubeconfig-secret-ref <name>", "Secret with a kubeconfig of a remote cluster to apply to")
      // Deprecated and without effect in flux too (server-side apply validates); accepted so flux's scripts run.
      .addOption(new Option("--validation <mode>").hideHelp())
      .option(
        "--cluster <name>",
        "a registered cluster to apply to (sluice create cluster); default: the control plane's own",
      )
      .action((name: string, flags: CreateKustomizationFlags, command: Command) =>
        import("../create.js").then((m) => m.createKustomization(name, flags, command)).catch(fail),
      ),
  );
  create.addCommand(
    withCreateFlags(new Command("helmrelease"), "reconciliation interval")
      .alias("hr")
      .description("Create or update a HelmRelease")
      .argument("<name>")
      .option(
        "--release-name <name>",
        "name used for the Helm release, defaults to a composition of '[<target-namespace>-]<HelmRelease-name>'",
      )
      .option(
        "--source <kind/name.namespace>",
        "source that contains the chart in the format '<kind>/<name>.<namespace>', kind HelmRepository or GitRepository (Bucket is refused)",
      )
      .option("--chart <name>", "Helm chart name or path")
      .option(
        "--chart-version <semver>",
        "Helm chart version, accepts a semver range (ignored for GitRepository sources)",
      )
      .option(
        "--chart-ref <kind/name.namespace>",
        "a HelmChart to use as the release's chart, in the format 'HelmChart/<name>.<namespace>' (OCIRepository is refused)",
      )
      .option(
        "--depends-on <names>",
        "HelmReleases that must be ready before this release can be installed, '<name>' or '<namespace>/<name>'",
        stringSlice,
      )
      .option(
        "--target-namespace <namespace>",
        "namespace to install this release, defaults to the HelmRelease namespace",
      )
      .option(
        "--storage-namespace <namespace>",
        "namespace to store the Helm release, defaults to the target namespace",
      )
      .option("--create-target-namespace", "create the target namespace if it does not exist", false)
      .option(
        "--service-account <name>",
        "the name of the service account to impersonate when reconciling this HelmRelease",
      )
      .option(
        "--reconcile-strategy <strategy>",
        "the reconcile strategy for the HelmChart created by the HelmRelease: ChartVersion or Revision",
        "ChartVersion",
      )
      .option("--chart-interval <duration>", "the interval of which to check for new chart versions")
      .option(
        "--values <files>",
        "local path to values.yaml files, repeatable or comma-separated, merged in order",
        stringSlice,
      )
      .option(
        "--values-from <kind/name>",
        "a ConfigMap or Secret whose values.yaml key holds values, '<kind>/<name>', repeatable or comma-separated",
        stringSlice,
      )
      .option("--crds <policy>", "upgrade CRDs policy: Skip, Create or CreateReplace")
      .option("--kubeconfig-secret-ref <name>", "Secret with a kubeconfig of a remote cluster to install to")
      .action((name: string, flags: CreateHelmReleaseFlags, command: Command) =>
        import("../helmrelease.js").then((m) => m.createHelmRelease(name, flags, command)).catch(fail),
      ),
  );
  create.addCommand(
    withCreateFlags(new Command("receiver"), "unused, as in flux")
      .description("Create or update a Receiver: a webhook that triggers reconciles of the listed objects")
      .argument("<name>")
      .addOption(
        new Option("--type <type>", "the receiver type")
          .choices(RECEIVER_TYPES.filter((t) => t !== GENERIC_OIDC)) // as flux's --type: no generic-oidc
          .makeOptionMandatory(),
      )
      .requiredOption("--secret-ref <name>", "Secret with the webhook token (key token)")
      .option("--event <events>", "events to accept, repeatable or comma-separated (default: all)", stringSlice)
      .option("--resource <kind/name>", "objects to reconcile, repeatable or comma-separated", stringSlice)
      .action((name: string, flags: CreateReceiverFlags, command: Command) =>
        import("../create.js").then((m) => m.createReceiver(name, flags, command)).catch(fail),
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
        stringSlice,
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
    withCreateFlags(new Command("tenant"), "unused, as in flux")
      .description(
        "Create or update a tenant: per namespace, the namespace, a service account and a RoleBinding limiting reconciles to it",
      )
      .argument("<name>")
      .requiredOption(
        "--with-namespace <namespace>",
        "namespace belonging to this tenant (repeatable, or comma-separated)",
        stringSlice,
      )
      .option("--cluster-role <name>", "cluster role of the tenant role binding", "cluster-admin")
      .option("--with-service-account <name>", "service account belonging to this tenant (default: the tenant's name)")
      .option("--skip-namespace", "do not create the namespaces (they must exist)", false)
      .action((name: string, flags: CreateTenantFlags, command: Command) =>
        import("../create.js").then((m) => m.createTenant(name, flags, command)).catch(fail),
      ),
  );
  const image = new Command("image").description("Create or update image automation objects");
  image.addCommand(
    withCreateFlags(new Command("repository"), "the length of time to wait between scans")
      .description("Create or update an ImageRepository object")
      .argument("<name>")
      .option("--image <image>", "the image repository to scan; e.g., library/alpine")
      .option("--secret-ref <name>", "the name of a docker-registry secret to use for credentials")
      .option("--cert-ref <name>", "the name of a secret to use for TLS certificates")
      .option("--scan-timeout <duration>", "a timeout for scanning; this defaults to the interval if not set")
      .action((name: string, flags: CreateImageRepositoryFlags, command: Command) =>
        import("../image-create.js").then((m) => m.createImageRepository(name, flags, command)).catch(fail),
      ),
  );
  image.addCommand(
    new Command("policy")
      .description("Create or update an ImagePolicy object")
      .argument("<name>")
      .option("--image-ref <name>", "the name of an image repository object")
      .option("--select-semver <range>", "a semver range to apply to tags; e.g., '1.x'")
      .option(
        "--select-alpha <order>",
        'alphabetical sorting to select the image: "asc" (the last) or "desc" (the first)',
      )
      .option("--select-numeric <order>", 'numeric sorting to select the image: "asc" (the last) or "desc" (the first)')
      .option("--filter-regex <pattern>", "regular expression pattern used to filter the image tags")
      .option("--filter-extract <template>", "replacement pattern (capture groups of --filter-regex) used for sorting")
      .option("--reflect-digest <policy>", "the digest reflection policy: Never, IfNotPresent or Always")
      .option("--interval <duration>", "how often to check the latest tag's digest with --reflect-digest=Always")
      .option("--label <key=value>", "labels on the object, repeatable or comma-separated: a=b,c=d", stringSlice)
      .option("--export", "print the object as YAML instead of creating it", false)
      .action((name: string, flags: CreateImagePolicyFlags, command: Command) =>
        import("../image-create.js").then((m) => m.createImagePolicy(name, flags, command)).catch(fail),
      ),
  );
  image.addCommand(
    withCreateFlags(new Command("update"), "source sync interval")
      .description("Create or update an ImageUpdateAutomation: image updates committed to a Git repository")
      .argument("<name>")
      .option(
        "--git-repo-ref <name>",
        "the name of a GitRepository resource with details of the upstream Git repository",
      )
      .option(
        "--git-repo-namespace <namespace>",
        "the namespace of the GitRepository, defaults to the ImageUpdateAutomation's",
      )
      .option(
        "--git-repo-path <path>",
        "path to the directory containing the manifests to be updated, defaults to the repository root",
      )
      .option("--checkout-branch <branch>", "the branch to checkout")
      .option(
        "--push-branch <branch>",
        "the branch to push commits to, defaults to the checkout branch if not specified",
      )
      .option("--commit-template <template>", "a template for commit messages")
      .option("--author-name <name>", "the name to use for commit author")
      .option("--author-email <email>", "the email to use for commit author")
      .option(
        "--signing-key-secret <name>",
        "name of the Secret containing the signing key referenced in spec.git.commit.signingKey",
      )
      .option(
        "--signing-key-type <type>",
        "signing-key format: gpg or ssh (defaults to gpg when --signing-key-secret is set)",
      )
      .action((name: string, flags: CreateImageUpdateFlags, command: Command) =>
        import("../image-update.js").then((m) => m.createImageUpdate(name, flags, command)).catch(fail),
      ),
  );
  create.addCommand(image);
  return create;
}
