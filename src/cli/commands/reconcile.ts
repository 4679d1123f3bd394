import { Command } from "commander";
import type { Kind } from "../reconcile.js";
import { fail } from "../context.js";
import { REQUESTABLE_KINDS } from "../../api/requestable-kinds.js";

/** The sub-commands of `reconcile`, `suspend` and `resume`, by the words that name them (flux's). */
const KIND_WORDS: { words: [string, ...string[]]; kind: Kind; what: string }[] = [
  { words: ["source", "git"], kind: "GitRepository", what: "a GitRepository" },
  { words: ["source", "oci"], kind: "OCIRepository", what: "an OCIRepository" },
  { words: ["source", "bucket"], kind: "Bucket", what: "a Bucket" },
  { words: ["source", "helm"], kind: "HelmRepository", what: "a HelmRepository" },
  { words: ["source", "chart"], kind: "HelmChart", what: "a HelmChart" },
  { words: ["kustomization"], kind: "Kustomization", what: "a Kustomization" },
  { words: ["helmrelease"], kind: "HelmRelease", what: "a HelmRelease" },
  { words: ["alert"], kind: "Alert", what: "an Alert" },
  { words: ["alert-provider"], kind: "Provider", what: "a Provider" },
  { words: ["image", "repository"], kind: "ImageRepository", what: "an ImageRepository" },
  { words: ["image", "policy"], kind: "ImagePolicy", what: "an ImagePolicy" },
  { words: ["image", "update"], kind: "ImageUpdateAutomation", what: "an ImageUpdateAutomation" },
];
/** The kinds that name a source (`sourceRef`), which `reconcile --with-source` reconciles first. */
const WITH_SOURCE: Kind[] = ["Kustomization", "HelmChart", "HelmRelease"];

/** One sub-command per kind (`source git NAME`, `kustomization NAME`, …) of `kinds`, sharing one action. */
function perKind<N extends string | string[]>(
  parent: Command,
  kinds: Kind[],
  argument: string,
  action: (kind: Kind, objectName: N, command: Command) => Promise<void>,
  withSource?: (c: Command) => Command,
): Command {
  const description = parent.description();
  // Two-word kinds are grouped under their first word: `source git`, `image update`.
  const groups = new Map<string, Command>();
  const groupOf = (word: string) => {
    let group = groups.get(word);
    if (!group) {
      group = new Command(word).description(`${description}: ${word === "source" ? "sources" : `${word} objects`}`);
      groups.set(word, group);
      parent.addCommand(group);
    }
    return group;
  };
  groupOf("source");
  for (const { words, kind, what } of KIND_WORDS.filter((k) => kinds.includes(k.kind))) {
    const word = words.at(-1)!;
    let command = new Command(word).argument(argument).description(`${description}: ${what}`);
    if (withSource && WITH_SOURCE.includes(kind)) command = withSource(command);
    if (kind === "Kustomization") command.alias("ks");
    if (kind === "HelmRelease") command.alias("hr");
    command.action((n: N, _f, c: Command) => action(kind, n, c).catch(fail));
    (words.length > 1 ? groupOf(words[0]) : parent).addCommand(command);
  }
  return parent;
}

/**
 * `sluice reconcile`: sets Flux's `reconcile.fluxcd.io/requestedAt` annotation and waits until the
 * control plane reports it handled (status.lastHandledReconcileAt), as `flux reconcile` does.
 */
export function reconcileCommand(): Command {
  return perKind<string>(
    new Command("reconcile").description("Trigger a reconciliation"),
    [...REQUESTABLE_KINDS],
    "<name>",
    (kind, name, command) => import("../reconcile.js").then((m) => m.reconcile(kind, name, command)),
    (c) => {
      c.option("--with-source", "reconcile the source first", false);
      if (c.name() !== "helmrelease") return c;
      return c
        .option("--force", "force a one-off install or upgrade of the HelmRelease", false)
        .option("--reset", "reset the failure count of the HelmRelease", false);
    },
  );
}

/** `sluice suspend` / `sluice resume` of one or more names, or `--all` in the namespace: set or clear `spec.suspend`. */
export function suspendCommands(): Command[] {
  const set = (suspend: boolean) => (kind: Kind, names: string[], command: Command) =>
    import("../reconcile.js").then((m) => m.setSuspended(suspend, kind, names, command));
  const suspend = new Command("suspend")
    .description("Suspend reconciliation")
    .option("--all", "suspend all objects of the kind in the namespace", false);
  const resume = new Command("resume")
    .description("Resume a suspended reconciliation")
    .option("--all", "resume all objects of the kind in the namespace", false)
    .option("--wait", "wait for each to reconcile (default: only when one name is given)")
    .option("--no-wait", "do not wait, even for one name");
  // Every kind that reconciles on request, but a Provider: sluice has no suspend alert-provider.
  const kinds: Kind[] = REQUESTABLE_KINDS.filter((kind) => kind !== "Provider");
  return [
    perKind<string[]>(suspend, kinds, "[names...]", set(true)),
    perKind<string[]>(resume, kinds, "[names...]", set(false)),
  ];
}
