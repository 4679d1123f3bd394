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
      .requiredOption("--url <url>", "Git repository URL (https://…)")
      .option("--branch <branch>", "Git branch", "main")
      .option("--path <path>", "path in the repository to the cluster's folder, e.g. clusters/dev", "./")
      .option("--interval <duration>", "source and root Kustomization interval", "1m")
      .option(
        "--cluster <name>",
        "a registered cluster the fleet is applied to (sluice create cluster); default: the control plane's own",
      )
      .option("--username <name>", "Git username; stored with --password in the Secret flux-system")
      .option("--password <password>", "Git password or token")
      .option("--secret-ref <name>", "an existing Secret with Git credentials instead of --username/--password")
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
