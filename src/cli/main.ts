import { Command } from "commander";
import { version } from "../version.js";
import { agentCommand } from "./agent.js";
import { bootstrapCommand } from "./bootstrap.js";
import { buildCommand, diffCommand } from "./build.js";
import { checkCommand } from "./check.js";
import { createCommand } from "./create.js";
import { eventsCommand } from "./events.js";
import { getCommand } from "./get.js";
import { withPflagBooleans } from "./pflag.js";
import { reconcileCommand, suspendCommands } from "./reconcile.js";
import { runCommand } from "./run.js";
import { treeCommand } from "./tree.js";

/** The `sluice` command: Flux-compatible GitOps, run locally or on AWS. */
export function program(): Command {
  return new Command("sluice")
    .description("Sluice keeps Kubernetes clusters in sync with Git, speaking Flux's API")
    .version(version, "-v, --version", "print the version")
    .showHelpAfterError()
    .option(
      "--state-dir <dir>",
      "local control plane state (store, artifacts, events)",
      process.env.SLUICE_STATE_DIR ?? ".sluice/state",
    )
    .option("--kubeconfig <path>", "path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    .option("--context <name>", "kubeconfig context to use")
    .option("-n, --namespace <namespace>", "the namespace scope of the operation", "flux-system")
    .option("--timeout <duration>", "timeout for operations that wait", "5m")
    .option(
      "--aws-bucket <bucket>",
      "work on the control plane deployed to AWS (its state bucket) instead of --state-dir",
      process.env.SLUICE_AWS_BUCKET,
    )
    .option(
      "--aws-queue-url <url>",
      "the deployed control plane's FIFO queue, to reconcile what the CLI changes at once",
      process.env.SLUICE_AWS_QUEUE_URL,
    )
    .addCommand(runCommand())
    .addCommand(bootstrapCommand())
    .addCommand(createCommand())
    .addCommand(getCommand())
    .addCommand(reconcileCommand())
    .addCommand(suspendCommands()[0]!)
    .addCommand(suspendCommands()[1]!)
    .addCommand(buildCommand())
    .addCommand(diffCommand())
    .addCommand(eventsCommand())
    .addCommand(treeCommand())
    .addCommand(checkCommand())
    .addCommand(agentCommand());
}

const sluice = program();
await sluice.parseAsync(withPflagBooleans(sluice, process.argv));
