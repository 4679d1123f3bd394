// How `sluice`'s flags stand against `flux`'s (test/cli/flux-flags.test.ts checks every entry both
// ways: a flux flag missing here fails the test, and so does an entry that is no longer true).

/** The commands both CLIs have, by the words that name them (the root is ""). */
export const COMMANDS = [
  "",
  "bootstrap git",
  "bootstrap github",
  "bootstrap gitlab",
  "create source git",
  "create source helm",
  "create source oci",
  "create source bucket",
  "create kustomization",
  "create helmrelease",
  "create receiver",
  "create alert-provider",
  "create alert",
  "create tenant",
  "create image repository",
  "create image policy",
  "create image update",
  "get sources git",
  "get sources helm",
  "get sources chart",
  "get sources oci",
  "get sources bucket",
  "get sources external",
  "get artifacts generators",
  "tree artifact generator",
  "get kustomizations",
  "get helmreleases",
  "get alerts",
  "get alert-providers",
  "get images repository",
  "get images policy",
  "get images all",
  "get images update",
  "reconcile source git",
  "reconcile source oci",
  "reconcile source bucket",
  "reconcile source helm",
  "reconcile source chart",
  "reconcile kustomization",
  "reconcile helmrelease",
  "reconcile alert",
  "reconcile alert-provider",
  "reconcile image repository",
  "reconcile image policy",
  "reconcile image update",
  "suspend source git",
  "suspend source oci",
  "suspend source bucket",
  "suspend source helm",
  "suspend source chart",
  "suspend kustomization",
  "suspend helmrelease",
  "suspend alert",
  "suspend image repository",
  "suspend image policy",
  "suspend image update",
  "resume source git",
  "resume source oci",
  "resume source bucket",
  "resume source helm",
  "resume source chart",
  "resume kustomization",
  "resume helmrelease",
  "resume alert",
  "resume image repository",
  "resume image policy",
  "resume image update",
  "build kustomization",
  "diff kustomization",
  "events",
  "tree kustomization",
  "debug helmrelease",
  "check",
  "push artifact",
  "pull artifact",
  "tag artifact",
  "list artifacts",
  "build artifact",
  "diff artifact",
] as const;
export type CommandName = (typeof COMMANDS)[number];

const KUBECONFIG_OVERRIDE =
  "a kubeconfig override: not supported yet; the CLI uses the kubeconfig as written (--kubeconfig, --context)";
const IMPERSONATION = "impersonating another user for the CLI's own requests: not supported yet";
const CLIENT_TUNING = "a knob of controller-runtime's client; Sluice's Kubernetes client has none";
const NO_CONTROLLERS = "Sluice installs no Flux controllers: `sluice run` or the AWS stack reconciles instead";
const NO_COMMITS = "Sluice's bootstrap registers objects and commits nothing to the repository";
const NO_SSH =
  "Sluice does not generate SSH deploy keys or scan host keys yet: create a Secret with identity and known_hosts and use --secret-ref";
const NO_SIGNING = "signing the bootstrap commit: not supported yet";
const DEPLOY_KEY_ED25519 = "the deploy key Sluice generates is always ed25519 (flux's default algorithm)";

