import { Command } from "commander";
import type { BuildFlags } from "../build.js";
import { buildArtifactCommand, diffArtifactCommand } from "./artifact.js";
import { fail, globals } from "../context.js";
import { stringSlice, stringToString } from "../pflag.js";

/** The flags `build` and `diff` share, as flux's. */
const withBuildFlags = (c: Command) =>
  c
    .argument("<name>")
    .requiredOption("--path <dir>", "local folder to build, the one the Kustomization's spec.path points at")
    .option("--kustomization-file <file>", "the Kustomization YAML to take the spec from (default: the registered one)")
    .option("--ignore-paths <patterns>", "files to leave out, gitignore patterns relative to --path", stringSlice)
    .option(
      "--strict-substitute",
      "a variable without a value or default fails the build; on by default, as the controller substitutes",
      true,
    )
    .option("--no-strict-substitute", "leave such variables empty instead")
    .option("-r, --recursive", "also build the Kustomizations the render contains, from --local-sources", false)
    .option(
      "--local-sources <Kind/namespace/name=folder>",
      "local folders of the sources --recursive reads, comma-separated",
      stringToString,
    )
    .option("--in-memory-build", "accepted for flux's scripts: Sluice always builds a private copy", false)
    .option("--no-remote-bases", "refuse kustomize remote bases, as `sluice run --no-remote-bases`");

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
  build.addCommand(buildArtifactCommand());
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
    )
      .option("--progress-bar", "accepted for flux's scripts: Sluice prints its progress as lines", true)
      .option("--no-progress-bar", "the same")
      .option(
        "--ignore-not-found",
        "accepted for flux's scripts: with --kustomization-file, Sluice never needs the registered one",
        false,
      )
      .action((name: string, flags: BuildFlags, command: Command) =>
        import("../build.js")
          .then((m) => m.diffKustomization(name, flags, globals(command)))
          .then(
            (changed) => void (process.exitCode = changed ? 1 : 0),
            (e: unknown) => fail(e, 2),
          ),
      ),
  );
  diff.addCommand(diffArtifactCommand());
  return diff;
}
