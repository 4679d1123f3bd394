import { resolve } from "node:path";
import { Command } from "commander";
import { readEvents } from "../notify/file-events.js";
import { statePaths } from "../runtime/local.js";
import { fail, globals } from "./context.js";
import { formatTable } from "./output.js";

/** `sluice events [--for Kind/name]`: `flux events`' table, from the local control plane's event log. */
export function eventsCommand(): Command {
  return new Command("events")
    .description("Display Flux-shaped events of the local control plane")
    .option("--for <kind/name>", "only events of this object")
    .option("-A, --all-namespaces", "events of all namespaces", false)
    .action((flags: { for?: string; allNamespaces: boolean }, command: Command) => printEvents(flags, command).catch(fail));
}

async function printEvents(flags: { for?: string; allNamespaces: boolean }, command: Command): Promise<void> {
  const options = globals(command);
  const [kind, name] = flags.for?.split("/", 2) ?? [];
  const events = (await readEvents(statePaths(resolve(options.stateDir)).events)).filter(
    (e) => (flags.allNamespaces || e.involvedObject.namespace === options.namespace) && (!kind || (e.involvedObject.kind === kind && e.involvedObject.name === name)),
  );
  if (events.length === 0) {
    process.stderr.write(`no events found in ${flags.allNamespaces ? "any" : options.namespace} namespace\n`);
    return;
  }
  const now = Date.now();
  const rows = events.map((e) => [ago(now - Date.parse(e.timestamp)), e.severity === "error" ? "Warning" : "Normal", e.reason, `${e.involvedObject.kind}/${e.involvedObject.name}`, e.message.replaceAll("\n", ", ")]);
  process.stdout.write(formatTable([["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"], ...rows]));
}

function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  return `${Math.round(s / 3600)}h`;
}
