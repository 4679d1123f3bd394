import type { Command } from "commander";
import { stringify } from "yaml";
import { parseEntryId } from "../apply/inventory.js";
import { formatId, type ObjMetadata } from "../apply/object.js";
import type { Store } from "../store/store.js";
import { globals, openStore } from "./context.js";

/** The flags of `sluice tree kustomization`. */
export interface TreeFlags {
  compact: boolean;
  output?: string;
}

/** One object and what it manages, keyed as flux's `tree -o json|yaml` writes cli-utils' ObjMetadata. */
interface Node {
  resource: { Namespace: string; Name: string; GroupKind: { Group: string; Kind: string } };
  resources?: Node[];
}

const KUSTOMIZE_GROUP = "kustomize.toolkit.fluxcd.io";
const HELM_GROUP = "helm.toolkit.fluxcd.io";

/**
 * `sluice tree kustomization NAME` (defined in commands/tree.ts): the inventory as a tree, descending
 * into child Kustomizations that apply to the same cluster, as flux's tree does; `--compact` keeps
 * only Flux objects; `-o json|yaml` prints the tree as data.
 */
export async function printTree(name: string, flags: TreeFlags, command: Command): Promise<void> {
  const { namespace } = globals(command);
  const store = await openStore(globals(command));
  if (!(await store.get({ kind: "Kustomization", namespace, name })))
    throw new Error(`Kustomization '${name}' not found in ${namespace} namespace`);
  const root = node({ namespace, name, group: KUSTOMIZE_GROUP, kind: "Kustomization" });
  await grow(store, root, flags.compact);
  print(root, flags.output);
}

/** `sluice tree artifact generator NAME`: the ExternalArtifacts of an ArtifactGenerator's inventory, as flux's. */
export async function printGeneratorTree(name: string, flags: Pick<TreeFlags, "output">, command: Command) {
  const { namespace } = globals(command);
  const store = await openStore(globals(command));
  const generator = await store.get({ kind: "ArtifactGenerator", namespace, name });
  if (!generator) throw new Error(`ArtifactGenerator '${name}' not found in ${namespace} namespace`);
  const root = node({ namespace, name, group: "source.extensions.fluxcd.io", kind: "ArtifactGenerator" });
  const inventory = (generator.object.status as { inventory?: { name: string; namespace: string }[] } | undefined)
    ?.inventory;
  for (const ref of inventory ?? [])
    (root.resources ??= []).push(
      node({ namespace: ref.namespace, name: ref.name, group: "source.toolkit.fluxcd.io", kind: "ExternalArtifact" }),
    );
  print(root, flags.output);
}

function print(root: Node, output: string | undefined): void {
  if (output === "json") process.stdout.write(`${JSON.stringify(root, null, 2)}\n`);
  else if (output === "yaml") process.stdout.write(stringify(root, { sortMapEntries: true, indentSeq: false }));
  else process.stdout.write(`${text(root.resource)}\n${lines(root, "").join("")}`);
}

function node(meta: ObjMetadata): Node {
  return {
    resource: { Namespace: meta.namespace, Name: meta.name, GroupKind: { Group: meta.group, Kind: meta.kind } },
  };
}

/**
 * Adds a Kustomization's inventory under its node, and under each child Kustomization or HelmRelease
 * its own (a HelmRelease's status.inventory: the objects of its release, which flux reads from Helm's storage).
 */
async function grow(store: Store, parent: Node, compact: boolean): Promise<void> {
  const { Namespace: namespace, Name: name, GroupKind } = parent.resource;
  const object = (await store.get({ kind: GroupKind.Kind, namespace, name }))?.object;
  const entries = (object?.status as { inventory?: { entries?: { id: string }[] } } | undefined)?.inventory?.entries;
  const remote = Boolean((object?.spec as { kubeConfig?: unknown } | undefined)?.kubeConfig);
  for (const meta of (entries ?? []).map((e) => parseEntryId(e.id))) {
    if (compact && !meta.group.includes("toolkit.fluxcd.io")) continue;
    const kustomization = meta.group === KUSTOMIZE_GROUP && meta.kind === "Kustomization";
    const helmRelease = meta.group === HELM_GROUP && meta.kind === "HelmRelease";
    if (kustomization && meta.namespace === namespace && meta.name === name) continue;
    const child = node(meta);
    (parent.resources ??= []).push(child);
    // A Kustomization applied to a remote cluster lives there, not in this Store.
    if ((kustomization || helmRelease) && !remote) await grow(store, child, compact);
  }
}

function text(resource: Node["resource"]): string {
  return formatId({ kind: resource.GroupKind.Kind, namespace: resource.Namespace, name: resource.Name });
}

function lines(parent: Node, indent: string): string[] {
  const children = parent.resources ?? [];
  return children.flatMap((child, i) => {
    const last = i === children.length - 1;
    return [
      `${indent}${last ? "└── " : "├── "}${text(child.resource)}\n`,
      ...lines(child, `${indent}${last ? "    " : "│   "}`),
    ];
  });
}
