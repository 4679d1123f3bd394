import { Command } from "commander";
import type { GitFlags } from "../bootstrap.js";
import { fail, globals } from "../context.js";

/**
 * `sluice bootstrap git`: registers the root GitRepository and Kustomization (both `flux-system`,
 * as `flux bootstrap` names them) so `sluice run` reconciles the fleet repo from `--path`.
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
