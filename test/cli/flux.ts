import { execFile } from "node:child_process";
import { access } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import type { Command, Option } from "commander";
import { parseDuration } from "../../src/api/duration.js";
import { cacheDir } from "../../src/runtime/cache-dir.js";

// Flux's own CLI (test/env/build-flux.sh), the oracle for `sluice`'s flags and output.

const run = promisify(execFile);
export const FLUX_VERSION = process.env.SLUICE_FLUX_VERSION ?? "v2.9.5";
const bin = join(cacheDir(), "flux", FLUX_VERSION, "flux");

/** Runs `flux` with the given arguments; it fails naming the build script when the binary is missing. */
export async function flux(
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<{ stdout: string; stderr: string }> {
  await access(bin).catch(() => {
    throw new Error(`${bin} is missing: run \`bash test/env/install.sh\` (it builds flux ${FLUX_VERSION} once)`);
  });
  // No kubeconfig of the machine's: every command compared runs offline (--export, --dry-run, --help).
  return run(bin, args, { cwd: options.cwd, env: { PATH: process.env.PATH, HOME: "/nonexistent", ...options.env } });
}

/** One flag as both CLIs are compared on: its name, one-letter alias, whether it takes a value, its default. */
export interface Flag {
  long: string;
  short?: string;
  takesValue: boolean;
  /** Normalised (see normalDefault); undefined for the zero value. */
  default?: string;
}

// `  -u, --username string   basic authentication username (default "git")`; a bool flag has no type word.
const FLAG_LINE = /^ {2}(?:-(\S), )? *--([a-z0-9-]+)(?: (\S+))?(?: {2,}(.*))?$/;

/** The flags cobra lists in `flux … --help` (the command's own and the ones it inherits), by long name. */
export async function fluxFlags(path: string[]): Promise<Map<string, Flag>> {
  const { stdout } = await flux([...path, "--help"]);
  const flags = new Map<string, Flag>();
  let section = false;
  for (const line of stdout.split("\n")) {
    if (/^(Global )?Flags:$/.test(line)) section = true;
    else if (!line.startsWith(" ")) section = false;
    const match = section ? FLAG_LINE.exec(line) : null;
    if (!match) continue;
    const [, short, long, type, usage = ""] = match;
    const fallback = /\(default (.*)\)$/.exec(usage)?.[1];
    flags.set(`--${long}`, {
      long: `--${long}`,
      ...(short && { short: `-${short}` }),
      takesValue: type !== undefined,
      default: normalDefault(fallback?.replace(/^"(.*)"$/, "$1")),
    });
  }
  flags.delete("--help");
  if (path.length === 0) flags.delete("--version");
  return flags;
}

/**
 * The flags of `sluice <path>` from commander's definitions: the command's own and its parents'
 * (flux's persistent flags), without the root's (compared on their own).
 */
export function sluiceFlags(root: Command, path: string[]): Map<string, Flag> {
  const chain = [root];
  for (const name of path) {
    const next = chain.at(-1)!.commands.find((c) => c.name() === name);
    if (!next) throw new Error(`sluice has no command '${[...path].join(" ")}'`);
    chain.push(next);
  }
  const options = (path.length === 0 ? [root] : chain.slice(1)).flatMap((c) => c.options as readonly Option[]);
  const flags = new Map<string, Flag>();
  for (const option of options) {
    // Hidden flags (deprecated ones kept for old scripts, as flux hides them) are not compared.
    if (!option.long || option.long === "--version" || option.hidden) continue;
    // `--x` with `--no-x` is one pflag boolean, `--x`; `--no-x` alone is pflag's `--no-x` (default false).
    if (option.negate && options.some((o) => o.long === `--${option.long!.slice(5)}`)) continue;
    flags.set(option.long, {
      long: option.long,
      ...(option.short && { short: option.short }),
      takesValue: option.required || option.optional,
      default: normalDefault(option.negate ? undefined : (option.defaultValue as unknown)),
    });
  }
  return flags;
}

/** Defaults as comparable text: durations in milliseconds, lists comma-joined, zero values dropped. */
export function normalDefault(value: unknown): string | undefined {
  if (Array.isArray(value)) return normalDefault(value.join(","));
  if (value === undefined || value === false || value === "" || value === "[]") return undefined;
  const text = String(value).replace(/^\[(.*)\]$/, "$1");
  try {
    return `${parseDuration(text)}ms`;
  } catch {
    return text;
  }
}

/** How a flag both CLIs have differs, one phrase per difference; empty when it does not. */
export function differences(ours: Flag, theirs: Flag): string[] {
  return [
    ...(ours.short !== theirs.short ? [`alias ${ours.short ?? "none"} (flux: ${theirs.short ?? "none"})`] : []),
    ...(ours.takesValue !== theirs.takesValue
      ? [ours.takesValue ? "takes a value (flux: boolean)" : "boolean (flux: takes a value)"]
      : []),
    ...(ours.default !== theirs.default
      ? [`default ${ours.default ?? "none"} (flux: ${theirs.default ?? "none"})`]
      : []),
  ];
}
