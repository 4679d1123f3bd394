import { Command } from "commander";
import type { BuildFlags } from "../build.js";
import { fail, globals } from "../context.js";

const withBuildFlags = (c: Command) =>
  c
    .argument("<name>")
    .requiredOption("--path <dir>", "local folder to build, the one the Kustomization's spec.path points at")
    .option(
      "--kustomization-file <file>",
      "the Kustomization YAML to take the spec from (default: the registered one)",
    );

/** `sluice build kustomization NAME --path DIR`: renders locally exactly as the reconciler would, to stdout. */
export function buildCommand(): Command {
  const build = new Command("build").description("Build a Kustomization locally");
  build.addCommand(
    withBuildFlags(
      new Command("kustomization")
        .alias("ks")
        .description("Render a Kustomization from a local folder, as Sluice would apply it"),
    )
      .option("--dry-run", "do not read substituteFrom Secrets/ConfigMaps from the cluster", false)
      .action((name: string, flags: BuildFlags, command: Command) =>
        import("../build.js").then((m) => m.printBuild(name, flags, globals(command))).catch((e: unknown) => fail(e)),
      ),
  );
  return build;
}

/**
 * `sluice diff kustomization NAME --path DIR`: server-side dry-run of the local render against the
 * cluster. Exit code as `flux diff`: 0 no differences, 1 differences, 2 an error.
 */
export function diffCommand(): Command {
  const diff = new Command("diff").description("Diff a Kustomization's local render against the cluster");
  diff.addCommand(
    withBuildFlags(
      new Command("kustomization")
        .alias("ks")
        .description("Show what applying the local folder would change (server-side dry-run)"),
    ).action((name: string, flags: BuildFlags, command: Command) =>
      import("../build.js")
        .then((m) => m.diffKustomization(name, flags, globals(command)))
        .then(
          (changed) => void (process.exitCode = changed ? 1 : 0),
          (e: unknown) => fail(e, 2),
        ),
    ),
  );
  return diff;
}
