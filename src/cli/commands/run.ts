import { Command } from "commander";
import type { RunFlags } from "../run.js";
import { fail } from "../context.js";

/** `sluice run`: the embedded control plane, reconciling continuously until interrupted. */
export function runCommand(): Command {
  return new Command("run")
    .description(
      "Run the local control plane: reconcile registered sources and Kustomizations continuously, serve webhooks",
    )
    .option("--port <port>", "webhook receiver port (POST /hook/<sha256>)", "9292")
    .option("--concurrency <n>", "objects reconciled at once", "4")
    .option("--no-remote-bases", "refuse kustomize remote bases")
    .option(
      "--no-private-networks",
      "refuse sources on loopback and private addresses (link-local and metadata addresses are always refused)",
    )
    .option("--allow-cross-namespace-receivers", "let a Receiver trigger objects outside its own namespace")
    .option(
      "--no-cross-namespace-refs",
      "keep sourceRef, dependsOn and Receiver resources in the object's own namespace (Flux's multi-tenancy lockdown)",
    )
    .option(
      "--default-service-account <name>",
      "service account Kustomizations without serviceAccountName impersonate, in their own namespace",
    )
    .option("--insecure-kubeconfig-tls", "let kubeconfigs from kubeConfig.secretRef skip TLS verification")
    .option(
      "--render-limits <limits>",
      "bounds on one render as key=value,… (timeoutMs, maxFileBytes, maxDocuments, maxOutputBytes, maxAliases, maxMemoryBytes); see README",
    )
    .option(
      "--metrics-addr <host:port>",
      "where GET /metrics serves Prometheus metrics, Flux's names (':8080' listens on every interface, as Flux does)",
      "127.0.0.1:9293",
    )
    .option("--no-metrics", "serve no /metrics endpoint")
    .option(
      "--ui-address <host:port>",
      "where the web UI listens (loopback by default; ':9294' is every interface; '' serves none)",
      "127.0.0.1:9294",
    )
    .option(
      "--watch-configs-label-selector <selector>",
      "ConfigMaps and Secrets whose changes reconcile the Kustomizations and HelmReleases using them at once, as Flux's flag ('' for all) (default: reconcile.fluxcd.io/watch=Enabled)",
    )
    .option("--log-level <level>", "level of the JSON log written to <state-dir>/sluice.log", "info")
    .action((flags: RunFlags, command: Command) => import("../run.js").then((m) => m.run(flags, command)).catch(fail));
}
