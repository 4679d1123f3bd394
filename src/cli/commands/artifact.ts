import { Command, Option } from "commander";
import { FLUX_OCI_EXCLUDES } from "../../artifacts/flux-tarball.js";
import type { DiffFlags, ListFlags, PushFlags, RegistryFlags, TagFlags } from "../artifact.js";
import { fail, globals } from "../context.js";
import { stringSlice } from "../pflag.js";

// `sluice push artifact`, `pull artifact`, `tag artifact`, `list artifacts`, `build artifact`, `diff artifact`:
// flux v2.9.5's flags.

const CREDS = "credentials for OCI registry in the format <username>[:<password>] if --provider is generic";

/** The flags every artifact command has; `insecure` names what --insecure-registry allows (tag has none, as flux). */
const withRegistryFlags = (command: Command, insecure?: string) => {
  command
    .option("--creds <creds>", CREDS)
    .addOption(
      new Option("--provider <provider>", "the OCI provider name (Sluice logs in to aws; azure and gcp are refused)")
        .choices(["generic", "aws", "azure", "gcp"])
        .default("generic"),
    );
  return insecure ? command.option("--insecure-registry", insecure, false) : command;
};

/** pflag's StringSlice with a default: the first value given replaces the default, later ones add to it. */
const ignorePaths = (value: string, previous: string[]) =>
  stringSlice(value, previous === FLUX_OCI_EXCLUDES ? [] : previous);
const repeated = (value: string, previous: string[] = []) => [...previous, value];

export function pushCommand(): Command {
  const push = new Command("push").description("Push artifacts to an OCI registry");
  push.addCommand(
    withRegistryFlags(
      new Command("artifact")
        .description("Archive a folder or a file as Flux does and push it as an OCI artifact")
        .argument("<url>", "oci://<registry>/<repository>:<tag>"),
      "allows artifacts to be pushed without TLS",
    )
      .option("-f, --path <path>", "path to the directory where the Kubernetes manifests are located")
      .option("--source <source>", "the source address, e.g. the Git URL")
      .option("--revision <revision>", "the source revision in the format '<branch|tag>@sha1:<commit-sha>'")
      .option("--ignore-paths <patterns>", "set paths to ignore in .gitignore format", ignorePaths, FLUX_OCI_EXCLUDES)
      .option("-a, --annotations <key=value>", "Set custom OCI annotations in the format '<key>=<value>'", repeated)
      .option(
        "-o, --output <format>",
        "the format in which the artifact digest should be printed, can be 'json' or 'yaml'",
      )
      .option(
        "--reproducible",
        "ensure reproducible image digests by setting the created timestamp to '1970-01-01T00:00:00Z'",
        false,
      )
      .action((url: string, flags: PushFlags, command: Command) =>
        import("../artifact.js")
          .then((m) => m.pushArtifact(url, flags, globals(command)))
          .catch((e: unknown) => fail(e)),
      ),
  );
  return push;
}

/** `sluice build artifact`, under `build` (commands/build.ts). */
export function buildArtifactCommand(): Command {
  return new Command("artifact")
    .description("Build the tarball `push artifact` would upload, into a file")
    .option("-p, --path <path>", "Path to the directory where the Kubernetes manifests are located.")
    .option("-o, --output <file>", "Path to where the artifact tgz file should be written.", "artifact.tgz")
    .option("--ignore-paths <patterns>", "set paths to ignore in .gitignore format", ignorePaths, FLUX_OCI_EXCLUDES)
    .action((flags: { path?: string; output: string; ignorePaths: string[] }) =>
      import("../artifact.js").then((m) => m.buildArtifact(flags)).catch((e: unknown) => fail(e)),
    );
}

/** `sluice diff artifact`, under `diff` (commands/build.ts): exit 1 when the files differ, as flux. */
export function diffArtifactCommand(): Command {
  return withRegistryFlags(
    new Command("artifact")
      .description("Compare a remote OCI artifact's files with a local folder or file")
      .argument("<url>", "oci://<registry>/<repository>:<tag>"),
    "allows the remote artifact to be pulled without TLS",
  )
    .option("--path <path>", "path to the directory where the Kubernetes manifests are located")
    .option("--ignore-paths <patterns>", "set paths to ignore in .gitignore format", ignorePaths, FLUX_OCI_EXCLUDES)
    .action((url: string, flags: DiffFlags, command: Command) =>
      import("../artifact.js").then((m) => m.diffArtifact(url, flags, globals(command))).catch((e: unknown) => fail(e)),
    );
}

export function pullCommand(): Command {
  const pull = new Command("pull").description("Pull artifacts from an OCI registry");
  pull.addCommand(
    withRegistryFlags(
      new Command("artifact")
        .description("Pull an OCI artifact and extract it (regular files and folders only) into a folder")
        .argument("<url>", "oci://<registry>/<repository>:<tag> or @<digest>"),
      "allows artifacts to be pulled without TLS",
    )
      .option("-o, --output <dir>", "path where the artifact content should be extracted.")
      .action((url: string, flags: RegistryFlags & { output?: string }, command: Command) =>
        import("../artifact.js")
          .then((m) => m.pullArtifact(url, flags, globals(command)))
          .catch((e: unknown) => fail(e)),
      ),
  );
  return pull;
}

export function tagCommand(): Command {
  const tag = new Command("tag").description("Tag artifacts in an OCI registry");
  tag.addCommand(
    withRegistryFlags(
      new Command("artifact")
        .description("Tag an OCI artifact with more tags in the same repository")
        .argument("<url>", "oci://<registry>/<repository>:<tag>"),
    )
      .option("--tag <tags>", "tag name", stringSlice)
      .action((url: string, flags: TagFlags, command: Command) =>
        import("../artifact.js")
          .then((m) => m.tagArtifact(url, flags, globals(command)))
          .catch((e: unknown) => fail(e)),
      ),
  );
  return tag;
}

export function listCommand(): Command {
  const list = new Command("list").description("List artifacts in an OCI registry");
  list.addCommand(
    withRegistryFlags(
      new Command("artifacts")
        .description("List the tags of an OCI repository with their digest, source and revision")
        .argument("<url>", "oci://<registry>/<repository>"),
      "allows the remote artifacts list to be fetched without TLS",
    )
      .option("--filter-semver <constraint>", "filter tags returned from the oci repository using semver")
      .option("--filter-regex <regex>", "filter tags returned from the oci repository using regex")
      .action((url: string, flags: ListFlags, command: Command) =>
        import("../artifact.js")
          .then((m) => m.listArtifacts(url, flags, globals(command)))
          .catch((e: unknown) => fail(e)),
      ),
  );
  return list;
}
