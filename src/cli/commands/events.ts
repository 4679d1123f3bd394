import { Command } from "commander";
import type { EventsFlags } from "../events.js";
import { fail } from "../context.js";
import { stringSlice } from "../pflag.js";

/**
 * `sluice events [--for Kind[/name]]`: `flux events`' table, from the local control plane's event
 * log, merged by time with the cluster Events Flagger records on the Canaries in the listed
 * Kustomizations' inventories (or on `--for Canary/<name>`).
 */
export function eventsCommand(): Command {
  return new Command("events")
    .description(
      "Display Flux-shaped events of the local control plane, and Flagger's events of the Canaries it applied",
    )
    .option("--for <kind[/name]>", "only events of this object, or of every object of the kind (kind in any case)")
    .option("-A, --all-namespaces", "events of all namespaces", false)
    .option(
      "--types <types>",
      "only events of these types, Normal or Warning (repeatable or comma-separated)",
      stringSlice,
    )
    .option("-w, --watch", "after listing, print new events as they come, until --timeout", false)
    .action((flags: EventsFlags, command: Command) =>
      import("../events.js").then((m) => m.printEvents(flags, command)).catch(fail),
    );
}
