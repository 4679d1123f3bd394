import { readFile } from "node:fs/promises";
import { awsClientOptions } from "../aws/clients.js";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { FileStore } from "../store/fs-store.js";
import { statePaths } from "../runtime/state-paths.js";
import { type Store } from "../store/store.js";
import { formatKey, type ObjectKey } from "../api/object-key.js";

/** Options every command accepts (set on the root program, as `flux` has them). */
export interface GlobalOptions {
  stateDir: string;
  kubeconfig?: string;
  context?: string;
  namespace: string;
  timeout: string;
  /** The deployed control plane's state bucket (AWS mode) instead of --state-dir. */
  awsBucket?: string;
  /** Its FIFO queue: objects the CLI writes are enqueued there at once. */
  awsQueueUrl?: string;
}

export function globals(command: Command): GlobalOptions {
  return command.optsWithGlobals<GlobalOptions>();
}

/** Only for tests against an emulator: one endpoint for every AWS service. */
/** AWS client options for the CLI: `region` (a command's `--region`) and `SLUICE_AWS_ENDPOINT` (an emulator) when set. */
export function cliAws(region?: string) {
  return awsClientOptions({ region, endpoint: process.env.SLUICE_AWS_ENDPOINT });
}

/**
 * The Store the CLI works on: the deployed control plane's S3 bucket, or the local `sluice run` state.
 * `region` is a command's own `--region`; without it the SDK's usual sources (AWS_REGION, the profile) decide.
 */
export async function openStore(options: GlobalOptions, region?: string): Promise<Store> {
  if (!options.awsBucket) return new FileStore(statePaths(resolve(options.stateDir)).store);
  const { s3Store } = await import("./aws.js");
  return s3Store(options.awsBucket, cliAws(region));
}

/**
 * Tells the control plane an object changed: on AWS, a reconcile request on the FIFO queue (there
 * is no watcher); locally nothing, since `sluice run` notices Store changes within a second.
 */
export async function announce(options: GlobalOptions, key: ObjectKey): Promise<void> {
  if (!options.awsQueueUrl) return;
  const { enqueue } = await import("./aws.js");
  await enqueue(
    options.awsQueueUrl,
    { key: formatKey(key), reason: "requested", trigger: new Date().toISOString() },
    cliAws(),
  );
}

/** Kubeconfig content from --kubeconfig, $KUBECONFIG (first entry) or ~/.kube/config. */
export async function readKubeconfig(options: GlobalOptions): Promise<{ path: string; content: string }> {
  const path = options.kubeconfig ?? process.env.KUBECONFIG?.split(":")[0] ?? join(homedir(), ".kube", "config");
  try {
    return { path, content: await readFile(path, "utf8") };
  } catch (error) {
    throw new Error(`cannot read kubeconfig ${path}: ${(error as Error).message}`, { cause: error });
  }
}

/** Prints an error the flux way and sets the exit code; for action handlers. */
export function fail(error: unknown, code = 1): void {
  process.stderr.write(`✗ ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = code;
}
