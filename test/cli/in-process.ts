import { vi } from "vitest";
import { withPflagBooleans } from "../../src/cli/pflag.js";
import { program } from "../../src/cli/program.js";

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the CLI in this process (the machine is shared: a process per command would cost seconds) with
 * HOME, DOCKER_CONFIG and SSL_CERT_FILE as `env` says (unset when absent), stdout and stderr captured,
 * and the exit code it set; it never throws.
 */
export async function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  const keys = ["HOME", "DOCKER_CONFIG", "SSL_CERT_FILE"];
  const saved = Object.fromEntries(keys.map((k) => [k, process.env[k]]));
  for (const key of keys)
    if (env[key] === undefined) delete process.env[key];
    else process.env[key] = env[key];
  let stdout = "";
  let stderr = "";
  const out = vi.spyOn(process.stdout, "write").mockImplementation((chunk) => ((stdout += String(chunk)), true));
  const err = vi.spyOn(process.stderr, "write").mockImplementation((chunk) => ((stderr += String(chunk)), true));
  process.exitCode = undefined;
  try {
    const root = program();
    await root.parseAsync(withPflagBooleans(root, ["node", "sluice", ...args]));
  } finally {
    out.mockRestore();
    err.mockRestore();
    for (const [key, value] of Object.entries(saved))
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = undefined;
  return { code, stdout, stderr };
}
