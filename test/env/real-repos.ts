import { execFile } from "node:child_process";
import { access, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import type { GitInfo } from "./git-server.js";
import { MissingPrerequisiteError } from "./process.js";

const run = promisify(execFile);

/** The repositories test/env/build-real-repos.sh builds into the cache: podinfo's tree, k8s.io/client-go's versions. */
export type RealRepoName = "podinfo" | "client-go";

/** A real repository served by the test bed's Git server, whose branch `master` a benchmark moves along its history. */
export interface ServedRepo {
  /** Clone URL (the server wants the test bed's credentials). */
  url: string;
  /** Every commit of the cached history, oldest first. */
  commits: string[];
  /** Points `master` at `commit`, as a push would, without a process or a pack. */
  moveTo(commit: string): Promise<void>;
}

/**
 * Serves the cached repository `name` as `<served>.git`, sharing the cache's objects (git clone --shared), with
 * `master` at `commits[start]`: what the served copy gains (refs) never reaches the cache.
 */
export async function serveRealRepo(
  info: GitInfo,
  cacheDir: string,
  name: RealRepoName,
  served: string,
  start: number,
): Promise<ServedRepo> {
  const cached = join(cacheDir, "real-repos", `${name}.git`);
  await access(cached).catch(() => {
    throw new MissingPrerequisiteError(`the ${name} repository at ${cached}`, "bash test/env/build-real-repos.sh");
  });
  const bare = join(info.root, `${served}.git`);
  await run("git", ["clone", "--quiet", "--bare", "--shared", cached, bare]);
  const commits = (await run("git", ["-C", bare, "rev-list", "--reverse", "master"])).stdout.trim().split("\n");
  // A loose ref file wins over packed-refs, so moving the branch is one small write.
  const moveTo = (commit: string) => writeFile(join(bare, "refs", "heads", "master"), `${commit}\n`);
  await moveTo(commits.at(start)!);
  return { url: `${info.baseUrl}/${served}.git`, commits, moveTo };
}
