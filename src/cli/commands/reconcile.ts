import { Command } from "commander";
import type { Kind } from "../reconcile.js";
import { fail } from "../context.js";

/** Two sub-commands (`source git NAME`, `kustomization NAME`) sharing one action. */
function perKind<N extends string | string[]>(
  parent: Command,
  argument: string,
  action: (kind: Kind, objectName: N, command: Command) => Promise<void>,
  extra?: (c: Command) => Command,
): Command {
  const description = parent.description();
  const source = new Command("source").description(`${description}: sources`);
  source.addCommand(
    new Command("git")
      .argument(argument)
      .description(`${description}: a GitRepository`)
      .action((n: N, _f, c: Command) => action("GitRepository", n, c).catch(fail)),
  );
  parent.addCommand(source);
  const ks = new Command("kustomization").alias("ks").argument(argument).description(`${description}: a Kustomization`);
  parent.addCommand(
    (extra ? extra(ks) : ks).action((n: N, _f, c: Command) => action("Kustomization", n, c).catch(fail)),
  );
  return parent;
}

/**
 * `sluice reconcile`: sets Flux's `reconcile.fluxcd.io/requestedAt` annotation and waits until the
 * control plane reports it handled (status.lastHandledReconcileAt), as `flux reconcile` does.
 */
export function reconcileCommand(): Command {
  return perKind<string>(
    new Command("reconcile").description("Trigger a reconciliation"),
    "<name>",
    (kind, name, command) => import("../reconcile.js").then((m) => m.reconcile(kind, name, command)),
    (c) => c.option("--with-source", "reconcile the source first", false),
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
  return [perKind<string[]>(suspend, "[names...]", set(true)), perKind<string[]>(resume, "[names...]", set(false))];
}
