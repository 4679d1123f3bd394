import { Command } from "commander";
import type { Kind } from "../reconcile.js";
import { fail } from "../context.js";

/** Two sub-commands (`source git NAME`, `kustomization NAME`) sharing one action. */
function perKind(
  name: string,
  description: string,
  action: (kind: Kind, objectName: string, command: Command) => Promise<void>,
  extra?: (c: Command) => Command,
): Command {
  const parent = new Command(name).description(description);
  const source = new Command("source").description(`${description}: sources`);
  source.addCommand(
    new Command("git")
      .argument("<name>")
      .description(`${description}: a GitRepository`)
      .action((n: string, _f, c: Command) => action("GitRepository", n, c).catch(fail)),
  );
  parent.addCommand(source);
  const ks = new Command("kustomization").alias("ks").argument("<name>").description(`${description}: a Kustomization`);
  parent.addCommand(
    (extra ? extra(ks) : ks).action((n: string, _f, c: Command) => action("Kustomization", n, c).catch(fail)),
  );
  return parent;
}

/**
 * `sluice reconcile`: sets Flux's `reconcile.fluxcd.io/requestedAt` annotation and waits until the
 * control plane reports it handled (status.lastHandledReconcileAt), as `flux reconcile` does.
 */
export function reconcileCommand(): Command {
  return perKind(
    "reconcile",
    "Trigger a reconciliation",
    (kind, name, command) => import("../reconcile.js").then((m) => m.reconcile(kind, name, command)),
    (c) => c.option("--with-source", "reconcile the source first", false),
  );
}

/** `sluice suspend` / `sluice resume`: set or clear `spec.suspend`. */
export function suspendCommands(): Command[] {
  const set = (suspend: boolean) => (kind: Kind, name: string, command: Command) =>
    import("../reconcile.js").then((m) => m.setSuspended(suspend, kind, name, command));
  return [
    perKind("suspend", "Suspend reconciliation", set(true)),
    perKind("resume", "Resume a suspended reconciliation", set(false)),
  ];
}