/** What `bootstrap github` and `bootstrap gitlab` do not accept of flux's flags. */
const FORGE_BOOTSTRAP: Record<string, string> = {
  "--ca-file": "a forge with a self-signed certificate: not supported yet (the API client trusts the system's CAs)",
  "--cluster-domain": NO_CONTROLLERS,
  "--components": NO_CONTROLLERS,
  "--components-extra": NO_CONTROLLERS,
  "--force": NO_CONTROLLERS,
  "--image-pull-secret": NO_CONTROLLERS,
  "--log-level": NO_CONTROLLERS,
  "--network-policy": NO_CONTROLLERS,
  "--registry": NO_CONTROLLERS,
  "--registry-creds": NO_CONTROLLERS,
  "--toleration-keys": NO_CONTROLLERS,
  "--version": NO_CONTROLLERS,
  "--watch-all-namespaces": NO_CONTROLLERS,
  "--gpg-key-id": NO_SIGNING,
  "--gpg-key-ring": NO_SIGNING,
  "--gpg-passphrase": NO_SIGNING,
  "--ssh-signing-key-file": NO_SIGNING,
  "--ssh-signing-password": NO_SIGNING,
  "--ssh-signing-reuse-private-key": NO_SIGNING,
  "--ssh-key-algorithm": DEPLOY_KEY_ED25519,
  "--ssh-rsa-bits": DEPLOY_KEY_ED25519,
  "--ssh-ecdsa-curve": DEPLOY_KEY_ED25519,
  "--ssh-hostkey-algos": "the host key is scanned with the SSH library's own algorithm preference",
  "--private-key-file":
    "Sluice pushes the sync manifests over HTTPS with the token, and always generates the deploy key",
  "--reconcile":
    "updating an existing repository's settings: not supported yet (it is used as it is; missing team access is still granted)",
  "--recurse-submodules": "GitRepository spec.recurseSubmodules is not supported yet",
  "--sparse-checkout": "GitRepository spec.sparseCheckout is not supported yet",
};

/** Sluice's own flags of `bootstrap github` and `bootstrap gitlab`. */
const FORGE_BOOTSTRAP_EXTENSIONS: Record<string, string> = {
  "--allow-insecure-http": "allow http:// for the API, the clone URLs and the webhook (a test server)",
  "--api-url": "the forge's REST API root when it is not the default for --hostname (a test server, a proxy)",
  "--cluster":
    "a registered Sluice cluster the fleet is applied to (flux's global --cluster names a kubeconfig cluster)",
  "--webhook-url": "the Receiver URL of Sluice's control plane the repository's push webhook points at",
};

const HELM_TLS_FILES =
  "flux writes the TLS files into the secretRef Secret (ca.crt, tls.crt, tls.key), where Sluice's HelmRepository reconciler does not read them: create a Secret with them and set spec.certSecretRef";

/** Flux flags `sluice` does not accept, per command, each with why. */
export const UNSUPPORTED: Partial<Record<CommandName, Record<string, string>>> = {
  "build artifact": {
    "--resolve-symlinks": "not supported yet: links are left out of the artifact, as flux does without the flag",
  },
  "push artifact": {
    "--debug": "go-containerregistry's own request log: Sluice's registry client has none to show",
    "--resolve-symlinks": "not supported yet: links are left out of the artifact, as flux does without the flag",
  },
  "": {
    "--as": IMPERSONATION,
    "--as-group": IMPERSONATION,
    "--as-uid": IMPERSONATION,
    "--as-user-extra": IMPERSONATION,
    "--cache-dir": "kubectl's discovery cache: Sluice's CLI keeps none",
    "--certificate-authority": KUBECONFIG_OVERRIDE,
    "--client-certificate": KUBECONFIG_OVERRIDE,
    "--client-key": KUBECONFIG_OVERRIDE,
    "--cluster": KUBECONFIG_OVERRIDE,
    "--insecure-skip-tls-verify": KUBECONFIG_OVERRIDE,
    "--server": KUBECONFIG_OVERRIDE,
    "--tls-server-name": KUBECONFIG_OVERRIDE,
    "--token": KUBECONFIG_OVERRIDE,
    "--user": KUBECONFIG_OVERRIDE,
    "--disable-compression": CLIENT_TUNING,
    "--kube-api-burst": CLIENT_TUNING,
    "--kube-api-qps": CLIENT_TUNING,
    "--ns-follows-kube-context": "the namespace always comes from -n (default flux-system): not supported yet",
    "--verbose": "printing generated objects: not supported yet (create --export prints them)",
  },
  "bootstrap git": {
    "--author-email": NO_COMMITS,
    "--author-name": NO_COMMITS,
    "--commit-message-appendix": NO_COMMITS,
    "--gpg-key-id": NO_COMMITS,
    "--gpg-key-ring": NO_COMMITS,
    "--gpg-passphrase": NO_COMMITS,
    "--ssh-signing-key-file": NO_COMMITS,
    "--ssh-signing-password": NO_COMMITS,
    "--ssh-signing-reuse-private-key": NO_COMMITS,
    "--cluster-domain": NO_CONTROLLERS,
    "--components": NO_CONTROLLERS,
    "--components-extra": NO_CONTROLLERS,
    "--force": NO_CONTROLLERS,
    "--image-pull-secret": NO_CONTROLLERS,
    "--log-level": NO_CONTROLLERS,
    "--network-policy": NO_CONTROLLERS,
    "--registry": NO_CONTROLLERS,
    "--registry-creds": NO_CONTROLLERS,
    "--toleration-keys": NO_CONTROLLERS,
    "--version": NO_CONTROLLERS,
    "--watch-all-namespaces": NO_CONTROLLERS,
    "--token-auth": NO_SSH,
    "--private-key-file": NO_SSH,
    "--ssh-ecdsa-curve": NO_SSH,
    "--ssh-hostkey-algos": NO_SSH,
    "--ssh-hostname": NO_SSH,
    "--ssh-key-algorithm": NO_SSH,
    "--ssh-rsa-bits": NO_SSH,
    "--recurse-submodules": "GitRepository spec.recurseSubmodules is not supported yet",
    "--sparse-checkout": "GitRepository spec.sparseCheckout is not supported yet",
  },
  "bootstrap github": FORGE_BOOTSTRAP,
  "bootstrap gitlab": {
    ...FORGE_BOOTSTRAP,
    "--deploy-token-auth": "GitLab project deploy tokens: not supported yet (the SSH deploy key, or --token-auth)",
  },
  "create source git": {
    "--ssh-ecdsa-curve": NO_SSH,
    "--ssh-key-algorithm": NO_SSH,
    "--ssh-rsa-bits": NO_SSH,
  },
  "create source helm": {
    "--ca-file": HELM_TLS_FILES,
    "--cert-file": HELM_TLS_FILES,
    "--key-file": HELM_TLS_FILES,
  },
  check: {
    "--components": NO_CONTROLLERS,
    "--components-extra": NO_CONTROLLERS,
    "--poll-interval": NO_CONTROLLERS,
  },
};

