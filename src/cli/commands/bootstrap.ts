import { Command, Option } from "commander";
import type { GitFlags } from "../bootstrap.js";
import type { ForgeFlags } from "../bootstrap-forge.js";
import { fail, globals } from "../context.js";
import { stringSlice } from "../pflag.js";

/**
 * `sluice bootstrap git`: registers the root GitRepository and Kustomization (both `flux-system`,
 * as `flux bootstrap` names them) so `sluice run` reconciles the fleet repo from `--path`.
 * `sluice bootstrap github|gitlab`: as `flux bootstrap github|gitlab`, with the repository's push webhook to a Receiver.
 * `sluice bootstrap dir`: registers the Flux objects found in a folder of YAML instead.
 */
export function bootstrapCommand(): Command {
  const bootstrap = new Command("bootstrap").description("Register the root source and Kustomization of a fleet");
  bootstrap.addCommand(
    new Command("git")
      .description("Bootstrap from a Git repository over HTTP(S)")
      .requiredOption("--url <url>", "Git repository URL (https://…, or http://… with --allow-insecure-http)")
      .option("--branch <branch>", "Git branch", "main")
      .option("--path <path>", "path in the repository to the cluster's folder, e.g. clusters/dev (default: the root)")
      .option("--interval <duration>", "source sync interval", "1m")
      .option(
        "--cluster <name>",
        "a registered cluster the fleet is applied to (sluice create cluster); default: the control plane's own",
      )
      .option("-u, --username <name>", "basic authentication username, stored with --password", "git")
      .option("-p, --password <password>", "basic authentication password or token")
      .option("--with-bearer-token", "store --password as a bearer token (key bearerToken) instead", false)
      .option("--ca-file <path>", "TLS CA file for a self-signed server certificate, stored as ca.crt")
      .option("--secret-name <name>", "the Secret the credentials are stored in", "flux-system")
      .option("--secret-ref <name>", "an existing Secret with Git credentials instead of --username/--password")
      .option("--allow-insecure-http", "acknowledge credentials sent over http:// (no warning)", false)
      .option("-s, --silent", "assume the deploy key is already set up (Sluice never asks)", false)
      .action((flags: GitFlags, command: Command) =>
        import("../bootstrap.js").then((m) => m.bootstrapGit(flags, globals(command))).catch(fail),
      ),
  );
  bootstrap.addCommand(forgeCommand("github"));
  bootstrap.addCommand(forgeCommand("gitlab"));
  bootstrap.addCommand(
    new Command("dir")
      .description("Register every Flux object (GitRepository, Kustomization, Receiver) found in a folder of YAML")
      .argument("<folder>")
      .action((folder: string, _flags, command: Command) =>
        import("../bootstrap.js").then((m) => m.bootstrapDir(folder, globals(command))).catch(fail),
      ),
  );
  return bootstrap;
}

/** `bootstrap github` and `bootstrap gitlab`: flux's flags for them (flux2 v2.9.5 bootstrap_github.go, bootstrap_gitlab.go). */
function forgeCommand(kind: "github" | "gitlab"): Command {
  const forge = kind === "github" ? "GitHub" : "GitLab";
  const command = new Command(kind)
    .description(
      `Create or find the ${forge} repository, give it a deploy key (or use token auth), commit the sync manifests, register them, and add the push webhook to Sluice's Receiver (token from ${kind === "github" ? "GITHUB_TOKEN" : "GITLAB_TOKEN"})`,
    )
    .requiredOption("--owner <name>", `${forge} user or ${kind === "github" ? "organization" : "group"} name`)
    .requiredOption("--repository <name>", `${forge} repository name`)
    .option("--branch <branch>", "Git branch", "main")
    .option(
      "--path <path>",
      "path relative to the repository root, when specified the cluster sync will be scoped to this path",
    )
    .option("--interval <duration>", "sync interval", "1m")
    .option(
      "--personal",
      `if true, the owner is assumed to be a ${forge} user; otherwise ${kind === "github" ? "an org" : "a group"}`,
      false,
    )
    // GitLab's --private is deprecated for --visibility in flux, and hidden there as here.
    .addOption(
      new Option("--private", "if true, the repository is setup or configured as private")
        .default(true)
        .hideHelp(kind === "gitlab"),
    )
    .addOption(new Option("--no-private", "the repository is created public").hideHelp(kind === "gitlab"))
    .option(
      "--team <team[:permission]>",
      `${forge} ${kind === "github" ? "team slugs" : "group paths"} and the access given to them (maintain by default; comma-separated or repeated)`,
      stringSlice,
      [],
    )
    .option("--hostname <host>", `${forge} hostname`, kind === "github" ? "github.com" : "gitlab.com")
    .option("--ssh-hostname <host>", "SSH hostname, when the SSH host differs from the HTTPS one")
    .option(
      "--api-url <url>",
      `the REST API root (default https://api.github.com or https://<hostname>/${kind === "github" ? "api/v3" : "api/v4"})`,
    )
    .option("--read-write-key", "if true, the deploy key is configured with read/write permissions", false)
    .option(
      "--token-auth",
      "sync over HTTPS with the token (kept in --secret-name) instead of an SSH deploy key",
      false,
    )
    .option(
      "--secret-name <name>",
      "name of the secret the sync credentials can be found in or stored to",
      "flux-system",
    )
    .option("--author-name <name>", "author name for Git commits", "Flux")
    .option("--author-email <email>", "author email for Git commits", "")
    .option("--commit-message-appendix <text>", "string to add to the commit messages, e.g. '[ci skip]'")
    .option(
      "--webhook-url <url>",
      "the control plane's Receiver URL (`sluice run`'s address; with --aws-bucket, the deployed stack's WebhookUrl output by default): a Receiver and the repository's push webhook to it",
    )
    .option("--allow-insecure-http", "allow http:// for --api-url, clone URLs and --webhook-url (a test server)", false)
    .option(
      "--cluster <name>",
      "a registered cluster the fleet is applied to (sluice create cluster); default: the control plane's own",
    );
  if (kind === "gitlab")
    command.addOption(
      new Option("--visibility <visibility>", "specifies the visibility of the repository")
        .choices(["public", "private", "internal"])
        .default("private"),
    );
  return command.action((flags: ForgeFlags, self: Command) =>
    import("../bootstrap-forge.js").then((m) => m.bootstrapForge(kind, flags, globals(self))).catch(fail),
  );
}
