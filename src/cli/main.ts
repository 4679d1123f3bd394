import { createRequire } from "node:module";
import { Command } from "commander";
import { checkCommand } from "./check.js";

const { version } = createRequire(import.meta.url)("../../package.json") as { version: string };

/** The `sluice` command: Flux-compatible GitOps, run locally or on AWS. */
export function program(): Command {
  return new Command("sluice")
    .description("Sluice keeps Kubernetes clusters in sync with Git, speaking Flux's API")
    .version(version, "-v, --version", "print the version")
    .showHelpAfterError()
    .addCommand(checkCommand());
}

await program().parseAsync(process.argv);
