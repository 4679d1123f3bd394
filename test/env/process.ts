import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

/** A port that was free on 127.0.0.1 a moment ago (the OS picks it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
      );
    });
  });
}

/** A server process of the test bed, its output captured in `<logDir>/<name>.log`. */
export interface ServerProcess {
  readonly name: string;
  readonly logFile: string;
  readonly child: ChildProcess;
  /** Set once the process has exited (for readiness checks to fail fast). */
  exited(): { code: number | null; signal: NodeJS.Signals | null } | undefined;
  /** SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

export interface StartOptions {
  name: string;
  command: string;
  args: string[];
  logDir: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export function startProcess(options: StartOptions): ServerProcess {
  const logFile = join(options.logDir, `${options.name}.log`);
  const log = createWriteStream(logFile, { flags: "a" });
  const child = spawn(options.command, options.args, {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: false,
  });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exitedPromise = new Promise<void>((resolve) => {
    child.once("exit", (code, signal) => {
      exit = { code, signal };
      resolve();
    });
    child.once("error", (error) => {
      log.write(`\n[testbed] could not start ${options.command}: ${error.message}\n`);
      exit = { code: -1, signal: null };
      resolve();
    });
  });
  return {
    name: options.name,
    logFile,
    child,
    exited: () => exit,
    async stop(graceMs = 5_000) {
      if (!exit) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
        await exitedPromise;
        clearTimeout(timer);
      }
      await new Promise<void>((resolve) => log.end(resolve));
    },
  };
}

/** The last `lines` lines of a log file, for error messages. */
export async function tail(file: string, lines = 20): Promise<string> {
  const text = await readFile(file, "utf8").catch(() => "");
  return text.trimEnd().split("\n").slice(-lines).join("\n");
}

/**
 * Polls `ready` until it answers true. Fails fast if `process` exits, and on timeout; either error
 * names the component and quotes the end of its log.
 */
export async function waitUntilReady(
  what: string,
  ready: () => Promise<boolean>,
  options: { timeoutMs?: number; process?: ServerProcess; intervalMs?: number } = {},
): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  for (;;) {
    const exit = options.process?.exited();
    if (exit && options.process) {
      throw new Error(
        `${what} exited before it was ready (code ${exit.code}, signal ${exit.signal}); end of ${options.process.logFile}:\n${await tail(options.process.logFile)}`,
      );
    }
    if (await ready().catch(() => false)) return;
    if (Date.now() > deadline) {
      const logTail = options.process
        ? `; end of ${options.process.logFile}:\n${await tail(options.process.logFile)}`
        : "";
      throw new Error(`${what} was not ready within ${options.timeoutMs ?? 60_000} ms${logTail}`);
    }
    await sleep(options.intervalMs ?? 100);
  }
}

/** Error for a missing prerequisite: says what is missing and the command that installs it. */
export class MissingPrerequisiteError extends Error {
  constructor(what: string, install: string) {
    super(`test bed: ${what} is missing. Install it with: ${install}`);
    this.name = "MissingPrerequisiteError";
  }
}
