import { execFile } from "node:child_process";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { parse, stringify } from "yaml";
import type { KubeObject } from "../../src/apply/object.js";
import { cacheDir } from "../../src/runtime/cache-dir.js";

// The real `sops` and `age-keygen` (test/env/build-sops.sh), to encrypt fixtures the way users do.

const run = promisify(execFile);
const bin = (name: string) => join(cacheDir(), "sops", process.env.SLUICE_SOPS_VERSION ?? "v3.13.3", name);

/** A fresh age key pair: the identity (`AGE-SECRET-KEY-1…`) and its recipient (`age1…`). */
export async function ageKey(): Promise<{ identity: string; recipient: string }> {
  const { stdout } = await run(bin("age-keygen"), []);
  return {
    identity: stdout.split("\n").find((l) => l.startsWith("AGE-SECRET-KEY-"))!,
    recipient: /public key: (age1\S+)/.exec(stdout)![1]!,
  };
}

/** `sops --encrypt` of an object as YAML, with the given flags (e.g. `--age`, `--encrypted-regex`). */
export async function sopsEncrypt(object: unknown, args: string[], env: NodeJS.ProcessEnv = {}): Promise<KubeObject> {
  const dir = await mkdtemp(join(tmpdir(), "sluice-sops-"));
  const file = join(dir, "plain.yaml");
  await writeFile(file, stringify(object));
  const { stdout } = await run(
    bin("sops"),
    ["--encrypt", ...args, "--input-type", "yaml", "--output-type", "yaml", file],
    { env: { ...process.env, ...env } },
  );
  return parse(stdout) as KubeObject;
}

export async function sopsVersion(): Promise<string> {
  return (await readFile(bin("sops")).then(() => run(bin("sops"), ["--version", "--disable-version-check"]))).stdout
    .split("\n")[0]!
    .trim();
}
