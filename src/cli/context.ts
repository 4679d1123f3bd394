import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { FileStore } from "../store/fs-store.js";
import { statePaths } from "../runtime/local.js";

/** Options every command accepts (set on the root program, as `flux` has them). */
export interface GlobalOptions {
  stateDir: string;
  kubeconfig?: string;
  context?: string;
  namespace: string;
  timeout: string;
}

export function globals(command: Command): GlobalOptions {
  return command.optsWithGlobals<GlobalOptions>();
}

/** The local control plane's Store, as `sluice run` uses it. */
export function openStore(options: GlobalOptions): FileStore {
  return new FileStore(statePaths(resolve(options.stateDir)).store);
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
