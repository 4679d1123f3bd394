import { mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { pino } from "pino";
import { defaultServiceAccountFrom, type Settings } from "../controllers/settings.js";
import type { FluxEvent } from "../notify/events.js";
import { parseRenderLimits } from "../render/limits.js";
import { systemClock } from "../ports/clock.js";
import { startLocal } from "../runtime/local.js";
import { PrometheusMetrics, startMetricsServer } from "../runtime/prometheus.js";
import { statePaths } from "../runtime/state-paths.js";
import { startWebhookServer } from "../runtime/webhook-server.js";
import type { UiServer } from "../ui/server.js";
import { capYoungGeneration } from "../runtime/young-generation.js";
import { globals, readKubeconfig } from "./context.js";
import { labelSelector } from "./label-selector.js";
import { say } from "./output.js";

export interface RunFlags {
  port: string;
  concurrency: string;
  remoteBases: boolean;
  privateNetworks: boolean;
  allowCrossNamespaceReceivers?: boolean;
  crossNamespaceRefs: boolean;
  defaultServiceAccount?: string;
  insecureKubeconfigTls?: boolean;
  renderLimits?: string;
  /** `--metrics-addr`; no metrics without it or with `--no-metrics`. */
  metricsAddr?: string;
  metrics?: boolean;
  /** `--ui-address`: where the web UI listens; "" serves none. */
  uiAddress?: string;
  /** `--watch-configs-label-selector`; unset: Flux's default. */
  watchConfigsLabelSelector?: string;
  logLevel: string;
}

/** `sluice run` (flags in commands/run.ts): starts the control plane and its webhook server, stops on SIGINT/SIGTERM. */
export async function run(flags: RunFlags, command: Command): Promise<void> {
  const watchConfigsSelector = checkedSelector(flags.watchConfigsLabelSelector, "--watch-configs-label-selector");
  const options = globals(command);
  const stateDir = resolve(options.stateDir);
  await mkdir(stateDir, { recursive: true });
  const kubeconfig = await readKubeconfig(options);
  const log = pino(
    { level: flags.logLevel },
    pino.destination({ dest: join(stateDir, "sluice.log"), mkdir: true, sync: false }),
  );
  // Before the fleet's work starts: a long-running process's young generation grows to V8's maximum otherwise.
  capYoungGeneration();
  const listen =
    flags.metrics !== false && flags.metricsAddr !== undefined
      ? parseListenAddress(flags.metricsAddr, "--metrics-addr")
      : undefined;
  const metrics = listen && new PrometheusMetrics({ clock: systemClock, objectState: true });
  const ui = flags.uiAddress ? parseListenAddress(flags.uiAddress, "--ui-address") : undefined;
  const storeChanged = new Set<() => void>();
  say.action(`starting the control plane (state ${options.stateDir}, kubeconfig ${kubeconfig.path})`);
  const plane = await startLocal({
    stateDir,
    kubeconfig: kubeconfig.content,
    context: options.context,
    clock: systemClock,
    log,
    concurrency: Number(flags.concurrency),
    settings: runSettings(flags),
    onEvent: printEvent,
    metrics,
    watchConfigsSelector,
    onStoreChange: () => storeChanged.forEach((listener) => listener()),
  });
  const webhook = await startWebhookServer(plane.runtime, Number(flags.port));
  const scrape = metrics && listen && (await startMetricsServer(metrics, listen.port, listen.host));
  say.success(
    `reconciling; webhook receivers at ${webhook.url}/hook/<sha256(token+name+namespace)>; logs in ${join(options.stateDir, "sluice.log")}`,
  );
  if (scrape) say.success(`Prometheus metrics at ${scrape.url}`);
  let uiServer: UiServer | undefined;
  if (ui) {
    const { startLocalUi } = await import("../ui/local.js");
    // The UI is a convenience: a port already taken (another `sluice run`) is reported, not fatal.
    uiServer = await startLocalUi({
      runtime: plane.runtime,
      eventsFile: statePaths(stateDir).events,
      // `:9294` is every interface only because the operator wrote it so; the default is loopback.
      host: ui.host ?? "0.0.0.0",
      port: ui.port,
      subscribe: (listener) => (storeChanged.add(listener), () => void storeChanged.delete(listener)),
    }).catch((error: Error) => {
      say.failure(`web UI not served (--ui-address ${flags.uiAddress}): ${error.message}`);
      return undefined;
    });
  }
  if (uiServer) say.success(`web UI at ${uiServer.url}`);
  const objects = await plane.runtime.store.list();
  if (objects.length === 0)
    say.waiting(
      "nothing registered yet: `sluice bootstrap git …` or `sluice create …` (another shell, same --state-dir)",
    );

  await new Promise<void>((resolveStop) => {
    const stop = () => resolveStop();
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
  say.action("shutting down: finishing reconciles in flight");
  await webhook.close();
  await scrape?.close();
  await uiServer?.close();
  await plane.stop();
  log.flush();
  say.success("stopped");
}

/** A label selector flag, refused at start (naming the flag) when the API server would refuse it. */
function checkedSelector(value: string | undefined, flag: string): string | undefined {
  try {
    if (value !== undefined) labelSelector(value);
    return value;
  } catch (error) {
    throw new Error(`${flag}: ${(error as Error).message}`, { cause: error });
  }
}

/** The operator settings `sluice run`'s flags choose. */
export function runSettings(flags: RunFlags): Partial<Settings> {
  return {
    noRemoteBases: !flags.remoteBases,
    allowPrivateNetworks: flags.privateNetworks,
    allowCrossNamespaceReceivers: flags.allowCrossNamespaceReceivers ?? false,
    noCrossNamespaceRefs: !flags.crossNamespaceRefs,
    defaultServiceAccount: defaultServiceAccountFrom(flags.defaultServiceAccount, "--default-service-account"),
    insecureKubeConfigTLS: flags.insecureKubeconfigTls ?? false,
    renderLimits: parseRenderLimits(flags.renderLimits, "--render-limits"),
  };
}

/**
 * `host:port` as Flux's `--metrics-addr` takes it: `:8080` is every interface (no host), `[::1]:8080` an IPv6 host.
 * The port may be 0 (any free one).
 */
export function parseListenAddress(value: string, flag: string): { host?: string; port: number } {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(value);
  const port = Number(match?.[3]);
  if (!match || port > 65_535)
    throw new Error(`${flag} '${value}': expected host:port, such as 127.0.0.1:9293, :8080 or [::1]:9293`);
  return { host: match[1] ?? (match[2] || undefined), port };
}

/** Events as progress lines: ✔ for success, ✗ for failure, ► for progress. */
export function printEvent(event: FluxEvent): void {
  const subject = `${event.involvedObject.kind}/${event.involvedObject.namespace}/${event.involvedObject.name}`;
  const mark = event.severity === "error" ? "✗" : event.reason === "Progressing" ? "►" : "✔";
  const [first, ...rest] = event.message.split("\n");
  process.stderr.write(`${mark} ${subject} ${event.reason}: ${first}\n${rest.map((line) => `    ${line}\n`).join("")}`);
}
