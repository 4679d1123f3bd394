import { Command } from "commander";
import { fail } from "../context.js";
import type { UiFlags } from "../ui.js";

/** `sluice ui --aws-bucket B`: the web UI served on loopback against a control plane deployed to AWS. */
export function uiCommand(): Command {
  return new Command("ui")
    .description(
      "Serve the web UI on loopback against the control plane deployed to AWS (--aws-bucket), with your own AWS credentials",
    )
    .option("--region <region>", "the bucket's region (default: the AWS SDK's, from AWS_REGION or the profile)")
    .option("--ui-address <host:port>", "where the web UI listens (loopback by default)", "127.0.0.1:9295")
    .action((flags: UiFlags, command: Command) =>
      import("../ui.js").then((m) => m.serveAwsUi(flags, command)).catch(fail),
    );
}
