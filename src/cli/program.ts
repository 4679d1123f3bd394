import { Command } from "commander";
import { version } from "../version.js";
import { agentCommand } from "./commands/agent.js";
import { listCommand, pullCommand, pushCommand, tagCommand } from "./commands/artifact.js";
import { bootstrapCommand } from "./commands/bootstrap.js";
import { buildCommand, diffCommand } from "./commands/build.js";
import { checkCommand } from "./commands/check.js";
import { createCommand } from "./commands/create.js";
import { debugCommand } from "./commands/debug.js";
import { eventsCommand } from "./commands/events.js";
import { getCommand } from "./commands/get.js";
import { reconcileCommand, suspendCommands } from "./commands/reconcile.js";
import { runCommand } from "./commands/run.js";
import { treeCommand } from "./commands/tree.js";
import { uiCommand } from "./commands/ui.js";

// commands/ holds each command's flags; its action imports the implementation (./get.js, ./run.js…)
// when it runs, so `--version`, `--help` and every other command never load it or its dependencies
// (the AWS SDK, the Kubernetes client, isomorphic-git…). The bundle keeps each in its own chunk.

/** The `sluice` command: Flux-compatible GitOps, run locally or on AWS. */
export function program(): Command {
  const [suspend, resume] = suspendCommands();
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
    .addCommand(suspend!)
    .addCommand(resume!)
    .addCommand(buildCommand())
    .addCommand(diffCommand())
    .addCommand(eventsCommand())
    .addCommand(treeCommand())
    .addCommand(uiCommand())
    .addCommand(debugCommand())
    .addCommand(checkCommand())
    .addCommand(agentCommand())
    .addCommand(pushCommand())
    .addCommand(pullCommand())
    .addCommand(tagCommand())
    .addCommand(listCommand());
}
