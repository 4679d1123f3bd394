import { execFile } from "node:child_process";
import { access, constants } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { Running, RunContext } from "./component.js";
import { MissingPrerequisiteError, freePort, startProcess, waitUntilReady } from "./process.js";

const run = promisify(execFile);

/** How tests reach the AWS emulator (moto): an endpoint for every SDK client; credentials are not checked. */
export interface AwsInfo {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** e.g. "moto 5.2.5" */
  version: string;
}

/** Starts moto's server (S3, SQS incl. FIFO, Secrets Manager, KMS, STS, …) on a loopback port. */
export async function start(ctx: RunContext): Promise<Running<AwsInfo>> {
  const venv = join(ctx.cacheDir, "moto-venv");
  const server = join(venv, "bin", "moto_server");
  const python = join(venv, "bin", "python");
  if (
    !(await access(server, constants.X_OK).then(
      () => true,
      () => false,
    ))
  ) {
    throw new MissingPrerequisiteError(`moto (AWS emulator) at ${server}`, "bash test/env/install-moto.sh");
  }
  const port = await freePort();
  const moto = startProcess({
    name: "moto",
    // moto_server's own entry point, through a wrapper that makes S3's conditional writes atomic (see the script).
    command: python,
    args: [fileURLToPath(new URL("moto-server.py", import.meta.url)), "-H", "127.0.0.1", "-p", String(port)],
    logDir: ctx.logDir,
  });
  const endpoint = `http://127.0.0.1:${port}`;
  try {
    await waitUntilReady("moto", async () => (await fetch(`${endpoint}/moto-api/data.json`)).ok, {
      process: moto,
      timeoutMs: 30_000,
    });
    const { stdout } = await run(python, ["-c", "import moto; print(moto.__version__)"]);
    return {
      info: {
        endpoint,
        region: "us-east-1",
        accessKeyId: "testing",
        secretAccessKey: "testing",
        version: `moto ${stdout.trim()}`,
      },
      stop: () => moto.stop(),
    };
  } catch (error) {
    await moto.stop();
    throw error;
  }
}
