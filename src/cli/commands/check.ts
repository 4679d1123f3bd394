import { Command } from "commander";
import { globals } from "../context.js";

/** `sluice check --pre`: are the rendering binaries usable and the cluster reachable and new enough? */
export function checkCommand(): Command {
  return new Command("check")
    .description("Check requirements: rendering binaries (kubectl/kustomize, helm) and the Kubernetes cluster")
    .option("--pre", "only run the pre-installation checks", false)
    .action((_flags: unknown, command: Command) => import("../check.js").then((m) => m.check(globals(command))));
}
