import type { Command } from "commander";
import { parseEntryId } from "../apply/inventory.js";
import { formatId } from "../apply/object.js";
import type { Store } from "../store/store.js";
import { globals, openStore } from "./context.js";

/** `sluice tree kustomization NAME` (defined in commands/tree.ts): the inventory as a tree, descending into child Kustomizations. */
export async function printTree(name: string, command: Command): Promise<void> {
  const options = globals(command);
  const store = await openStore(options);
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
