import { Command } from "commander";
import { parseEntryId } from "../apply/inventory.js";
import { formatId } from "../apply/object.js";
import type { Store } from "../store/store.js";
import { fail, globals, openStore } from "./context.js";

/** `sluice tree kustomization NAME`: the inventory as a tree, descending into child Kustomizations. */
export function treeCommand(): Command {
  const tree = new Command("tree").description("Print the objects a Kustomization manages, as a tree");
  tree.addCommand(
    new Command("kustomization")
      .alias("ks")
      .argument("<name>")
      .description("Print the inventory of a Kustomization and of the Kustomizations it manages")
      .action((name: string, _flags, command: Command) => printTree(name, command).catch(fail)),
  );
  return tree;
}

async function printTree(name: string, command: Command): Promise<void> {
  const options = globals(command);
  const store = openStore(options);
  if (!(await store.get({ kind: "Kustomization", namespace: options.namespace, name })))
    throw new Error(`Kustomization '${name}' not found in ${options.namespace} namespace`);
  process.stdout.write(
    `Kustomization/${options.namespace}/${name}\n${(await branches(store, options.namespace, name, "")).join("")}`,
  );
}

async function branches(store: Store, namespace: string, name: string, indent: string): Promise<string[]> {
  const stored = await store.get({ kind: "Kustomization", namespace, name });
  const entries = (
    (stored?.object.status as { inventory?: { entries: { id: string }[] } } | undefined)?.inventory?.entries ?? []
  ).map((e) => parseEntryId(e.id));
  const lines: string[] = [];
  for (const [i, meta] of entries.entries()) {
    const last = i === entries.length - 1;
    lines.push(`${indent}${last ? "└── " : "├── "}${formatId(meta)}\n`);
    if (meta.kind === "Kustomization" && meta.group === "kustomize.toolkit.fluxcd.io")
      lines.push(...(await branches(store, meta.namespace, meta.name, `${indent}${last ? "    " : "│   "}`)));
  }
  return lines;
}
