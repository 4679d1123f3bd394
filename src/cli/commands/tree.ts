import { Command, Option } from "commander";
import type { TreeFlags } from "../tree.js";
import { fail } from "../context.js";

/** `sluice tree kustomization NAME`: the inventory as a tree, descending into child Kustomizations; `tree artifact generator NAME`. */
export function treeCommand(): Command {
  const tree = new Command("tree").description("Print the objects a Kustomization manages, as a tree");
  tree.addCommand(
    new Command("kustomization")
      .alias("ks")
      .argument("<name>")
      .description("Print the inventory of a Kustomization and of the Kustomizations it manages")
      .option("--compact", "list Flux objects only", false)
      .addOption(new Option("-o, --output <format>", "print the tree as data: json or yaml").choices(["json", "yaml"]))
      .action((name: string, flags: TreeFlags, command: Command) =>
        import("../tree.js").then((m) => m.printTree(name, flags, command)).catch(fail),
      ),
  );
  const artifact = new Command("artifact").description("Print the objects an artifact object manages, as a tree");
  artifact.addCommand(
    new Command("generator")
      .argument("<name>")
      .description("Print the ExternalArtifacts an ArtifactGenerator manages")
      .addOption(new Option("-o, --output <format>", "print the tree as data: json or yaml").choices(["json", "yaml"]))
      .action((name: string, flags: Pick<TreeFlags, "output">, command: Command) =>
        import("../tree.js").then((m) => m.printGeneratorTree(name, flags, command)).catch(fail),
      ),
  );
  tree.addCommand(artifact);
  return tree;
}
