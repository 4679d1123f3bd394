import { Command } from "commander";
import { fail, globals } from "../context.js";
import type { TableKind } from "../get.js";

/** `sluice get <word> [name]`: the table of one kind's objects. */
function kindCommand(word: string, kind: TableKind, what: string): Command {
  return new Command(word)
    .description(`Show the status of ${what}`)
    .argument("[name]")
    .action((name: string | undefined, _flags, command: Command) =>
      import("../get.js").then((m) => m.kindTable(kind, command, name)).catch(fail),
    );
}

/** `sluice get sources git|helm|chart|oci|bucket|external`, `get artifact generators`, `get alerts`, `get alert-providers`, `get kustomizations`, `get helmreleases`: `flux get`'s table (NAME REVISION SUSPENDED READY MESSAGE). */
export function getCommand(): Command {
  const get = new Command("get")
    .description("Show the status of sources, Kustomizations, HelmReleases, Alerts and Providers")
    .option("-A, --all-namespaces", "list across all namespaces", false)
    .option("--no-header", "skip the header when printing the results")
    .option("-w, --watch", "after listing, print each object again when it changes, until --timeout", false)
    .option(
      "--status-selector <type=status>",
      "only objects whose condition has this status, e.g. ready=false or ready!=true",
    )
    .option("-l, --label-selector <selector>", "only objects whose labels match, e.g. app=web,tier!=db");
  const sources = new Command("sources").description("Show the status of sources");
  for (const [word, kind] of [
    ["git", "GitRepository"],
    ["helm", "HelmRepository"],
    ["chart", "HelmChart"],
    ["oci", "OCIRepository"],
    ["bucket", "Bucket"],
    ["external", "ExternalArtifact"],
  ] as const)
    sources.addCommand(kindCommand(word, kind, `${kind} sources`));
  get.addCommand(sources);
  const artifacts = new Command("artifacts").alias("artifact").description("Show the status of artifact objects");
  artifacts.addCommand(kindCommand("generators", "ArtifactGenerator", "ArtifactGenerators").alias("generator"));
  get.addCommand(artifacts);
  const images = new Command("images").alias("image").description("Show the status of image automation objects");
  images.addCommand(kindCommand("repository", "ImageRepository", "ImageRepositories"));
  images.addCommand(kindCommand("policy", "ImagePolicy", "ImagePolicies"));
  images.addCommand(kindCommand("update", "ImageUpdateAutomation", "ImageUpdateAutomations"));
  images.addCommand(
    new Command("all")
      .description("Show the status of every image object: ImageRepositories, ImagePolicies, ImageUpdateAutomations")
      .action((_flags, command: Command) => import("../get.js").then((m) => m.imagesTables(command)).catch(fail)),
  );
  get.addCommand(images);
  get.addCommand(kindCommand("alerts", "Alert", "Alerts").alias("alert"));
  get.addCommand(kindCommand("alert-providers", "Provider", "Providers").alias("alert-provider"));
  get.addCommand(
    new Command("kustomizations")
      .alias("ks")
      .alias("kustomization")
      .description("Show the status of Kustomizations")
      .argument("[name]")
      .option("--show-source", "show the source reference of each Kustomization", false)
      .option("--cluster <name>", "only those targeting this registered cluster (annotation sluice.dev/cluster)")
      .action((name: string | undefined, _flags, command: Command) =>
        import("../get.js").then((m) => m.kustomizationsTable(command, name)).catch(fail),
      ),
  );
  get.addCommand(
    new Command("helmreleases")
      .alias("hr")
      .alias("helmrelease")
      .description("Show the status of HelmReleases")
      .argument("[name]")
      .option("--show-source", "show the source reference of each HelmRelease", false)
      .action((name: string | undefined, _flags, command: Command) =>
        import("../get.js").then((m) => m.helmReleasesTable(command, name)).catch(fail),
      ),
  );
  get.addCommand(
    new Command("clusters")
      .description(
        "Show registered clusters: mode, an agent's last contact and revision, and their Kustomizations (objects, Ready, failing, last applied)",
      )
      .action((_flags, command: Command) =>
        import("../clusters.js").then((m) => m.clustersTable(globals(command))).catch(fail),
      ),
  );
  return get;
}
