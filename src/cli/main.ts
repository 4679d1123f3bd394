import { Command } from "commander";
import { version } from "../version.js";
import { checkCommand } from "./check.js";

/** The `sluice` command: Flux-compatible GitOps, run locally or on AWS. */
export function program(): Command {
  return new Command("sluice")
    .description("Sluice keeps Kubernetes clusters in sync with Git, speaking Flux's API")
    .version(version, "-v, --version", "print the version")
    .showHelpAfterError()
    .addCommand(checkCommand());
}

await program().parseAsync(process.argv);
