import { Command } from "commander";
import type { DebugHelmReleaseFlags } from "../debug.js";
import { fail } from "../context.js";

/** `sluice debug helmrelease NAME`: flux's troubleshooting views of a HelmRelease (status, history, final values). */
export function debugCommand(): Command {
  return new Command("debug").description("Debug Flux objects").addCommand(
    new Command("helmrelease")
      .alias("hr")
      .description(
        "Debug a HelmRelease. WARNING: --show-values prints the values of the Secrets its spec.valuesFrom names",
      )
      .argument("<name>")
      .option("--show-status", "print the status of the Helm release", false)
      .option("--show-values", "print the final values of the Helm release", false)
      .option("--show-history", "print the reconciliation history of the Helm release", false)
      .action((name: string, flags: DebugHelmReleaseFlags, command: Command) =>
        import("../debug.js").then((m) => m.debugHelmRelease(name, flags, command)).catch(fail),
      ),
  );
}