const NO_REMOTE_BASES = "refuse kustomize remote bases, as the control plane does with `sluice run --no-remote-bases`";
const STRICT_BY_DEFAULT = {
  differs: ["default true (flux: none)"],
  reason: "a build renders what the controller applies, and Sluice's controller substitutes strictly by default",
};

/** Flags only `sluice` has, per command, each with what it is for. */
export const EXTENSIONS: Partial<Record<CommandName, Record<string, string>>> = {
  "": {
    "--state-dir": "where the local control plane keeps its Store, artifacts and events",
    "--aws-bucket": "work on the control plane deployed to AWS (its state bucket)",
    "--aws-queue-url": "the deployed control plane's queue, to reconcile what the CLI changes at once",
  },
  "bootstrap git": {
    "--cluster":
      "a registered Sluice cluster the fleet is applied to (flux's global --cluster names a kubeconfig cluster)",
    "--secret-ref": "an existing Secret with the Git credentials",
  },
  "bootstrap github": FORGE_BOOTSTRAP_EXTENSIONS,
  "bootstrap gitlab": FORGE_BOOTSTRAP_EXTENSIONS,
  "create kustomization": {
    "--cluster": "a registered Sluice cluster to apply to (flux's global --cluster names a kubeconfig cluster)",
  },
  "get kustomizations": {
    "--cluster": "only those targeting a registered Sluice cluster",
  },
  "build kustomization": { "--no-remote-bases": NO_REMOTE_BASES },
  "diff kustomization": { "--no-remote-bases": NO_REMOTE_BASES },
};

/** Flags both have that differ (alias, boolean or not, default), per command: the difference and why. */
export const DIFFERENCES: Partial<Record<CommandName, Record<string, { differs: string[]; reason: string }>>> = {
  "build kustomization": { "--strict-substitute": STRICT_BY_DEFAULT },
  "diff kustomization": { "--strict-substitute": STRICT_BY_DEFAULT },
};
