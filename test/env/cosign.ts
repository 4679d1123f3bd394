import { execFile } from "node:child_process";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { cacheDir } from "../../src/runtime/cache-dir.js";

// The real `cosign` (test/env/build-cosign.sh, the version source-controller v1.9.4 pins), to sign
// test artifacts the way users do: a key pair from `cosign generate-key-pair`, signatures pushed to
// the test bed's registry with no transparency log and no network.

const run = promisify(execFile);
const bin = join(cacheDir(), "cosign", process.env.SLUICE_COSIGN_VERSION ?? "v3.0.6", "cosign");
const PASSWORD = "sluice-test";

export interface CosignKeyPair {
  /** The encrypted private key file cosign wrote. */
  keyFile: string;
  /** The public key, PEM, as `cosign.pub` holds it. */
  publicKey: string;
}

/** `cosign generate-key-pair`: an ECDSA P-256 key pair, the private key encrypted with a password. */
export async function cosignKeyPair(): Promise<CosignKeyPair> {
  const dir = await mkdtemp(join(tmpdir(), "sluice-cosign-"));
  await run(bin, ["generate-key-pair"], { cwd: dir, env: cosignEnv(dir) });
  return { keyFile: join(dir, "cosign.key"), publicKey: await readFile(join(dir, "cosign.pub"), "utf8") };
}

/** `cosign import-key-pair` of a PKCS#8 private key (RSA, ECDSA or Ed25519), as users bring their own keys. */
export async function cosignImportKeyPair(privateKeyPem: string): Promise<CosignKeyPair> {
  const dir = await mkdtemp(join(tmpdir(), "sluice-cosign-"));
  await writeFile(join(dir, "own.pem"), privateKeyPem);
  await run(bin, ["import-key-pair", "--key", "own.pem", "--output-key-prefix", "imported"], {
    cwd: dir,
    env: cosignEnv(dir),
  });
  return { keyFile: join(dir, "imported.key"), publicKey: await readFile(join(dir, "imported.pub"), "utf8") };
}

/**
 * `cosign sign` of `image` (`<host>/<repo>@sha256:…`) in a plain-HTTP registry: as a Sigstore bundle
 * attached as a referrer (cosign v3's default), or with `legacy` as cosign v2 did, a `sha256-<hex>.sig` tag.
 */
export async function cosignSign(keys: CosignKeyPair, image: string, options: { legacy?: boolean } = {}) {
  const dir = await mkdtemp(join(tmpdir(), "sluice-cosign-"));
  const args = [
    "sign",
    "--yes",
    "--key",
    keys.keyFile,
    "--tlog-upload=false",
    "--use-signing-config=false",
    `--new-bundle-format=${!options.legacy}`,
    "--allow-http-registry",
    image,
  ];
  await run(bin, args, { env: cosignEnv(dir) });
}

/** `cosign verify` with the public key, no transparency log: what the reference implementation accepts. */
export async function cosignVerify(keys: CosignKeyPair, image: string): Promise<boolean> {
  const dir = await mkdtemp(join(tmpdir(), "sluice-cosign-"));
  const pub = join(dir, "cosign.pub");
  await writeFile(pub, keys.publicKey);
  return run(bin, ["verify", "--key", pub, "--insecure-ignore-tlog", "--allow-http-registry", image], {
    env: cosignEnv(dir),
  }).then(
    () => true,
    () => false,
  );
}

/** No TUF, no network: cosign's home and caches in a scratch folder, the key's password given. */
function cosignEnv(dir: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: dir,
    TUF_ROOT: join(dir, "tuf"),
    COSIGN_PASSWORD: PASSWORD,
    COSIGN_YES: "true",
    SIGSTORE_NO_CACHE: "true",
  };
}
