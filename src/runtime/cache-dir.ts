import { homedir } from "node:os";
import { join } from "node:path";

/** The per-user cache folder: `$SLUICE_CACHE`, else `$XDG_CACHE_HOME/sluice`, else `~/.cache/sluice`. */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SLUICE_CACHE) return env.SLUICE_CACHE;
  return join(env.XDG_CACHE_HOME || join(homedir(), ".cache"), "sluice");
}
