import { Command } from "commander";
import { fail } from "../context.js";

/** `sluice tree kustomization NAME`: the inventory as a tree, descending into child Kustomizations. */
export function treeCommand(): Command {
  const tree = new Command("tree").description("Print the objects a Kustomization manages, as a tree");
  tree.addCommand(
    new Command("kustomization")
      .alias("ks")
      .argument("<name>")
      .description("Print the inventory of a Kustomization and of the Kustomizations it manages")
      .action((name: string, _flags, command: Command) =>
        import("../tree.js").then((m) => m.printTree(name, command)).catch(fail),
      ),
  );
  return tree;
}
