import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * Runs `work` with a fresh folder only this process's user may enter (mkdtemp makes it 0700), removed afterwards
 * whether `work` succeeds or throws: it holds a kubeconfig with credentials and values that may hold secrets.
 */
export async function withPrivateDir<T>(work: (dir: string) => Promise<T>, parent = tmpdir()): Promise<T> {
  const dir = await mkdtemp(join(parent, "sluice-helm-"));
  try {
    return await work(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
